/** Time windows and metric series as the Graph and Metrics views show them (pure; unit-tested). */
import type { MetricsSeries } from '../../../main/contract/api.js';

/** The windows the views offer, in seconds. */
export const WINDOWS: readonly { sec: number; label: string; long: string }[] = [
  { sec: 60, label: '1m', long: 'minute' },
  { sec: 300, label: '5m', long: '5 minutes' },
  { sec: 900, label: '15m', long: '15 minutes' },
  { sec: 3600, label: '1h', long: 'hour' }
];

export const DEFAULT_GRAPH_WINDOW = 300;
export const DEFAULT_METRICS_WINDOW = 900;

/** "the last 5 minutes", "the last minute". */
export function windowText(sec: number): string {
  const w = WINDOWS.find((x) => x.sec === sec);
  if (w) return `the last ${w.long}`;
  if (sec % 3600 === 0) return `the last ${sec / 3600} hours`;
  if (sec % 60 === 0) return `the last ${sec / 60} minutes`;
  return `the last ${sec} seconds`;
}

/** Bucket width for a window: about 60 points per chart, never below 2 s. */
export function stepFor(windowSec: number): number {
  const nice = [2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const want = windowSec / 60;
  return nice.find((s) => s >= want) ?? 3600;
}

/** Columns for uPlot: x in seconds since the epoch, then the series (null where a bucket had no requests). */
export interface ChartColumns {
  t: number[];
  rps: number[];
  /** Error rate in percent (0–100); null in empty buckets. */
  errors: (number | null)[];
  p50: (number | null)[];
  p90: (number | null)[];
  p99: (number | null)[];
}

export function chartColumns(series: MetricsSeries): ChartColumns {
  const out: ChartColumns = { t: [], rps: [], errors: [], p50: [], p90: [], p99: [] };
  const points = [...series.points].sort((a, b) => Date.parse(a.t) - Date.parse(b.t));
  for (const p of points) {
    const t = Date.parse(p.t);
    if (Number.isNaN(t)) continue;
    out.t.push(t / 1000);
    out.rps.push(p.rps);
    out.errors.push(p.requests > 0 ? p.errorRate * 100 : null);
    out.p50.push(p.p50Ms);
    out.p90.push(p.p90Ms);
    out.p99.push(p.p99Ms);
  }
  return out;
}

export interface MetricsSummary {
  requests: number;
  /** Requests over the whole window / its length. */
  rps: number;
  /** Share of errors over all requests of the window (0..1). */
  errorRate: number;
  /** Highest p99 of a bucket in the window; null without requests. */
  maxP99Ms: number | null;
  /** Buckets with at least one request. */
  busyPoints: number;
}

export function summarize(series: MetricsSeries): MetricsSummary {
  let requests = 0;
  let errors = 0;
  let maxP99: number | null = null;
  let busy = 0;
  for (const p of series.points) {
    requests += p.requests;
    errors += p.requests * p.errorRate;
    if (p.requests > 0) busy++;
    if (p.p99Ms !== null && (maxP99 === null || p.p99Ms > maxP99)) maxP99 = p.p99Ms;
  }
  const span = series.points.length > 0 ? series.points.length * series.stepSec : series.windowSec;
  return {
    requests,
    rps: span > 0 ? requests / span : 0,
    errorRate: requests > 0 ? errors / requests : 0,
    maxP99Ms: maxP99,
    busyPoints: busy
  };
}

/** "#2563d9" → "rgba(37, 99, 217, 0.14)"; other colour syntaxes get no wash. */
export function withAlpha(colour: string, alpha: number): string | undefined {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour);
  if (!m) return undefined;
  return `rgba(${parseInt(m[1]!, 16)}, ${parseInt(m[2]!, 16)}, ${parseInt(m[3]!, 16)}, ${alpha})`;
}

/** Indices of values with no neighbour (empty buckets on both sides): a line cannot show them, a dot can. */
export function isolated(values: readonly (number | null | undefined)[]): number[] {
  const out: number[] = [];
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const prev = i > 0 ? values[i - 1] : null;
    const next = i < values.length - 1 ? values[i + 1] : null;
    if ((prev === null || prev === undefined) && (next === null || next === undefined)) out.push(i);
  });
  return out;
}

/**
 * Labels for a chart's y-axis ticks, with as many decimals as their spacing needs (up to 6), so that the ticks of a
 * quiet service read 0.02, 0.04, 0.06 rather than "<0.1" each; `unit` is appended ("%").
 */
export function tickLabels(splits: readonly number[], unit = ''): string[] {
  const exact = (d: number): boolean =>
    splits.every((s) => Math.abs(Number(s.toFixed(d)) - s) <= 1e-9 * Math.max(1, Math.abs(s)));
  let decimals = 0;
  while (decimals < 6 && !exact(decimals)) decimals++;
  return splits.map((s) => `${Number(s.toFixed(decimals))}${unit}`);
}

const pad2 = (n: number): string => String(n).padStart(2, '0');
const localDay = (d: Date): string => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;

/**
 * Labels for a chart's time axis (`splits` in seconds since the epoch, local time): "14:05", with seconds when the
 * ticks are less than a minute apart ("14:05:30"). The date ("2026-11-25", on a second line) only when the window
 * crosses midnight: on the first tick, and on the first one of each next day. The hover legend has the whole date
 * (timeValue).
 */
export function timeTickLabels(splits: readonly number[], incrSec: number): string[] {
  const dates = splits.map((s) => new Date(s * 1000));
  const days = dates.map(localDay);
  const crosses = days.some((d) => d !== days[0]);
  return dates.map((d, i) => {
    const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}${incrSec < 60 ? `:${pad2(d.getSeconds())}` : ''}`;
    return crosses && (i === 0 || days[i] !== days[i - 1]) ? `${time}\n${days[i]}` : time;
  });
}

/** A time of a chart (seconds since the epoch) in the hover legend: "2026-11-25 14:05:30", local time. */
export function timeValue(sec: number): string {
  const d = new Date(sec * 1000);
  return `${localDay(d)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
