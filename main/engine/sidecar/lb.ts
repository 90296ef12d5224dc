/** Endpoint choice per DestinationRule loadBalancer (istio-semantics §1.3): LEAST_REQUEST (default), ROUND_ROBIN, RANDOM, consistentHash. */
import type { LoadBalancerSettings } from '../../contract/istio-schema.js';
import type { Random } from '../util/random.js';
import type { ServiceEndpoint } from '../registry.js';
import { createHash } from 'node:crypto';
import { parseDuration } from '../util/duration.js';

export interface LbRequest {
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
  query(name: string): string | undefined;
  sourceIp: string;
}

export interface LbState {
  active: Map<string, number>;
  rr: Map<string, number>;
}

export function endpointKey(e: ServiceEndpoint): string {
  return `${e.host}:${e.port}`;
}

function hash64(s: string): bigint {
  return createHash('sha1').update(s).digest().readBigUInt64BE(0);
}

/** Rendezvous hashing: the same key picks the same endpoint while the endpoint set is stable. */
function rendezvous(pool: ServiceEndpoint[], key: string): ServiceEndpoint {
  let best = pool[0]!;
  let bestScore = -1n;
  for (const e of pool) {
    const s = hash64(`${key}|${endpointKey(e)}`);
    if (s > bestScore) {
      bestScore = s;
      best = e;
    }
  }
  return best;
}

/**
 * Pick one endpoint. `exclude` holds endpoints already tried (retry host predicate; under a consistent hash the next
 * endpoint for the key, as Envoy's ring moves on); ignored when it would leave nothing to pick, as Envoy falls back
 * after its host-selection attempts.
 */
export function pickEndpoint(
  endpoints: ServiceEndpoint[],
  lb: LoadBalancerSettings | undefined,
  clusterKey: string,
  state: LbState,
  random: Random,
  req: LbRequest,
  exclude: Set<string>
): { endpoint: ServiceEndpoint; how: string; setCookie?: string } {
  const ch = lb?.consistentHash;
  // round robin skips tried hosts by picking again, not by narrowing the list (see roundRobin)
  if (!ch && lb?.simple === 'ROUND_ROBIN' && endpoints.length > 1)
    return roundRobin(endpoints, clusterKey, state, random, exclude);
  let pool = endpoints;
  if (exclude.size > 0) {
    const rest = endpoints.filter((e) => !exclude.has(endpointKey(e)));
    if (rest.length > 0) pool = rest;
  }
  // one endpoint needs no choice, but a hash cookie is still generated when absent (Envoy sets it regardless)
  if (pool.length === 1 && !ch?.httpCookie) return { endpoint: pool[0]!, how: 'only endpoint' };
  if (ch) {
    let key: string | undefined;
    let what = '';
    if (ch.httpHeaderName) {
      key = req.header(ch.httpHeaderName.toLowerCase());
      what = `header ${ch.httpHeaderName}`;
    } else if (ch.httpCookie) {
      const c = ch.httpCookie;
      key = req.cookie(c.name);
      what = `cookie ${c.name}`;
      if (key === undefined && c.ttl !== undefined) {
        // Envoy generates the cookie when absent and a ttl is given (0s = session cookie)
        key = random.next().toString(16).slice(2, 18).padEnd(16, '0');
        const ttlSec = Math.floor(parseDuration(c.ttl) / 1000);
        const setCookie = `${c.name}="${key}"${ttlSec > 0 ? `; Max-Age=${ttlSec}` : ''}${c.path ? `; Path=${c.path}` : ''}; HttpOnly`;
        return { endpoint: rendezvous(pool, key), how: `consistent hash on generated cookie ${c.name}`, setCookie };
      }
    } else if (ch.httpQueryParameterName) {
      key = req.query(ch.httpQueryParameterName);
      what = `query ${ch.httpQueryParameterName}`;
    } else if (ch.useSourceIp) {
      key = req.sourceIp;
      what = 'source ip';
    }
    if (key !== undefined) return { endpoint: rendezvous(pool, key), how: `consistent hash on ${what}` };
    return { endpoint: pool[random.int(pool.length)]!, how: `consistent hash: no ${what || 'key'}, random` };
  }
  const simple = lb?.simple ?? 'LEAST_REQUEST';
  if (simple === 'RANDOM' || simple === 'PASSTHROUGH')
    return { endpoint: pool[random.int(pool.length)]!, how: 'random' };
  // LEAST_REQUEST (and LEAST_CONN, UNSPECIFIED): power of two choices
  const a = pool[random.int(pool.length)]!;
  const b = pool[random.int(pool.length)]!;
  const na = state.active.get(endpointKey(a)) ?? 0;
  const nb = state.active.get(endpointKey(b)) ?? 0;
  return { endpoint: nb < na ? b : a, how: 'least request (2 choices)' };
}

/** Istio's hostSelectionRetryMaxAttempts: picks after the first that a retry may make to avoid hosts tried before. */
const HOST_SELECTION_RETRIES = 5;

/**
 * Round robin over the cluster's (healthy) endpoints from a random start, as Envoy's round-robin balancer. A retry's
 * previous-hosts predicate does not narrow the list: Envoy's LoadBalancerBase::chooseHost picks again (each pick
 * advancing the index) while the pick is a host already tried, up to 5 more times, then keeps the last pick. So
 * the cycle stays the same for the requests after a retry.
 */
function roundRobin(
  pool: ServiceEndpoint[],
  clusterKey: string,
  state: LbState,
  random: Random,
  exclude: Set<string>
): { endpoint: ServiceEndpoint; how: string } {
  let n = state.rr.get(clusterKey) ?? random.int(pool.length);
  let endpoint = pool[n++ % pool.length]!;
  for (let i = 0; i < HOST_SELECTION_RETRIES && exclude.size > 0 && exclude.has(endpointKey(endpoint)); i++)
    endpoint = pool[n++ % pool.length]!;
  state.rr.set(clusterKey, n);
  return { endpoint, how: 'round robin' };
}
