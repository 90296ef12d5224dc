/**
 * Derived values. Each selector is memoized on the identity of its inputs, so React components can subscribe to it
 * (zustand needs a stable result while the inputs stay the same) and 5 000 flows are filtered once per change.
 */
import type { AccessCell, FlowRecord, SecurityView, SessionView, WorkloadView } from '../../../main/contract/api.js';
import { filtersActive, matchesFilter, type FlowFilters } from '../lib/flow-query.js';
import { mergeByStart, pendingMatches, type ListedFlow } from '../lib/live-flows.js';
import { flagList, shortService } from '../lib/format.js';
import { faultFor, type FaultSummary } from '../lib/istio.js';
import type { MeshState } from './types.js';

/** Sliding window for requests/s and error rate. */
export const STATS_WINDOW_MS = 10_000;

function memo<A extends readonly unknown[], R>(compute: (...args: A) => R): (...args: A) => R {
  let last: { args: A; result: R } | undefined;
  return (...args: A) => {
    if (last && last.args.length === args.length && last.args.every((a, i) => a === args[i])) return last.result;
    const result = compute(...args);
    last = { args, result };
    return result;
  };
}

/** The destination service short name of a flow ("ratings"), from the workload when known. */
export function flowService(f: FlowRecord, workloads?: Map<string, WorkloadView>): string | null {
  const w = f.destination !== null ? workloads?.get(f.destination) : undefined;
  return w?.service ?? shortService(f.destinationService);
}

/* ---------- traffic ---------- */

export { matchesFilter } from '../lib/flow-query.js';

const filterFlows = memo((flows: FlowRecord[], filters: FlowFilters): FlowRecord[] => {
  // The list holds what the filters' query returned (text included, which the server also matches in bodies):
  // here only the structured filters are applied again, so a change shows at once and a stale row never lingers.
  const structural = { ...filters, text: '' };
  if (!filtersActive(structural)) return flows;
  return flows.filter((f) => matchesFilter(f, structural, { text: false }));
});

const withPending = memo(
  (listed: FlowRecord[], pending: ListedFlow[], filters: FlowFilters, sessions: SessionView[]): ListedFlow[] => {
    if (pending.length === 0) return listed;
    const current = sessions.find((x) => x.current)?.id ?? null;
    const ids = new Set(listed.map((f) => f.id));
    const shown = pending.filter((p) => !ids.has(p.id) && pendingMatches(p, filters, current));
    return mergeByStart<ListedFlow>(listed, shown);
  }
);

/**
 * The Traffic list as shown, in start order: `trafficFlows` narrowed by the filters the server cannot apply, with
 * the requests still in flight that match the filters (`pending` rows) where they started.
 */
export const selectFilteredFlows = (s: MeshState): ListedFlow[] =>
  withPending(filterFlows(s.trafficFlows, s.filters), s.pendingFlows, s.filters, s.sessions);

export const selectFiltersActive = (s: MeshState): boolean => filtersActive(s.filters);

const flagOptions = memo((flows: FlowRecord[], listed: FlowRecord[]): string[] => {
  const seen = new Set<string>();
  for (const list of [flows, listed]) for (const f of list) for (const flag of flagList(f.flags)) seen.add(flag);
  return [...seen].sort();
});

/** Envoy flags present in the captured flows (options of the flag filter). */
export const selectFlagOptions = (s: MeshState): string[] => flagOptions(s.flows, s.trafficFlows);

/** The mesh file turns capture off (spec.capture.enabled: false): sidecars route and count, but record no flow. */
export const selectCaptureOff = (s: MeshState): boolean => s.config?.capture === false;

/** The session new flows go into (null before the sessions are loaded, or with an in-memory store). */
export const selectCurrentSession = (s: MeshState): SessionView | null => s.sessions.find((x) => x.current) ?? null;

/**
 * How many flows the engine's store holds: what its last `store` event said (it follows retention's deletions, a
 * clear, deleted sessions and imports). Before one came (an engine that sends none), the sum of the sessions' counts
 * (every flow, captured or imported, belongs to one session; live flows add to the current one as they come, and
 * retention's deletions are only seen when the sessions are listed again). Null while neither is known (the sessions
 * not loaded yet, or failed): only the flows loaded here are known then.
 */
export const selectStoredCount = (s: MeshState): number | null =>
  s.storeTotals !== null
    ? s.storeTotals.flows
    : s.sessions.length === 0
      ? null
      : s.sessions.reduce((n, x) => n + x.flows, 0);

/** The session the list is narrowed to, when it is known. */
export const selectFilterSession = (s: MeshState): SessionView | null =>
  s.filters.session === null ? null : (s.sessions.find((x) => x.id === s.filters.session) ?? null);

export interface ServiceGroup {
  name: string;
  namespace: string;
  workloads: WorkloadView[];
}

const groupServices = memo((workloads: WorkloadView[]): ServiceGroup[] => {
  const groups: ServiceGroup[] = [];
  for (const w of workloads) {
    let g = groups.find((x) => x.name === w.service && x.namespace === w.namespace);
    if (!g) {
      g = { name: w.service, namespace: w.namespace, workloads: [] };
      groups.push(g);
    }
    g.workloads.push(w);
  }
  return groups;
});

