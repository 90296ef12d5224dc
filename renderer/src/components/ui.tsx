/** Small shared pieces: inline errors, badges, empty states, icons. */
import type { ReactNode } from 'react';
import type { ErrorInfo } from '../lib/errors.js';

export function ErrorText({
  error,
  testId,
  className
}: {
  error: ErrorInfo | null | undefined;
  testId?: string;
  className?: string;
}) {
  if (!error) return null;
  return (
    <div className={`error-text ${className ?? ''}`} role="alert" data-testid={testId} data-code={error.code}>
      <code className="error-code">{error.code}</code> <span>{error.message}</span>
    </div>
  );
}

export function Empty({
  title,
  children,
  testId,
  icon
}: {
  title: string;
  children?: ReactNode;
  testId?: string;
  icon?: ReactNode;
}) {
  return (
    <div className="empty" data-testid={testId}>
      {icon && (
        <div className="empty-icon" aria-hidden="true">
          {icon}
        </div>
      )}
      <h2 className="empty-title">{title}</h2>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

export function Loading({ label }: { label: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label}
    </div>
  );
}

/** An icon: a 24×24 stroked path in the current colour (decorative: hidden from screen readers). */
export const svg = (path: ReactNode, size = 18) => (
  <svg
    width={size}
    height={size}
    viewBox="0 0 24 24"
    fill="none"
    stroke="currentColor"
    strokeWidth="1.8"
    strokeLinecap="round"
    strokeLinejoin="round"
    aria-hidden="true"
  >
    {path}
  </svg>
);

export const Icons = {
  services: () =>
    svg(
      <>
        <rect x="3" y="3" width="7" height="7" rx="1.5" />
        <rect x="14" y="3" width="7" height="7" rx="1.5" />
        <rect x="3" y="14" width="7" height="7" rx="1.5" />
        <rect x="14" y="14" width="7" height="7" rx="1.5" />
      </>
    ),
  rules: () =>
    svg(
      <>
        <path d="M14 3H6a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z" />
        <path d="M14 3v6h6" />
        <path d="M9 13h6M9 17h4" />
      </>
    ),
  traffic: () =>
    svg(
      <>
        <path d="M4 7h13l-3-3" />
        <path d="M20 17H7l3 3" />
      </>
    ),
  sun: () =>
    svg(
      <>
        <circle cx="12" cy="12" r="4" />
        <path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4" />
      </>
    ),
  moon: () => svg(<path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z" />),
  close: () => svg(<path d="M6 6l12 12M18 6L6 18" />, 16),
  search: () =>
    svg(
      <>
        <circle cx="11" cy="11" r="7" />
        <path d="M20 20l-3.5-3.5" />
      </>,
      15
    ),
  pause: () => svg(<path d="M9 5v14M15 5v14" />, 15),
  play: () => svg(<path d="M7 5l12 7-12 7z" />, 15),
  trash: () => svg(<path d="M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13" />, 15),
  bolt: () => svg(<path d="M13 2L4 14h7l-1 8 9-12h-7z" />, 15),
  split: () => svg(<path d="M4 12h6l6-6h4M10 12l6 6h4" />, 15),
  clock: () =>
    svg(
      <>
        <circle cx="12" cy="12" r="9" />
        <path d="M12 7v5l3 2" />
      </>,
      15
    ),
  lock: (size = 13) =>
    svg(
      <>
        <rect x="5" y="11" width="14" height="10" rx="2" />
        <path d="M8 11V7a4 4 0 0 1 8 0v4" />
      </>,
      size
    ),
  unlock: (size = 13) =>
    svg(
      <>
        <rect x="5" y="11" width="14" height="10" rx="2" />
        <path d="M8 11V7a4 4 0 0 1 7.7-1.5" />
      </>,
      size
    ),
  shield: () =>
    svg(
      <>
        <path d="M12 3l8 3v6c0 4.5-3.4 8.3-8 9-4.6-.7-8-4.5-8-9V6z" />
        <path d="M8.5 12l2.5 2.5 4.5-5" />
      </>
    ),
  graph: () =>
    svg(
      <>
        <circle cx="5" cy="12" r="2.5" />
        <circle cx="19" cy="5" r="2.5" />
        <circle cx="19" cy="19" r="2.5" />
        <path d="M7.4 11l9.2-5M7.4 13l9.2 5" />
      </>
    ),
  chart: () => svg(<path d="M4 4v16h16M7 15l4-5 3 3 5-7" />),
  chevron: (open: boolean) => svg(<path d={open ? 'M6 9l6 6 6-6' : 'M9 6l6 6-6 6'} />, 14),
  mesh: () =>
    svg(
      <>
        <circle cx="5" cy="6" r="2.2" />
        <circle cx="19" cy="6" r="2.2" />
        <circle cx="12" cy="18" r="2.2" />
        <path d="M7 6.5h10M6.2 8l4.7 8M17.8 8l-4.7 8" />
      </>,
      22
    )
};

/** The lock (mutual TLS) or open lock (plaintext) of one hop; nothing when the flow does not say. */
export function ConnIcon({ security, testId }: { security: 'mutual_tls' | 'none' | undefined; testId?: string }) {
  if (security === undefined) return null;
  const mtls = security === 'mutual_tls';
  const label = mtls ? 'mutual TLS between the sidecars' : 'plaintext (no mutual TLS)';
  return (
    <span
      className={`conn-icon ${mtls ? 'conn-mtls' : 'conn-plain'}`}
      data-testid={testId}
      data-security={security}
      title={label}
      role="img"
      aria-label={label}
    >
      {mtls ? Icons.lock() : Icons.unlock()}
    </span>
  );
}
