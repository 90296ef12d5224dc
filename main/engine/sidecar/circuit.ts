/**
 * Envoy's circuit breakers and outlier detection as the calling sidecar applies them to one cluster (istio-semantics
 * §1.3 connectionPool, outlierDetection): per calling proxy, per cluster (port, subset, host).
 *
 * Circuit breaking: a request takes one of `maxConnections` upstream connections (HTTP/1.1: one request each);
 * past them it waits as pending, and past `http1MaxPendingRequests` waiting, or `http2MaxRequests` active in all,
 * it is refused at once with 503 UO (`x-envoy-overloaded: true`), never retried.
 *
 * Outlier detection: consecutive 5xx answers or locally originated failures (connect failure, reset, timeout) from
 * one endpoint eject it at once (`consecutive5xxErrors`, Envoy's default 5; `consecutiveGatewayErrors` counts
 * 502/503/504 only), if (ejected + 1) / endpoints stays within `maxEjectionPercent` (default 10 %, so fewer than 10
 * endpoints never eject unless it is raised; before Istio 1.20 -- Envoy 1.28 -- an endpoint was ejected while the
 * share already ejected was below it, so one of fewer than 10 could be: see Compat.ejectBelowMaxPercent). It returns after baseEjectionTime × times ejected (capped at 300 s),
 * at the first `interval` sweep after that. With `splitExternalLocalOriginErrors` the locally originated failures count
 * apart (`consecutiveLocalOriginFailures`, Envoy's default 5) and no longer as 5xx or gateway errors. With every endpoint ejected the caller gets 503 no healthy upstream
 * (unless `minHealthPercent` puts the cluster in panic, when every endpoint is used). `http.maxRetries` bounds the
 * retries outstanding on the cluster: past it a retry is skipped and the request flagged UO.
 */
import { effectiveConnectTimeoutMs, policyComponent, type MergedDestinationRule } from '../config/compile.js';
import { durationMs } from '../util/duration.js';
import { NEWEST_COMPAT, type Compat } from '../config/compat.js';
import type { AbortLike } from './abort.js';
import { lifecycleOf, type ConnectionLifecycle } from './lifecycle.js';

export interface PoolLimits {
  maxConnections: number;
  maxPending: number;
  maxRequests: number;
  /** Retries outstanding on the cluster at once; past it a retry is skipped (flag UO). */
  maxRetries: number;
}

export interface OutlierPolicy {
  /** 0: off. */
  consecutive5xx: number;
  /** 0: off. */
  consecutiveGateway: number;
  /**
   * splitExternalLocalOriginErrors: the consecutive local-origin failures (connect failure, reset, timeout) that eject,
   * counted apart from the 5xx and gateway errors; 0: not split (they count as 503 / 504 answers).
   */
  consecutiveLocalOrigin: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionPercent: number;
  /** Below this share of healthy endpoints the cluster is in panic: every endpoint is used (0: never). */
  minHealthPercent: number;
  /** Envoy before 1.28: eject while the share already ejected is below maxEjectionPercent (not the share after). */
  ejectBelowMaxPercent: boolean;
}

const UNLIMITED = 2 ** 32 - 1;
const MAX_EJECTION_MS = 300_000;

type Loose = Record<string, unknown> | undefined;

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A proto3 int32 setting: 0 is unset (Istio applies these limits only when > 0). */
function positive(v: unknown): number | undefined {
  const n = num(v);
  return n !== undefined && n > 0 ? n : undefined;
}

function ms(v: unknown, fallback: number): number {
  return durationMs(v) ?? fallback;
}

/**
 * The per-destination policies (circuit breaking, outlier detection, connect timeout), worked out once per DestinationRule object (a snapshot's rules never change; a
 * reload makes new ones), so a request pays a map lookup, not a walk of the policy.
 */
export interface CircuitPolicies {
  limits?: PoolLimits;
  outlier?: OutlierPolicy;
  /** connectionPool.tcp.connectTimeout, when set. */
  connectTimeoutMs?: number;
  /** maxRequestsPerConnection, idle timeout and maxConnectionDuration (lifecycle.ts), when set. */
  life?: ConnectionLifecycle;
  /**
   * The destination's effective policy (connectionPool, outlierDetection, loadBalancer, tls) as text: Envoy keeps a
   * cluster, its breakers' counts and its ejections, across config pushes while this stays the same, and builds a new
   * one (nothing ejected, nothing counted) when it changes.
   */
  fingerprint: string;
}

/** The calling sidecars' circuits (outbound.ts): one per calling workload and cluster, while the cluster's policy holds. */
export type CircuitStore = Map<string, { fingerprint: string; circuit: ClusterCircuit }>;

/**
 * The circuit `store` holds for `key` while its policy (`fingerprint`) is the same; a new one, nothing counted and
 * nothing ejected, when the policy changed or none was held (Envoy keeps an unchanged cluster and rebuilds a changed one).
 */
