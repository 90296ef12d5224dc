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
