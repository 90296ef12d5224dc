/** Icons of the capture features (sessions, record, HAR, replay, compare, trace), in the style of ui.tsx's. */
import type { ReactNode } from 'react';
import { svg as icon } from './ui.js';

const svg = (path: ReactNode, size = 15) => icon(path, size);

export const CaptureIcons = {
  sessions: () =>
    svg(
      <>
        <rect x="3" y="4" width="18" height="5" rx="1.5" />
        <rect x="3" y="11" width="18" height="5" rx="1.5" />
        <path d="M3 20h18" />
      </>
    ),
  record: () => svg(<circle cx="12" cy="12" r="6" fill="currentColor" stroke="none" />),
  stop: () => svg(<rect x="6" y="6" width="12" height="12" rx="1.5" fill="currentColor" stroke="none" />),
  download: () => svg(<path d="M12 4v11M7 10l5 5 5-5M5 20h14" />),
  upload: () => svg(<path d="M12 20V9M7 14l5-5 5 5M5 4h14" />),
  replay: () =>
    svg(
      <>
        <path d="M4 12a8 8 0 1 0 2.3-5.7" />
        <path d="M4 4v4h4" />
      </>
    ),
  edit: () => svg(<path d="M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4" />),
  compare: () => svg(<path d="M8 4v16M16 4v16M4 8h4M16 16h4M4 16h4M16 8h4" />),
  waterfall: () => svg(<path d="M4 6h8M7 11h9M10 16h10M4 20h16" />),
  lock: () =>
    svg(
      <>
        <rect x="5" y="11" width="14" height="10" rx="2" />
        <path d="M8 11V7a4 4 0 0 1 8 0v4" />
      </>,
      12
    ),
  up: () => svg(<path d="M12 19V5M6 11l6-6 6 6" />, 14)
};
