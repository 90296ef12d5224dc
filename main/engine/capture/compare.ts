/**
 * Side-by-side comparison of two flows (fields, headers, line diffs of the bodies) and of two capture sessions
 * (calls grouped by caller, service, method and path: added, missing, changed).
 */
import { diffLines } from 'diff';
import type {
  BodyDiff,
  BodyView,
  CallStats,
  FieldChange,
  FlowComparison,
  FlowRecord,
  SessionComparison,
  SessionView
} from '../../contract/api.js';
import { byCodePoint, percentile, serviceOf, sortedNumbers, UNKNOWN_CALLER } from './aggregate.js';

/** Fields compared between two flows, each as display text (null when unset). */
const FIELDS: [string, (f: FlowRecord) => string | null][] = [
  ['method', (f) => f.method],
  ['path', (f) => f.path],
  ['authority', (f) => f.authority],
  ['status', (f) => String(f.status)],
  ['flags', (f) => f.flags],
  ['durationMs', (f) => f.durationMs.toFixed(1)],
  ['virtualService', (f) => f.virtualService],
  ['rule', (f) => f.rule],
  ['subset', (f) => f.subset],
  ['endpoint', (f) => f.endpoint],
  ['destination', (f) => f.destination],
  ['attempts', (f) => String(f.attempts)],
  ['configVersion', (f) => String(f.configVersion)]
];

/** Line diffs longer than this many edits are shown as "all of a removed, all of b added". */
const MAX_EDIT_LENGTH = 1000;

/** The differences between two flows ("a" first): changed fields, header changes and body line diffs. */
export function compareFlows(a: FlowRecord, b: FlowRecord): FlowComparison {
  const changes = FIELDS.flatMap(([field, get]) => (get(a) === get(b) ? [] : [{ field, a: get(a), b: get(b) }]));
  return {
    a,
    b,
    changes,
    requestHeaders: headerChanges(a.requestHeaders, b.requestHeaders),
    responseHeaders: headerChanges(a.responseHeaders, b.responseHeaders),
    requestBody: bodyDiff(a.requestBody ?? null, b.requestBody ?? null),
    responseBody: bodyDiff(a.responseBody ?? null, b.responseBody ?? null)
  };
}

/** Headers by lower-cased name, multiple values (and names differing in case) joined with ", ". */
function normalizeHeaders(h: Record<string, string | string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, v] of Object.entries(h)) {
    const key = name.toLowerCase();
    const value = Array.isArray(v) ? v.join(', ') : v;
    const prev = out.get(key);
    out.set(key, prev === undefined ? value : `${prev}, ${value}`);
  }
  return out;
}

/** Headers whose value differs (or that only one side has), sorted by name. */
export function headerChanges(
  a: Record<string, string | string[]>,
  b: Record<string, string | string[]>
): FieldChange[] {
  const na = normalizeHeaders(a);
  const nb = normalizeHeaders(b);
  const names = [...new Set([...na.keys(), ...nb.keys()])].sort();
  return names
    .filter((n) => na.get(n) !== nb.get(n))
    .map((n) => ({ field: n, a: na.get(n) ?? null, b: nb.get(n) ?? null }));
}

/** Line diff of two bodies; binary (base64) bodies are compared by bytes only (no lines). */
export function bodyDiff(a: BodyView | null, b: BodyView | null): BodyDiff {
  const same = (a?.encoding ?? null) === (b?.encoding ?? null) && (a?.data ?? null) === (b?.data ?? null);
  if (a?.encoding === 'base64' || b?.encoding === 'base64') return { same, lines: [] };
  return { same, lines: lineDiff(a?.data ?? '', b?.data ?? '') };
}

