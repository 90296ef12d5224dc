/** Small formatting helpers shared by the views (pure; unit-tested). */

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'none';

export function statusClass(status: number): StatusClass {
  if (status >= 100 && status < 200) return '1xx';
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 300 && status < 400) return '3xx';
  if (status >= 400 && status < 500) return '4xx';
  if (status >= 500 && status < 600) return '5xx';
  return 'none';
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** "14:03:07.123" in local time; the raw string when it does not parse. */
export function formatClock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** "2026-11-25 14:03:07.123" in local time (the date, then formatClock's time); the raw string when it does not parse. */
export function formatDateClock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(iso)}`;
}

/**
 * The Started cell's tooltip: when the request started and, once it did, ended, both in local time as the cell shows
 * them (the start with its date).
 */
export function startedTitle(startedAt: string, durationMs: number, pending: boolean): string {
  const start = Date.parse(startedAt);
  if (pending || Number.isNaN(start) || !Number.isFinite(durationMs))
    return `Started ${formatDateClock(startedAt)}${pending ? ', still in flight' : ''}`;
  return `Started ${formatDateClock(startedAt)}, ended ${formatClock(new Date(start + durationMs).toISOString())} (${formatDuration(durationMs)})`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatRate(perSecond: number): string {
  if (perSecond === 0) return '0';
  if (perSecond < 0.1) return '<0.1';
  if (perSecond < 10) return perSecond.toFixed(1);
  return String(Math.round(perSecond));
}

export function formatPercent(fraction: number): string {
  if (fraction === 0) return '0%';
  const p = fraction * 100;
  if (p < 1) return '<1%';
  return `${p < 10 ? p.toFixed(1) : Math.round(p)}%`;
}

/** "reviews" from "reviews.default.svc.cluster.local"; raw authorities ("example.com:443") stay as they are. */
export function shortService(fqdn: string | null): string | null {
  if (fqdn === null) return null;
  const m = /^([^.]+)\.[^.]+\.svc\.cluster\.local$/.exec(fqdn);
  return m ? m[1]! : fqdn;
}

/** Envoy flags of a flow as a list ("-" means none). */
export function flagList(flags: string): string[] {
  if (flags === '' || flags === '-') return [];
  return flags
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
}

/**
 * "in 3 h", "12 min ago", "in 2 days", "just now": a coarse relative time for certificate validity and rotation.
 * Rounds down, so "in 11 h" stays true for the whole hour.
 */
export function formatRelative(targetMs: number, nowMs: number): string {
  if (!Number.isFinite(targetMs)) return '–';
  const diff = targetMs - nowMs;
  const abs = Math.abs(diff);
  let text: string;
  if (abs < 45_000) return 'just now';
  if (abs < 3_600_000) text = `${Math.max(1, Math.floor(abs / 60_000))} min`;
  else if (abs < 48 * 3_600_000) {
    const h = Math.floor(abs / 3_600_000);
    const m = Math.floor((abs % 3_600_000) / 60_000);
    text = h < 10 && m > 0 ? `${h} h ${m} min` : `${h} h`;
  } else if (abs < 730 * 86_400_000) text = `${Math.floor(abs / 86_400_000)} days`;
  else text = `${Math.round(abs / (365.25 * 86_400_000))} years`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

/** "2025-03-14 09:26" in local time; the raw string when it does not parse. */
export function formatDateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * The status bar's request count: the engine's store (`stored`, every session) when it is known, else the flows
 * loaded into this window, said as such (the store may hold more). "Requests" as the Traffic list counts them (one
 * per reporting sidecar).
 */
export function flowCountLabel(stored: number | null, loaded: number): { text: string; title: string } {
  const n = (x: number): string => `${x.toLocaleString()} request${x === 1 ? '' : 's'}`;
  if (stored !== null) {
    return {
      text: `${n(stored)} stored`,
      title: `In the engine's store, all sessions (imported HAR files included); ${loaded.toLocaleString()} loaded in this window`
    };
  }
  return {
    text: `${loaded.toLocaleString()} loaded`,
    title: `${n(loaded)} loaded in this window; the engine's store may hold more (Traffic: load older)`
  };
}
