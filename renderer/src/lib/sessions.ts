/** How capture sessions read in the UI: a title, the kind in words, the time span. Pure; unit-tested. */
import type { SessionView } from '../../../main/contract/api.js';
import { formatClock, formatDateTime } from './format.js';

/** The label, or "Run <start>" for a session without one. */
export function sessionTitle(s: SessionView): string {
  if (s.label !== null && s.label.trim() !== '') return s.label;
  return `Run ${formatDateTime(s.startedAt)}`;
}

export const KIND_TEXT: Record<SessionView['kind'], string> = {
  up: 'localmesh up',
  user: 'recording',
  import: 'imported HAR'
};

/** "2026-01-01 10:00 – 10:05", "… – now" while it runs, the end's date too when it ends on another day. */
export function sessionSpan(s: SessionView): string {
  const start = formatDateTime(s.startedAt);
  if (s.endedAt === null) return `${start} – now`;
  const end = formatDateTime(s.endedAt);
  const sameDay = start.slice(0, 10) === end.slice(0, 10);
  return `${start} – ${sameDay ? end.slice(11) : end}`;
}

/** The session's span in words for a screen reader / tooltip, with seconds. */
export function sessionSpanLong(s: SessionView): string {
  return `started ${formatDateTime(s.startedAt)} (${formatClock(s.startedAt)})${
    s.endedAt ? `, ended ${formatDateTime(s.endedAt)} (${formatClock(s.endedAt)})` : ', still recording'
  }`;
}

/** The user recording that is running, if any. */
export function activeRecording(sessions: SessionView[]): SessionView | null {
  return sessions.find((s) => s.current && s.kind === 'user') ?? null;
}
