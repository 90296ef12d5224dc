/**
 * Pure functions over captured flows, shared by both flow stores and the comparisons: the FlowQuery predicate
 * (the in-memory twin of the SQL filters), nearest-rank percentiles, and the Graph and Metrics aggregates.
 */
import type { FlowQuery, FlowRecord, GraphEdge, GraphNode, Health, MetricsPoint } from '../../contract/api.js';

/** The fields of a flow the Graph and Metrics aggregates read (the SQLite store selects just these columns). */
export type FlowFacts = Pick<
  FlowRecord,
  | 'requestId'
  | 'reporter'
  | 'source'
  | 'destination'
  | 'destinationService'
  | 'authority'
  | 'status'
  | 'flags'
  | 'durationMs'
  | 'startedAt'
  | 'connectionSecurity'
>;

/** Catch-all clusters of the outbound sidecar: the flow's real destination is its authority. */
const CATCH_ALL = new Set(['PassthroughCluster', 'BlackHoleCluster']);

/** The caller name used for a caller without sidecar. */
export const UNKNOWN_CALLER = 'unknown';

/** Nearest-rank percentile (p in 0..100) of ascending-sorted values; 0 for an empty list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Plain string order (locale-independent, so results are the same everywhere). */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Values sorted ascending (a copy). */
export function sortedNumbers(values: Iterable<number>): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Does a destination service match a FlowQuery `service` value (short name, name.namespace or the FQDN)? */
export function serviceMatches(destinationService: string | null | undefined, value: string): boolean {
  return destinationService != null && (destinationService === value || destinationService.startsWith(`${value}.`));
}

/** Does a comma-joined Envoy flags string contain this one flag (whole flags only: "UF" is not in "UFX")? */
export function hasFlag(flags: string, flag: string): boolean {
  return flags.split(',').includes(flag);
}

/** The status range of a status class ("5xx" → [500, 599]). */
export function statusRange(cls: string): [number, number] {
  const n = Number(cls[0]);
  return [n * 100, n * 100 + 99];
}

/** An ISO bound normalised to `toISOString()` form, so it compares as a string with stored times. */
export function isoBound(t: string): string {
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new Error(`not an ISO date-time: ${t}`);
  return new Date(ms).toISOString();
}

/** Was this response an error for the Graph and Metrics views (5xx, or no response and a flag)? */
export function isError(f: Pick<FlowRecord, 'status' | 'flags'>): boolean {
  return f.status >= 500 || (f.status === 0 && f.flags !== '-');
}

/** The service a call went to: the destination service, or the authority for catch-all clusters and unknown hosts. */
export function serviceOf(f: Pick<FlowRecord, 'destinationService' | 'authority'>): string {
  return f.destinationService && !CATCH_ALL.has(f.destinationService) ? f.destinationService : f.authority;
}

/** Is this a mesh service FQDN ("reviews.default.svc.cluster.local")? */
export function isMeshFqdn(host: string): boolean {
  return /^[^.]+\.[^.]+\.svc(\.|$)/.test(host);
}

/** The host of an authority, without the port ("[::1]:80" → "[::1]", "httpbin.org:80" → "httpbin.org"). */
export function hostOf(authority: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(authority);
  return m ? m[1]! : authority;
}

/** Lower-cased text a FlowQuery `text` filter searches in: the path, both header sets and both bodies. */
function haystacks(f: FlowRecord): string[] {
  return [
    f.path,
    JSON.stringify(f.requestHeaders),
    JSON.stringify(f.responseHeaders),
    f.requestBody?.data ?? '',
    f.responseBody?.data ?? ''
  ];
}

/**
 * Does a flow pass every filter of the query (paging fields `limit` and `before` aside)? The in-memory store uses
 * this; the SQLite store builds the same conditions in SQL (SQLite's lower() folds ASCII letters only).
 */
export function matchesQuery(f: FlowRecord, q: FlowQuery): boolean {
  if (q.session !== undefined && f.sessionId !== q.session) return false;
  if (q.since !== undefined && f.startedAt < isoBound(q.since)) return false;
  if (q.until !== undefined && f.startedAt >= isoBound(q.until)) return false;
  if (q.caller !== undefined && f.source !== (q.caller === UNKNOWN_CALLER ? null : q.caller)) return false;
  if (q.service !== undefined && !serviceMatches(f.destinationService, q.service)) return false;
  if (q.workload !== undefined && f.source !== q.workload && f.destination !== q.workload) return false;
  if (q.method !== undefined && f.method !== q.method) return false;
  if (q.status !== undefined) {
    const [lo, hi] = statusRange(q.status);
    if (f.status < lo || f.status > hi) return false;
  }
  if (q.flag !== undefined && !hasFlag(f.flags, q.flag)) return false;
  if (q.text !== undefined) {
    const needle = q.text.toLowerCase();
    if (!haystacks(f).some((h) => h.toLowerCase().includes(needle))) return false;
  }
  if (q.reporter !== undefined && f.reporter !== q.reporter) return false;
  if (q.requestId !== undefined && f.requestId !== q.requestId) return false;
  if (q.traceId !== undefined && f.traceId !== q.traceId) return false;
  return true;
}