export const selectServiceGroups = (s: MeshState): ServiceGroup[] => groupServices(s.workloads);

export interface TrafficStats {
  requests: number;
  errors: number;
  /** requests per second over the window */
  rps: number;
  /** errors / requests (0 when no requests) */
  errorRate: number;
}

export const EMPTY_STATS: TrafficStats = { requests: 0, errors: 0, rps: 0, errorRate: 0 };

/** A response counts as an error when it is a 5xx or no response at all (status 0: reset, timeout before headers). */
export function isError(status: number): boolean {
  return status >= 500 || status < 100;
}

/**
 * One record per request: a request that passes two sidecars is reported by both (`source` and `destination`);
 * the caller's record wins (it includes faults, retries and timeouts as the caller saw them).
 */
function uniqueRequests(flows: FlowRecord[], key: (f: FlowRecord) => string | null): Map<string, FlowRecord[]> {
  const seen = new Map<string, FlowRecord>();
  for (const f of flows) {
    const k = key(f);
    if (k === null) continue;
    const id = `${k}\u0000${f.requestId}`;
    const prev = seen.get(id);
    if (!prev || (prev.reporter === 'destination' && f.reporter === 'source')) seen.set(id, f);
  }
  const out = new Map<string, FlowRecord[]>();
  for (const [id, f] of seen) {
    const k = id.slice(0, id.indexOf('\u0000'));
    const list = out.get(k) ?? [];
    list.push(f);
    out.set(k, list);
  }
  return out;
}

function windowOf(flows: FlowRecord[], now: number): FlowRecord[] {
  const from = now - STATS_WINDOW_MS;
  const out: FlowRecord[] = [];
  // Flows arrive roughly in time order: walk back from the newest and stop well past the window.
  for (let i = flows.length - 1; i >= 0; i--) {
    const f = flows[i]!;
    const t = Date.parse(f.startedAt);
    if (t > from && t <= now) out.push(f);
    else if (t <= from - STATS_WINDOW_MS) break;
  }
  return out;
}

function statsOf(groups: Map<string, FlowRecord[]>): Record<string, TrafficStats> {
  const out: Record<string, TrafficStats> = {};
  for (const [k, list] of groups) {
    const errors = list.filter((f) => isError(f.status)).length;
    out[k] = {
      requests: list.length,
      errors,
      rps: list.length / (STATS_WINDOW_MS / 1000),
      errorRate: errors / list.length
    };
  }
  return out;
}

const workloadStats = memo((flows: FlowRecord[], now: number): Record<string, TrafficStats> =>
  statsOf(uniqueRequests(windowOf(flows, now), (f) => f.destination))
);

/** Requests/s and error rate per workload (flows whose destination is the workload) over the sliding window. */
export const selectWorkloadStats = (s: MeshState): Record<string, TrafficStats> => workloadStats(s.flows, s.now);

const serviceStats = memo((flows: FlowRecord[], now: number): Record<string, TrafficStats> =>
  statsOf(uniqueRequests(windowOf(flows, now), (f) => shortService(f.destinationService)))
);

/**
 * The same per destination service: unlike the per-workload numbers it includes requests that never reached a
 * workload (an injected abort, no healthy upstream).
 */
export const selectServiceStats = (s: MeshState): Record<string, TrafficStats> => serviceStats(s.flows, s.now);

const faults = memo((groups: ServiceGroup[], config: MeshState['config']): Record<string, FaultSummary | null> => {
  const out: Record<string, FaultSummary | null> = {};
  for (const g of groups) out[g.name] = config ? faultFor(config.resources, g.name, g.namespace) : null;
  return out;
});

/** The fault each service's VirtualService injects (null: none). */
export const selectFaults = (s: MeshState): Record<string, FaultSummary | null> =>
  faults(selectServiceGroups(s), s.config);

export const selectDirty = (s: MeshState): boolean => s.editor !== null && s.editor.text !== s.editor.saved;

/** A workload's overall process state: the most alarming state among its instances. */
const STATE_RANK = ['failed', 'crashed', 'restarting', 'starting', 'stopped', 'running'] as const;
export function overallProcessState(w: WorkloadView): (typeof STATE_RANK)[number] | null {
  if (w.processes.length === 0) return null;
  for (const state of STATE_RANK) if (w.processes.some((p) => p.state === state)) return state;
  return w.processes[0]!.state;
}

/* ---------- security ---------- */

/** The matrix's name for a caller without a sidecar (a flow's `source` is null then). */
export const UNKNOWN_CALLER = 'unknown';

/** Calls from one caller to one destination workload, as the destination's sidecar reported them. */
export interface ObservedCall {
  from: string;
  to: string;
  total: number;
  /** Passed authorization and got a 2xx–4xx answer (a 403 from the app itself counts here). */
  allowed: number;
  /** Refused by an AuthorizationPolicy (403 with an authz "denied" trace step). */
  denied: number;
  /** Passed authorization, but the app failed or did not answer (5xx, no response). */
  failed: number;
  /** Hops over mutual TLS, and plaintext hops (a caller without sidecar, or mTLS disabled). */
  mtls: number;
  plaintext: number;
  lastAt: string;
  /** The newest config version the calls ran under, and the outcomes under that version only. */
  lastVersion: number;
  atLastVersion: { allowed: number; denied: number; failed: number };
}