export function heldCircuit(store: CircuitStore, key: string, fingerprint: string): ClusterCircuit {
  const held = store.get(key);
  if (held?.fingerprint === fingerprint) return held.circuit;
  const circuit = new ClusterCircuit();
  store.set(key, { fingerprint, circuit });
  return circuit;
}

const cache = new WeakMap<MergedDestinationRule, Map<string, CircuitPolicies>>();

export function circuitPolicies(
  dr: MergedDestinationRule | undefined,
  subset: string | undefined,
  port: number,
  compat: Compat = NEWEST_COMPAT
): CircuitPolicies {
  if (!dr) return NONE;
  let byDest = cache.get(dr);
  if (!byDest) cache.set(dr, (byDest = new Map()));
  const key = `${subset ?? ''}|${port}|${compat.minor}`;
  let p = byDest.get(key);
  if (!p)
    byDest.set(
      key,
      (p = {
        limits: poolLimitsFor(dr, subset, port),
        outlier: outlierPolicyFor(dr, subset, port, compat),
        connectTimeoutMs: effectiveConnectTimeoutMs(dr, subset, port),
        life: lifecycleOf(policyComponent(dr, subset, port, 'connectionPool')),
        fingerprint: JSON.stringify(
          (['connectionPool', 'outlierDetection', 'loadBalancer', 'tls'] as const).map((c) =>
            policyComponent(dr, subset, port, c)
          )
        )
      })
    );
  return p;
}
const NONE: CircuitPolicies = { fingerprint: '' };

/** The connection-pool limits for a destination, or undefined when none is set (no accounting at all). */
export function poolLimitsFor(
  dr: MergedDestinationRule | undefined,
  subset: string | undefined,
  port: number
): PoolLimits | undefined {
  return limitsOf(policyComponent(dr, subset, port, 'connectionPool'));
}

/**
 * The limits a `connectionPool` sets (a DestinationRule's, or a Sidecar's inboundConnectionPool), or undefined when
 * it sets none.
 */
export function limitsOf(connectionPool: unknown): PoolLimits | undefined {
  const cp = connectionPool as Loose;
  if (!cp) return undefined;
  const tcp = cp.tcp as Loose;
  const http = cp.http as Loose;
  const limits = {
    maxConnections: positive(tcp?.maxConnections) ?? UNLIMITED,
    maxPending: positive(http?.http1MaxPendingRequests) ?? UNLIMITED,
    maxRequests: positive(http?.http2MaxRequests) ?? UNLIMITED,
    maxRetries: positive(http?.maxRetries) ?? UNLIMITED
  };
  const none =
    limits.maxConnections === UNLIMITED &&
    limits.maxPending === UNLIMITED &&
    limits.maxRequests === UNLIMITED &&
    limits.maxRetries === UNLIMITED;
  return none ? undefined : limits;
}

/** The outlier-detection policy for a destination, or undefined when the rule sets none. */
export function outlierPolicyFor(
  dr: MergedDestinationRule | undefined,
  subset: string | undefined,
  port: number,
  compat: Compat = NEWEST_COMPAT
): OutlierPolicy | undefined {
  const od = policyComponent(dr, subset, port, 'outlierDetection') as Loose;
  if (!od) return undefined;
  // before Istio 1.7 the deprecated consecutiveErrors counted gateway errors only (5xx off); the newer fields, when
  // set, still win. Since then it is ignored (IST0002).
  const legacy = compat.consecutiveErrorsAsGateway ? positive(od.consecutiveErrors) : undefined;
  return {
    consecutive5xx: num(od.consecutive5xxErrors) ?? (legacy ? 0 : 5),
    consecutiveGateway: num(od.consecutiveGatewayErrors) ?? legacy ?? 0,
    // Istio sets consecutive_local_origin_failure only when > 0: Envoy's default is 5, enforced at 100 %
    consecutiveLocalOrigin:
      od.splitExternalLocalOriginErrors === true ? (positive(od.consecutiveLocalOriginFailures) ?? 5) : 0,
    intervalMs: ms(od.interval, 10_000),
    baseEjectionMs: ms(od.baseEjectionTime, 30_000),
    maxEjectionPercent: positive(od.maxEjectionPercent) ?? 10,
    minHealthPercent: num(od.minHealthPercent) ?? 0,
    ejectBelowMaxPercent: compat.ejectBelowMaxPercent
  };
}

/** What one try at an endpoint came to, for outlier detection. */
export type TryResult = 'success' | 'http-5xx' | 'http-gateway' | 'local-failure';

interface EndpointHealth {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocalOrigin: number;
  /** performance.now() when it may return (0: not ejected). */
  ejectedUntil: number;
  timesEjected: number;
}

