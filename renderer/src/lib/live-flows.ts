/**
 * Requests in flight and the order of the Traffic list. Pure; unit-tested.
 *
 * A sidecar announces a request as it starts (`flow-start`); the Traffic list shows it at once as a pending row, a
 * placeholder FlowRecord built here, which the finished `flow` with the same id replaces in place. The list is in
 * start order (as HTTP Toolkit lists requests): a row appears where its request started and stays there, and the
 * Time column (when each request started) reads in order. The store pages by when flows were recorded (finished),
 * so a page loaded from further back may put rows among the ones shown, where a long request spanned them.
 */
import type { FlowRecord, FlowStart } from '../../../main/contract/api.js';
import { matchesFilter, type FlowFilters } from './flow-query.js';

/** A row of the Traffic list: a finished flow, or a request still in flight (`pending`). */
export type ListedFlow = FlowRecord & { pending?: true };

/** The placeholder row of a request in flight: no status, no flags, its duration still running. */
export function pendingRecord(s: FlowStart): ListedFlow {
  return {
    id: s.id,
    requestId: s.requestId,
    reporter: s.reporter,
    source: s.source,
    destination: s.destination,
    destinationService: s.destinationService,
    method: s.method,
    authority: s.authority,
    path: s.path,
    status: 0,
    flags: '-',
    durationMs: Number.NaN,
    startedAt: s.startedAt,
    virtualService: null,
    rule: null,
    subset: null,
    endpoint: null,
    attempts: 0,
    attemptLog: [],
    localReply: null,
    trace: [],
    configVersion: 0,
    requestHeaders: s.requestHeaders ?? {},
    responseHeaders: {},
    replayOf: s.replayOf ?? null,
    pending: true
  };
}

export function isPending(f: FlowRecord): boolean {
  return (f as ListedFlow).pending === true;
}

/** Start times compare as text when both are ISO UTC with milliseconds (the engine's), else as dates. */
function startCompare(a: string, b: string): number {
  if (a.length === 24 && b.length === 24 && a.endsWith('Z') && b.endsWith('Z')) return a < b ? -1 : a > b ? 1 : 0;
  const x = Date.parse(a);
  const y = Date.parse(b);
  return (Number.isNaN(x) ? 0 : x) - (Number.isNaN(y) ? 0 : y);
}

/** Earliest start first; requests that started in the same millisecond keep their order (sort is stable). */
export function byStart(a: FlowRecord, b: FlowRecord): number {
  return startCompare(a.startedAt, b.startedAt);
}

/** The list in start order: itself when it already is (the usual case, checked in one pass), else a sorted copy. */
export function inStartOrder<T extends FlowRecord>(list: T[]): T[] {
  for (let i = 1; i < list.length; i++) {
    if (byStart(list[i - 1]!, list[i]!) > 0) return [...list].sort(byStart);
  }
  return list;
}

/**
 * `fresh` added to `list` (in start order): a copy in start order. The usual live batch starts after the last row and
 * is only appended; a request that started earlier is merged in where it started.
 */
export function addInStartOrder<T extends FlowRecord>(list: T[], fresh: T[]): T[] {
  const add = inStartOrder(fresh);
  const last = list.at(-1);
  const first = add[0];
  if (!last || !first || byStart(last, first) <= 0) return [...list, ...add];
  return mergeByStart(list, add);
}

/** Two lists each in start order, merged in start order (ties: `a` first). */
export function mergeByStart<T extends FlowRecord>(a: T[], b: T[]): T[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(byStart(b[j]!, a[i]!) < 0 ? b[j++]! : a[i++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/**
 * Does a request in flight pass the filters, as far as its start tells? A status or flag filter wants what only the
 * end tells (no pending row passes it, but "no flag"); text is matched in its method, authority, path and headers.
 */
export function pendingMatches(p: FlowRecord, filters: FlowFilters, currentSession: number | null): boolean {
  if (filters.status !== '') return false;
  if (filters.flag !== '' && filters.flag !== 'none') return false;
  if (!matchesFilter(p, { ...filters, text: '' }, { currentSession, text: false })) return false;
  const text = filters.text.trim().toLowerCase();
  if (text === '') return true;
  if (`${p.method} ${p.authority}${p.path}`.toLowerCase().includes(text)) return true;
  for (const [name, value] of Object.entries(p.requestHeaders)) {
    if (name.toLowerCase().includes(text)) return true;
    for (const v of Array.isArray(value) ? value : [value]) if (String(v).toLowerCase().includes(text)) return true;
  }
  return false;
}

/** ms since the request started, as the clock reads now (never below 0). */
export function elapsedMs(startedAt: string, now: number): number {
  const t = Date.parse(startedAt);
  return Number.isNaN(t) ? 0 : Math.max(0, now - t);
}