/** What a matrix cell shows for the calls seen: 'none' when there were none. */
export type ObservedState = 'none' | 'allowed' | 'denied' | 'mixed' | 'failed';

export function observedKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

/** A 403 the inbound sidecar sent because an AuthorizationPolicy denied the request (not the app's own 403). */
export function isRbacDenied(f: FlowRecord): boolean {
  return f.status === 403 && f.trace.some((t) => t.step === 'authz' && /^denied\b/.test(t.detail));
}

/**
 * Who actually called whom: the destination sidecar's records (reporter 'destination'), one per request, grouped
 * by caller (`unknown` without sidecar) and destination workload. Pure; the matrix overlays it on the policy verdicts.
 */
export function observedCalls(flows: FlowRecord[]): Map<string, ObservedCall> {
  const out = new Map<string, ObservedCall>();
  for (const f of flows) {
    if (f.reporter !== 'destination' || f.destination === null) continue;
    const from = f.source ?? UNKNOWN_CALLER;
    const key = observedKey(from, f.destination);
    let o = out.get(key);
    if (!o) {
      o = {
        from,
        to: f.destination,
        total: 0,
        allowed: 0,
        denied: 0,
        failed: 0,
        mtls: 0,
        plaintext: 0,
        lastAt: f.startedAt,
        lastVersion: f.configVersion,
        atLastVersion: { allowed: 0, denied: 0, failed: 0 }
      };
      out.set(key, o);
    }
    o.total++;
    const outcome = isRbacDenied(f) ? 'denied' : f.status >= 200 && f.status < 500 ? 'allowed' : 'failed';
    o[outcome]++;
    if (f.configVersion > o.lastVersion) {
      o.lastVersion = f.configVersion;
      o.atLastVersion = { allowed: 0, denied: 0, failed: 0 };
    }
    if (f.configVersion === o.lastVersion) o.atLastVersion[outcome]++;
    if (f.connectionSecurity === 'mutual_tls') o.mtls++;
    else if (f.connectionSecurity === 'none') o.plaintext++;
    if (f.startedAt > o.lastAt) o.lastAt = f.startedAt;
  }
  return out;
}

export function observedState(o: ObservedCall | undefined): ObservedState {
  if (!o || o.total === 0) return 'none';
  if (o.denied > 0 && o.allowed + o.failed > 0) return 'mixed';
  if (o.denied > 0) return 'denied';
  if (o.allowed > 0) return 'allowed';
  return 'failed';
}

/**
 * Do the calls seen under the running config contradict the matrix verdict (which is for a plain GET /)? A policy
 * that matches on paths, methods or headers does that. Calls from before the last reload say nothing about it.
 */
export function contradicts(cell: AccessCell, o: ObservedCall | undefined, configVersion: number | null): boolean {
  if (!o || configVersion === null || o.lastVersion !== configVersion) return false;
  const now = o.atLastVersion;
  return cell.allowed ? now.denied > 0 : now.allowed + now.failed > 0;
}

const observed = memo(observedCalls);

/** The observed-call overlay of the captured flows (memoized on the flows array). */
export const selectObservedCalls = (s: MeshState): Map<string, ObservedCall> => observed(s.flows);

export interface MatrixLayout {
  /** Rows: workloads with a sidecar, then `unknown` (callers without sidecar). */
  callers: string[];
  /** Columns: destination workloads (those with a sidecar: only they enforce policies). */
  destinations: string[];
  cells: Map<string, AccessCell>;
}

/** Rows, columns and cells of the who-may-call-whom matrix, in the order of the workloads list. */
export function matrixLayout(view: SecurityView): MatrixLayout {
  const order = new Map(view.workloads.map((w, i) => [w.workload, i]));
  const rank = (name: string): number => (name === UNKNOWN_CALLER ? Infinity : (order.get(name) ?? order.size));
  const callers = new Set<string>();
  const destinations = new Set<string>();
  const cells = new Map<string, AccessCell>();
  for (const c of view.matrix) {
    callers.add(c.from);
    destinations.add(c.to);
    cells.set(observedKey(c.from, c.to), c);
  }
  const sorted = (names: Set<string>): string[] => [...names].sort((a, b) => rank(a) - rank(b));
  return { callers: sorted(callers), destinations: sorted(destinations), cells };
}

const layout = memo(matrixLayout);

export const selectMatrixLayout = (s: MeshState): MatrixLayout | null => (s.security ? layout(s.security) : null);

/** Observed calls that have no cell in the matrix (e.g. a caller that left the mesh file). */
export function observedOutside(calls: Map<string, ObservedCall>, m: MatrixLayout): ObservedCall[] {
  return [...calls.values()].filter((o) => !m.cells.has(observedKey(o.from, o.to)));
}