/** One cluster's breaker and endpoint health, as one calling sidecar sees it. */
export class ClusterCircuit {
  private active = 0;
  private pending = 0;
  /** Retries in flight (a try after the first one, from its start to its outcome). */
  retries = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly health = new Map<string, EndpointHealth>();
  /** The sweeps of outlier detection start with the cluster's first request. */
  private readonly epoch = performance.now();

  /**
   * Take a request slot: true when it may go now or after waiting as pending, false on overflow (503 UO) or when
   * `abort` fires first (the request then leaves the pending queue). A slot taken must be given back with release().
   */
  async acquire(limits: PoolLimits, abort?: AbortLike): Promise<boolean> {
    if (abort?.aborted) return false;
    if (this.active + this.pending >= limits.maxRequests) return false;
    if (this.active < limits.maxConnections) {
      this.active++;
      return true;
    }
    if (this.pending >= limits.maxPending) return false;
    this.pending++;
    // a pending request leaves the queue when it is aborted (Envoy cancels the pool request when the route timeout
    // fires or the caller resets the stream), and the slot it would have had goes to the next one
    return new Promise<boolean>((resolve) => {
      const grant = (): void => {
        abort?.offAbort(cancel);
        this.pending--;
        this.active++;
        resolve(true);
      };
      const cancel = (): void => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        this.pending--;
        resolve(false);
      };
      this.waiting.push(grant);
      abort?.onAbort(cancel);
    });
  }

  release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  /**
   * The endpoints not ejected now; all of them when too few are healthy (panic, below minHealthPercent; Istio's
   * default 0 never panics, so all ejected leaves none).
   */
  healthy<E>(endpoints: E[], keyOf: (e: E) => string, policy: OutlierPolicy, now = performance.now()): E[] {
    if (this.health.size === 0) return endpoints;
    const up = endpoints.filter((e) => {
      const h = this.health.get(keyOf(e));
      return !h || h.ejectedUntil <= now;
    });
    if (policy.minHealthPercent > 0 && (up.length / endpoints.length) * 100 < policy.minHealthPercent) return endpoints;
    return up;
  }

  /** Count a try's result for its endpoint; true when it ejected the endpoint. */
  record(
    key: string,
    result: TryResult,
    policy: OutlierPolicy,
    endpointCount: number,
    now = performance.now()
  ): boolean {
    let h = this.health.get(key);
    if (!h) {
      if (result === 'success') return false;
      this.health.set(
        key,
        (h = { consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocalOrigin: 0, ejectedUntil: 0, timesEjected: 0 })
      );
    }
    let trip: boolean;
    if (policy.consecutiveLocalOrigin > 0 && result === 'local-failure') {
      // split: a local-origin failure counts on its own, leaving the 5xx and gateway counts as they were
      h.consecutiveLocalOrigin++;
      trip = h.consecutiveLocalOrigin >= policy.consecutiveLocalOrigin;
    } else {
      // an answer: the connection was made (Envoy's LocalOriginConnectSuccess ends a run of local-origin failures)
      h.consecutiveLocalOrigin = 0;
      if (result === 'success') {
        h.consecutive5xx = 0;
        h.consecutiveGateway = 0;
        return false;
      }
      h.consecutive5xx++;
      if (result !== 'http-5xx') h.consecutiveGateway++;
      else h.consecutiveGateway = 0;
      trip =
        (policy.consecutive5xx > 0 && h.consecutive5xx >= policy.consecutive5xx) ||
        (policy.consecutiveGateway > 0 && h.consecutiveGateway >= policy.consecutiveGateway);
    }
    if (!trip || h.ejectedUntil > now) return false;
    let ejected = 0;
    for (const x of this.health.values()) if (x.ejectedUntil > now) ejected++;
    const share = ((policy.ejectBelowMaxPercent ? ejected : ejected + 1) / Math.max(1, endpointCount)) * 100;
    if (policy.ejectBelowMaxPercent ? share >= policy.maxEjectionPercent : share > policy.maxEjectionPercent)
      return false;
    h.timesEjected++;
    const until = now + Math.min(policy.baseEjectionMs * h.timesEjected, MAX_EJECTION_MS);
    // it returns at the first sweep (every interval since the cluster's first request) after that
    const sweeps = Math.ceil((until - this.epoch) / Math.max(1, policy.intervalMs));
    h.ejectedUntil = this.epoch + sweeps * Math.max(1, policy.intervalMs);
    h.consecutive5xx = 0;
    h.consecutiveGateway = 0;
    h.consecutiveLocalOrigin = 0;
    return true;
  }
}

/** A response status as outlier detection counts it. */
export function statusResult(status: number): TryResult {
  if (status === 502 || status === 503 || status === 504) return 'http-gateway';
  return status >= 500 ? 'http-5xx' : 'success';
}