/** Running totals of a set of calls. */
interface Tally {
  requests: number;
  errors: number;
  durations: number[];
}

const newTally = (): Tally => ({ requests: 0, errors: 0, durations: [] });

function count(t: Tally, f: FlowFacts): void {
  t.requests++;
  if (isError(f)) t.errors++;
  t.durations.push(f.durationMs);
}

/** Health of a node or edge from its request count and error rate. */
export function healthOf(requests: number, errorRate: number): Health {
  if (requests === 0) return 'idle';
  if (errorRate >= 0.2) return 'failing';
  return errorRate > 0 ? 'degraded' : 'healthy';
}

/** "reviews.default.svc.cluster.local" → { service: "reviews", namespace: "default" }; nulls for other hosts. */
export function splitFqdn(fqdn: string | null): { service: string | null; namespace: string | null } {
  if (!fqdn || !isMeshFqdn(fqdn)) return { service: null, namespace: null };
  const [service, namespace] = fqdn.split('.');
  return { service: service!, namespace: namespace! };
}

/** One call for the graph: who called whom, and which flow carries the mTLS verdict. */
interface GraphCall {
  from: string;
  to: string;
  toKind: GraphNode['kind'];
  service: string | null;
  fact: FlowFacts;
  mtls: 'mutual_tls' | 'none';
}

/** Key pairing a source-reporter flow with the destination-reporter flow of the same hop. */
const hopKey = (f: FlowFacts) => `${f.requestId}\u0000${f.source ?? ''}\u0000${f.destination ?? ''}`;

/** The node a source-reporter call goes to: the serving workload, else the service or external host. */
function calleeOf(f: FlowFacts): { to: string; toKind: GraphNode['kind'] } {
  if (f.destination) return { to: f.destination, toKind: 'workload' };
  const target = serviceOf(f);
  if (isMeshFqdn(target)) return { to: target, toKind: 'service' };
  return { to: hostOf(target), toKind: 'external' };
}

/** Calls of the graph: source-reporter flows, plus destination-reporter flows from callers without sidecar. */
function graphCalls(facts: readonly FlowFacts[]): GraphCall[] {
  const serverSide = new Map<string, 'mutual_tls' | 'none'>();
  for (const f of facts)
    if (f.reporter === 'destination' && f.source && f.connectionSecurity)
      serverSide.set(hopKey(f), f.connectionSecurity);
  const calls: GraphCall[] = [];
  for (const f of facts) {
    if (f.reporter === 'source') {
      // (a source-reporter flow without source is a foreign HAR import: the caller is unknown)
      const { to, toKind } = calleeOf(f);
      const mtls = serverSide.get(hopKey(f)) ?? f.connectionSecurity ?? 'none';
      calls.push({ from: f.source ?? UNKNOWN_CALLER, to, toKind, service: serviceOf(f), fact: f, mtls });
    } else if (f.source === null && f.destination) {
      // a caller without sidecar: only the destination sidecar saw the call (or a HAR import)
      calls.push({
        from: UNKNOWN_CALLER,
        to: f.destination,
        toKind: 'workload',
        service: f.destinationService,
        fact: f,
        mtls: f.connectionSecurity ?? 'none'
      });
    }
  }
  return calls;
}