/** One entry per line: '=' in both, '-' only in a, '+' only in b. */
function lineDiff(a: string, b: string): BodyDiff['lines'] {
  const changes = diffLines(a, b, { maxEditLength: MAX_EDIT_LENGTH }) ?? [
    { value: a, removed: true, added: false },
    { value: b, removed: false, added: true }
  ];
  return changes.flatMap((c) =>
    splitLines(c.value).map((text) => ({
      op: c.added ? ('+' as const) : c.removed ? ('-' as const) : ('=' as const),
      text
    }))
  );
}

/** Lines of a chunk (a final newline ends the last line rather than starting an empty one). */
function splitLines(s: string): string[] {
  if (s === '') return [];
  const lines = s.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Who made a call, or undefined for the server half of a call whose client sidecar reported it. */
function callerOf(f: FlowRecord): string | undefined {
  if (f.reporter === 'source') return f.source ?? UNKNOWN_CALLER;
  return f.source === null ? UNKNOWN_CALLER : undefined;
}

/**
 * The calls of a set of flows grouped by "caller → service METHOD path" (path without query), sorted by key:
 * source-reporter flows, and destination-reporter flows of callers without sidecar (caller "unknown").
 */
export function callStats(flows: readonly FlowRecord[]): CallStats[] {
  const groups = new Map<
    string,
    { caller: string; service: string; method: string; path: string; flows: FlowRecord[] }
  >();
  for (const f of flows) {
    const caller = callerOf(f);
    if (caller === undefined) continue;
    const service = serviceOf(f);
    const p = f.path.split('?')[0]!;
    const key = `${caller} → ${service} ${f.method} ${p}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { caller, service, method: f.method, path: p, flows: [] }));
    g.flows.push(f);
  }
  return [...groups].sort(([x], [y]) => byCodePoint(x, y)).map(([key, g]) => statsOf(key, g));
}

function statsOf(
  key: string,
  g: { caller: string; service: string; method: string; path: string; flows: FlowRecord[] }
): CallStats {
  const statuses: Record<string, number> = {};
  for (const f of g.flows) statuses[String(f.status)] = (statuses[String(f.status)] ?? 0) + 1;
  const sorted = sortedNumbers(g.flows.map((f) => f.durationMs));
  return {
    key,
    caller: g.caller,
    service: g.service,
    method: g.method,
    path: g.path,
    count: g.flows.length,
    statuses,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99)
  };
}

/** Share of each status in whole percent: sessions of different lengths compare by their status mix. */
function statusMix(s: CallStats): string {
  return Object.keys(s.statuses)
    .sort()
    .map((code) => `${code}:${Math.round((100 * s.statuses[code]!) / s.count)}`)
    .join(',');
}

/** Did a call's latency change: |Δp50| of at least 5 ms and at least half of a's p50? */
function latencyChanged(a: CallStats, b: CallStats): boolean {
  return Math.abs(b.p50Ms - a.p50Ms) >= Math.max(5, 0.5 * a.p50Ms);
}

/**
 * Calls added in b, missing from b, and changed: a different status mix (the share of each status code, in whole
 * percent, so longer sessions of the same traffic compare equal) or a p50 latency change (see `latencyChanged`).
 */
export function compareSessions(
  a: SessionView,
  aFlows: readonly FlowRecord[],
  b: SessionView,
  bFlows: readonly FlowRecord[]
): SessionComparison {
  const sa = new Map(callStats(aFlows).map((s) => [s.key, s]));
  const sb = new Map(callStats(bFlows).map((s) => [s.key, s]));
  const out: SessionComparison = { a, b, added: [], missing: [], changed: [], unchanged: 0 };
  for (const [key, x] of sa) if (!sb.has(key)) out.missing.push(x);
  for (const [key, y] of sb) {
    const x = sa.get(key);
    if (!x) {
      out.added.push(y);
      continue;
    }
    const statusChanged = statusMix(x) !== statusMix(y);
    if (statusChanged || latencyChanged(x, y))
      out.changed.push({ key, a: x, b: y, statusChanged, p50DeltaMs: Math.round((y.p50Ms - x.p50Ms) * 1000) / 1000 });
    else out.unchanged++;
  }
  return out;
}