/** Edge (and its tally) per (caller, callee). */
function buildEdges(
  calls: readonly GraphCall[],
  windowSec: number
): { edges: GraphEdge[]; tallies: Map<string, Tally> } {
  const groups = new Map<
    string,
    { from: string; to: string; service: string | null; tally: Tally; mtls: Set<string> }
  >();
  for (const c of calls) {
    const id = `${c.from}->${c.to}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { from: c.from, to: c.to, service: c.service, tally: newTally(), mtls: new Set() }));
    count(g.tally, c.fact);
    g.mtls.add(c.mtls);
  }
  const edges: GraphEdge[] = [];
  const tallies = new Map<string, Tally>();
  for (const [id, g] of [...groups].sort(([a], [b]) => byCodePoint(a, b))) {
    const sorted = sortedNumbers(g.tally.durations);
    tallies.set(id, g.tally);
    edges.push({
      id,
      from: g.from,
      to: g.to,
      service: g.service,
      requests: g.tally.requests,
      rps: g.tally.requests / windowSec,
      errorRate: g.tally.errors / g.tally.requests,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      mtls: g.mtls.size > 1 ? 'mixed' : (g.mtls.values().next().value as 'mutual_tls' | 'none')
    });
  }
  return { edges, tallies };
}

/** The node of each id seen on an edge, with what it served and, for workloads, its service and namespace. */
function buildNodes(
  facts: readonly FlowFacts[],
  calls: readonly GraphCall[],
  edges: readonly GraphEdge[],
  tallies: Map<string, Tally>
): GraphNode[] {
  const kinds = new Map<string, GraphNode['kind']>();
  for (const c of calls) {
    kinds.set(c.from, c.from === UNKNOWN_CALLER ? 'unknown' : 'workload');
    if (!kinds.has(c.to) || c.toKind === 'workload') kinds.set(c.to, c.toKind);
  }
  const servedBy = new Map<string, string>();
  for (const f of facts)
    if (f.destination && f.destinationService && isMeshFqdn(f.destinationService))
      servedBy.set(f.destination, f.destinationService);
  const served = new Map<string, Tally>();
  for (const e of edges) {
    const t = tallies.get(e.id)!;
    const s = served.get(e.to) ?? newTally();
    s.requests += t.requests;
    s.errors += t.errors;
    served.set(e.to, s);
  }
  return [...kinds]
    .sort(([a], [b]) => byCodePoint(a, b))
    .map(([id, kind]) => nodeOf(id, kind, served.get(id), servedBy.get(id) ?? null));
}

function nodeOf(id: string, kind: GraphNode['kind'], served: Tally | undefined, fqdn: string | null): GraphNode {
  const requests = served?.requests ?? 0;
  const errorRate = requests > 0 ? served!.errors / requests : 0;
  const where =
    kind === 'service' ? splitFqdn(id) : kind === 'workload' ? splitFqdn(fqdn) : { service: null, namespace: null };
  const label = kind === 'service' ? (where.service ?? id) : id;
  return {
    id,
    kind,
    label,
    service: where.service,
    namespace: where.namespace,
    requests,
    errorRate,
    health: healthOf(requests, errorRate)
  };
}

/**
 * Nodes and edges of the Graph view from the flows of a window of `windowSec` seconds: an edge per (caller,
 * callee) from source-reporter flows (and destination-reporter flows whose caller had no sidecar); the mTLS verdict
 * of an edge comes from the destination sidecar's flow of the same hop when there is one.
 */
export function buildGraph(facts: readonly FlowFacts[], windowSec: number): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const calls = graphCalls(facts);
  const { edges, tallies } = buildEdges(calls, Math.max(windowSec, 1e-9));
  return { nodes: buildNodes(facts, calls, edges, tallies), edges };
}

/**
 * Metrics of one service in buckets of `stepSec` from `since` to `until`, from flows already filtered to the
 * service and window: the destination sidecar's view when there is any, else the callers' sidecars' view.
 */
export function buildMetricsSeries(
  facts: readonly FlowFacts[],
  q: { since: string; until: string; stepSec: number }
): MetricsPoint[] {
  const server = facts.filter((f) => f.reporter === 'destination');
  const chosen = server.length > 0 ? server : facts.filter((f) => f.reporter === 'source');
  const start = Date.parse(q.since);
  const stepMs = q.stepSec * 1000;
  const n = Math.max(0, Math.ceil((Date.parse(q.until) - start) / stepMs));
  const buckets = Array.from({ length: n }, newTally);
  for (const f of chosen) {
    const i = Math.floor((Date.parse(f.startedAt) - start) / stepMs);
    if (i >= 0 && i < n) count(buckets[i]!, f);
  }
  return buckets.map((b, i) => pointOf(new Date(start + i * stepMs).toISOString(), b, q.stepSec));
}

function pointOf(t: string, b: Tally, stepSec: number): MetricsPoint {
  const sorted = sortedNumbers(b.durations);
  const p = (x: number) => (sorted.length > 0 ? percentile(sorted, x) : null);
  return {
    t,
    requests: b.requests,
    rps: b.requests / stepSec,
    errorRate: b.requests > 0 ? b.errors / b.requests : 0,
    p50Ms: p(50),
    p90Ms: p(90),
    p99Ms: p(99)
  };
}
