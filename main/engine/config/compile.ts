/**
 * Translate Istio resources into the internal route table, once per config version (never per request).
 * Mirrors what pilot does for a sidecar's outbound routes: VirtualServices per host, merged DestinationRules,
 * the default retry policy, and per-caller filtering by sourceLabels / sourceNamespace / gateways / exportTo.
 */
import type {
  CorsPolicy,
  DestinationRuleSpec,
  Headers,
  HTTPMatchRequest,
  HTTPRedirect,
  HTTPRetry,
  HTTPRoute,
  HTTPRewrite,
  IstioResource,
  LoadBalancerSettings,
  SidecarSpec,
  Subset,
  TrafficPolicy,
  VirtualServiceSpec
} from '../../contract/istio-schema.js';
import { durationMs, parseDuration } from '../util/duration.js';
import { labelsMatch, type WorkloadInfo } from '../registry.js';
import { hostMatches, qualifyHost } from './hosts.js';
import { compileStringMatch, re2, type CompiledStringMatch } from './string-match.js';
import { compatFor, NEWEST_COMPAT, type Compat } from './compat.js';
import type { RE2JS } from 're2js';

export const ROOT_NAMESPACE = 'istio-system';

/**
 * Envoy's regex rewrite substitution (RE2: `\\N` a capture group, `\\0` the whole match, `\\\\` a backslash) as a
 * re2js replaceAll string (`$N`, `$&`, `$$` for a literal dollar).
 */
export function re2Substitution(rewrite: string): string {
  return rewrite.replace(/\\(\d|\\)|\$/g, (m: string, g: string | undefined) =>
    m === '$' ? '$$' : g === '\\' ? '\\' : g === '0' ? '$&' : `$${g}`
  );
}

/** Istio's default retry conditions: 2 retries on these (and, before 1.24, on an upstream 503: see Compat). */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

export interface RetryPolicy {
  attempts: number;
  conditions: Set<string>;
  statusCodes: Set<number>;
  perTryTimeoutMs: number;
  backoffBaseMs: number;
  ignorePreviousHosts: boolean;
  /**
   * The same under consistent-hash load balancing: Istio drops the previous-hosts predicate (so a retry keeps the
   * hashed endpoint) on a VirtualService route with one destination, unless `retryIgnorePreviousHosts` is set.
   */
  hashIgnorePreviousHosts: boolean;
  /** How it was set, for the trace. */
  source: 'default' | 'virtual-service' | 'none';
}

/** No retry policy: `retries: {attempts: 0}`, and Istio's ALLOW_ANY catch-all route to the PassthroughCluster. */
export const NO_RETRY: RetryPolicy = compileRetry({ attempts: 0 });
const DEFAULT_RETRY = compileRetry(undefined, NEWEST_COMPAT);
const DEFAULT_RETRY_503 = compileRetry(undefined, compatFor('1.23'));

/** The retry policy of a route that sets none (and of a host without a VirtualService). */
export function defaultRetry(compat: Compat): RetryPolicy {
  return compat.retry503ByDefault ? DEFAULT_RETRY_503 : DEFAULT_RETRY;
}

/**
 * Istio's retry.ConvertPolicy: the default policy, overridden by what the `retries` block sets. Before 1.24 the
 * default retriable status codes were [503], kept unless retryOn is set (retryOn replaces the codes with its own).
 */
export function compileRetry(r: HTTPRetry | undefined, compat: Compat = NEWEST_COMPAT): RetryPolicy {
  // a `retries` block whose attempts are 0 -- or unset, the proto's zero -- is no retry policy at all (its
  // perTryTimeout, retryOn and backoff go with it); only no block at all gets the default
  if (r && (r.attempts ?? 0) <= 0) {
    return {
      attempts: 0,
      conditions: new Set(),
      statusCodes: new Set(),
      perTryTimeoutMs: 0,
      backoffBaseMs: 25,
      ignorePreviousHosts: true,
      hashIgnorePreviousHosts: true,
      source: 'none'
    };
  }
  const conditions = new Set<string>();
  // an empty retryOn is unset (ConvertPolicy overrides the defaults only with a non-empty one)
  const retryOn = r?.retryOn || undefined;
  const statusCodes = new Set<number>(retryOn === undefined && compat.retry503ByDefault ? [503] : []);
  for (const part of (retryOn ?? DEFAULT_RETRY_ON).split(',')) {
    const p = part.trim();
    if (!p) continue;
    if (/^\d+$/.test(p)) {
      statusCodes.add(Number(p));
      conditions.add('retriable-status-codes');
    } else conditions.add(p);
  }
  return {
    attempts: r?.attempts ?? 2,
    conditions,
    statusCodes,
    perTryTimeoutMs: r?.perTryTimeout ? parseDuration(r.perTryTimeout) : 0,
    backoffBaseMs: r?.backoff ? parseDuration(r.backoff) : 25,
    ignorePreviousHosts: r?.retryIgnorePreviousHosts ?? true,
    hashIgnorePreviousHosts: r?.retryIgnorePreviousHosts ?? true,
    source: r ? 'virtual-service' : 'default'
  };
}

interface HeaderCond {
  name: string;
  match: CompiledStringMatch;
  /** A header match on a JWT claim (`@request.auth.claims.a.b` or `@request.auth.claims[a][b]`): the claim's path. */
  claim?: string[];
}

export interface CompiledMatch {
  name?: string;
  /** The rule's label when this match block has a name: Istio names the Envoy route `<rule name>.<match name>`. */
  label?: string;
  /** All uri conditions (a delegate adds its own to the root's). */
  uri: CompiledStringMatch[];
  scheme?: CompiledStringMatch;
  method?: CompiledStringMatch;
  authority?: CompiledStringMatch;
  headers: HeaderCond[];
  withoutHeaders: HeaderCond[];
  queryParams: HeaderCond[];
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways?: string[];
  /** Human text for the trace. */
  describe: string;
}

export interface CompiledDestination {
  host: string;
  subset?: string;
  port?: number;
  weight: number;
  headers?: Headers;
  /** Its rule's and its own request header ops, in the order Envoy applies them (headerOpsOrder). */
  requestOps?: HeaderOps[];
  /** The same for the response. */
  responseOps?: HeaderOps[];
}

type HeaderOps = NonNullable<Headers['request']>;

/**
 * A rule's and a destination's header ops in Envoy's order. One destination: Istio appends the destination's ops to
 * the route's lists (processDestination), so every remove of both goes first, then the rule's set/add, then the
 * destination's. Weighted destinations: each is a weighted cluster entry, which Envoy evaluates before its route
 * (WeightedClusterEntry::finalizeRequestHeaders), so the rule's set wins and its remove drops what the destination
 * added.
 */
function headerOpsOrder(rule: HeaderOps | undefined, dest: HeaderOps | undefined, weighted: boolean): HeaderOps[] {
  if (!dest) return rule ? [rule] : [];
  if (!rule) return [dest];
  if (weighted) return [dest, rule];
  return [
    { remove: [...(rule.remove ?? []), ...(dest.remove ?? [])] },
    { set: rule.set, add: rule.add },
    { set: dest.set, add: dest.add }
  ];
}

export type RouteAction =
  | { type: 'route'; destinations: CompiledDestination[]; totalWeight: number }
  | { type: 'redirect'; redirect: HTTPRedirect }
  | { type: 'direct'; status: number; body: Buffer | null };

export interface FaultPolicy {
  delayMs: number;
  delayPct: number;
  abortStatus?: number;
  abortGrpc?: string;
  abortPct: number;
}

export interface CompiledCors {
  origins: CompiledStringMatch[];
  allowMethods?: string;
  allowHeaders?: string;
  exposeHeaders?: string;
  maxAge?: string;
  allowCredentials: boolean;
  unmatchedPreflights: 'FORWARD' | 'IGNORE';
}

export interface CompiledRoute {
  index: number;
  /** "reviews.default[0]" or the route's name. */
  label: string;
  matches: CompiledMatch[];
  action: RouteAction;
  rewrite?: HTTPRewrite & { regex?: { re: RE2JS; replacement: string } };
  timeoutMs: number;
  retry: RetryPolicy;
  fault?: FaultPolicy;
  mirrors: { destination: CompiledDestination; percent: number }[];
  cors?: CompiledCors;
  headers?: Headers;
}

export interface CompiledVirtualService {
  key: string;
  name: string;
  namespace: string;
  hosts: string[];
  exportTo: string[];
  /** Some rule applies to sidecars: by the top-level gateways, or by a match whose own gateways include "mesh". */
  appliesToMesh: boolean;
  routes: CompiledRoute[];
  order: number;
}

export interface MergedDestinationRule {
  key: string;
  host: string;
  namespace: string;
  trafficPolicy?: TrafficPolicy;
  subsets: Map<string, Subset>;
  workloadSelector?: Record<string, string>;
  exportTo: string[];
}

function pct(p: { value?: number } | undefined, legacy: number | undefined, dflt: number): number {
  if (p) return p.value ?? 0;
  if (legacy !== undefined) return legacy;
  return dflt;
}

function compileHeaderConds(
  m: Record<string, import('../../contract/istio-schema.js').StringMatch> | undefined,
  skipPseudo: boolean
): HeaderCond[] {
  const out: HeaderCond[] = [];
  for (const [k, v] of Object.entries(m ?? {})) {
    const name = k.toLowerCase();
    if (skipPseudo && (name === 'uri' || name === 'scheme' || name === 'method' || name === 'authority')) continue;
    // header conditions only (skipPseudo): a claim keeps its case, as JWT claim names are case-sensitive
    const claim = skipPseudo ? claimPath(k) : undefined;
    out.push(claim ? { name: k, match: compileStringMatch(v), claim } : { name, match: compileStringMatch(v) });
  }
  return out;
}

const CLAIM_HEADER = '@request.auth.claims';

/**
 * The claim a VirtualService header name stands for, as Istio's ToRoutingClaim reads it: the prefix in any case, then
 * `.a.b` (nested by dots) or `[a][b]` (brackets, so a name may hold dots: `[issuer.example/groups]`); else a header.
 */
export function claimPath(name: string): string[] | undefined {
  if (!name.toLowerCase().startsWith(CLAIM_HEADER)) return undefined;
  const rest = name.slice(CLAIM_HEADER.length);
  if (rest.length > 1 && rest.startsWith('.')) return rest.slice(1).split('.');
  if (rest.length > 2 && rest.startsWith('[') && rest.endsWith(']')) return rest.slice(1, -1).split('][');
  return undefined;
}

function describeMatch(m: HTTPMatchRequest): string {
  const parts: string[] = [];
  if (m.uri) parts.push(`uri ${JSON.stringify(m.uri)}`);
  if (m.method) parts.push(`method ${JSON.stringify(m.method)}`);
  if (m.headers) parts.push(`headers ${JSON.stringify(m.headers)}`);
  if (m.withoutHeaders) parts.push(`withoutHeaders ${JSON.stringify(m.withoutHeaders)}`);
  if (m.queryParams) parts.push(`queryParams ${JSON.stringify(m.queryParams)}`);
  if (m.authority) parts.push(`authority ${JSON.stringify(m.authority)}`);
  if (m.scheme) parts.push(`scheme ${JSON.stringify(m.scheme)}`);
  if (m.port) parts.push(`port ${m.port}`);
  if (m.sourceLabels) parts.push(`sourceLabels ${JSON.stringify(m.sourceLabels)}`);
  if (m.sourceNamespace) parts.push(`sourceNamespace ${m.sourceNamespace}`);
  return parts.join(', ') || 'any request';
}

export function compileMatch(m: HTTPMatchRequest): CompiledMatch {
  const ic = m.ignoreUriCase === true;
  return {
    name: m.name,
    uri: m.uri ? [compileStringMatch(m.uri, ic && m.uri.regex === undefined)] : [],
    scheme: m.scheme ? compileStringMatch(m.scheme) : undefined,
    method: m.method ? compileStringMatch(m.method) : undefined,
    authority: m.authority ? compileStringMatch(m.authority) : undefined,
    headers: compileHeaderConds(m.headers, true),
    withoutHeaders: compileHeaderConds(m.withoutHeaders, true),
    queryParams: compileHeaderConds(m.queryParams, false),
    port: m.port,
    sourceLabels: m.sourceLabels,
    sourceNamespace: m.sourceNamespace,
    gateways: m.gateways,
    describe: describeMatch(m)
  };
}

function compileDest(
  d: { destination: { host: string; subset?: string; port?: { number: number } }; weight?: number; headers?: Headers },
  ns: string
): CompiledDestination {
  return {
    host: qualifyHost(d.destination.host, ns),
    subset: d.destination.subset,
    port: d.destination.port?.number,
    weight: d.weight ?? 0,
    headers: d.headers
  };
}

function compileCors(c: CorsPolicy): CompiledCors {
  // the deprecated allowOrigin only when allowOrigins is empty (TranslateCORSPolicy: one or the other, never both)
  const origins = c.allowOrigins?.length
    ? c.allowOrigins.map((o) => compileStringMatch(o))
    : (c.allowOrigin ?? []).map((o) => compileStringMatch({ exact: o }));
  return {
    origins,
    allowMethods: c.allowMethods?.join(','),
    allowHeaders: c.allowHeaders?.join(','),
    exposeHeaders: c.exposeHeaders?.join(','),
    maxAge: c.maxAge ? String(Math.floor(parseDuration(c.maxAge) / 1000)) : undefined,
    allowCredentials: c.allowCredentials === true,
    unmatchedPreflights: c.unmatchedPreflights === 'IGNORE' ? 'IGNORE' : 'FORWARD'
  };
}

export function compileRoute(
  r: HTTPRoute,
  index: number,
  vsLabel: string,
  ns: string,
  compat: Compat = NEWEST_COMPAT
): CompiledRoute {
  let action: RouteAction;
  if (r.redirect) action = { type: 'redirect', redirect: r.redirect };
  else if (r.directResponse) {
    const b = r.directResponse.body;
    const body =
      b?.string !== undefined ? Buffer.from(b.string) : b?.bytes !== undefined ? Buffer.from(b.bytes, 'base64') : null;
    action = { type: 'direct', status: r.directResponse.status, body };
  } else {
    const destinations = (r.route ?? []).map((d) => compileDest(d, ns));
    if (destinations.length === 1) destinations[0]!.weight = 1; // a single destination always gets 100%
    for (const d of destinations) {
      if (!d.headers) continue;
      d.requestOps = headerOpsOrder(r.headers?.request, d.headers.request, destinations.length > 1);
      d.responseOps = headerOpsOrder(r.headers?.response, d.headers.response, destinations.length > 1);
    }
    action = { type: 'route', destinations, totalWeight: destinations.reduce((a, d) => a + d.weight, 0) };
  }
  let fault: FaultPolicy | undefined;
  if (r.fault) {
    const d = r.fault.delay;
    const a = r.fault.abort;
    fault = {
      delayMs: d?.fixedDelay ? parseDuration(d.fixedDelay) : 0,
      delayPct: d ? pct(d.percentage, d.percent, 0) : 0,
      abortStatus: a?.httpStatus,
      abortGrpc: a?.grpcStatus,
      abortPct: a ? pct(a.percentage, undefined, 0) : 0
    };
  }
  const mirrors: CompiledRoute['mirrors'] = [];
  if (r.mirror) {
    mirrors.push({
      destination: compileDest({ destination: r.mirror }, ns),
      percent: pct(r.mirrorPercentage, r.mirrorPercent, 100)
    });
  }
  for (const m of r.mirrors ?? [])
    mirrors.push({
      destination: compileDest({ destination: m.destination }, ns),
      percent: pct(m.percentage, undefined, 100)
    });
  let rewrite: CompiledRoute['rewrite'];
  if (r.rewrite) {
    rewrite = { ...r.rewrite };
    // an empty uri rewrites nothing (Istio sets a prefix rewrite only for a non-empty one)
    if (rewrite.uri === '') delete rewrite.uri;
    if (r.rewrite.uriRegexRewrite) {
      rewrite.regex = {
        re: re2(r.rewrite.uriRegexRewrite.match),
        replacement: re2Substitution(r.rewrite.uriRegexRewrite.rewrite)
      };
    }
  }
  const label = r.name ? `${vsLabel}:${r.name}` : `${vsLabel}[${index}]`;
  const matches = (r.match ?? []).map(compileMatch);
  for (const m of matches) if (m.name) m.label = `${vsLabel}:${r.name ?? ''}.${m.name}`;
  const retry = compileRetry(r.retries, compat);
  // route.go: a single destination's consistent hash makes ConvertPolicy leave out the previous-hosts predicate
  // (weighted destinations and the default route keep it)
  if (action.type === 'route' && action.destinations.length === 1 && r.retries?.retryIgnorePreviousHosts === undefined)
    retry.hashIgnorePreviousHosts = false;
  return {
    index,
    label,
    matches,
    action,
    rewrite,
    timeoutMs: r.timeout ? parseDuration(r.timeout) : 0,
    retry,
    fault,
    mirrors,
    cors: r.corsPolicy ? compileCors(r.corsPolicy) : undefined,
    headers: r.headers
  };
}

/** AND two matches (delegate merged under its root). */
function mergeMatch(root: CompiledMatch, child: CompiledMatch): CompiledMatch {
  return {
    name: child.name ?? root.name,
    uri: [...root.uri, ...child.uri],
    scheme: child.scheme ?? root.scheme,
    method: child.method ?? root.method,
    authority: child.authority ?? root.authority,
    headers: [...root.headers, ...child.headers],
    withoutHeaders: [...root.withoutHeaders, ...child.withoutHeaders],
    queryParams: [...root.queryParams, ...child.queryParams],
    port: child.port ?? root.port,
    sourceLabels: root.sourceLabels ?? child.sourceLabels,
    sourceNamespace: root.sourceNamespace ?? child.sourceNamespace,
    gateways: root.gateways,
    describe: `${root.describe} + ${child.describe}`
  };
}

export function compileVirtualServices(
  resources: IstioResource[],
  compat: Compat = NEWEST_COMPAT
): CompiledVirtualService[] {
  const vsByKey = new Map<string, IstioResource<VirtualServiceSpec>>();
  for (const r of resources)
    if (r.kind === 'VirtualService') vsByKey.set(`${r.namespace}/${r.name}`, r as IstioResource<VirtualServiceSpec>);
  const out: CompiledVirtualService[] = [];
  for (const r of vsByKey.values()) {
    const spec = r.spec;
    if (!spec.hosts || spec.hosts.length === 0) continue; // a delegate: used only through its root
    const label = `${r.name}.${r.namespace}`;
    const routes: CompiledRoute[] = [];
    (spec.http ?? []).forEach((h, i) => {
      if (!h.delegate) {
        routes.push(compileRoute(h, i, label, r.namespace, compat));
        return;
      }
      const dkey = `${h.delegate.namespace ?? r.namespace}/${h.delegate.name}`;
      const del = vsByKey.get(dkey);
      if (!del) return; // reported by validation
      const rootMatches = (h.match ?? []).map(compileMatch);
      (del.spec.http ?? []).forEach((dh, j) => {
        const c = compileRoute(dh, j, `${label}[${i}]->${del.name}.${del.namespace}`, del.namespace, compat);
        if (rootMatches.length > 0) {
          const childMatches = c.matches.length > 0 ? c.matches : [compileMatch({})];
          c.matches = rootMatches.flatMap((rm) => childMatches.map((cm) => mergeMatch(rm, cm)));
        }
        routes.push(c);
      });
    });
    out.push({
      key: `${r.namespace}/${r.name}`,
      name: r.name,
      namespace: r.namespace,
      hosts: spec.hosts.map((h) => qualifyHost(h, r.namespace)),
      exportTo: spec.exportTo ?? ['*'],
      appliesToMesh:
        meshGateways(spec.gateways, true) ||
        routes.some((rt) => rt.matches.some((m) => meshGateways(m.gateways, false))),
      routes,
      order: r.order
    });
  }
  return out.sort((a, b) => a.order - b.order);
}

/** Do these gateways include the sidecars ("mesh")? Omitted or empty: `inherited`. */
function meshGateways(gateways: string[] | undefined, inherited: boolean): boolean {
  return !gateways || gateways.length === 0 ? inherited : gateways.includes('mesh');
}

/**
 * Istio's sourceMatchHTTP for a sidecar: a match that names gateways is kept by them alone ("mesh" among them), its
 * sourceLabels and sourceNamespace unread; any other by its sourceLabels and sourceNamespace.
 */
function sourceMatch(m: CompiledMatch, caller: WorkloadInfo | undefined): boolean {
  if (m.gateways && m.gateways.length > 0) return m.gateways.includes('mesh');
  return (
    (!m.sourceLabels || (caller !== undefined && labelsMatch(m.sourceLabels, caller.labels))) &&
    (!m.sourceNamespace || caller?.namespace === m.sourceNamespace)
  );
}

export function visibleTo(exportTo: string[], ownNs: string, callerNs: string): boolean {
  return exportTo.some((e) => e === '*' || (e === '.' && ownNs === callerNs) || e === callerNs);
}

/**
 * The routes of one VS as one caller sees them on one service port: matches excluded by port, sourceLabels,
 * sourceNamespace or gateways are dropped (Istio's translateRoute builds each listener port's routes without them).
 */
export function routesForCaller(
  vs: CompiledVirtualService,
  caller: WorkloadInfo | undefined,
  port: number
): CompiledRoute[] | undefined {
  const out: CompiledRoute[] = [];
  let anyRuleHadMatches = false;
  let anyKept = false;
  for (const r of vs.routes) {
    if (r.matches.length === 0) {
      out.push(r);
      anyKept = true;
      continue;
    }
    anyRuleHadMatches = true;
    // a match's own gateways override the top-level list (istio-semantics §1.1); as in Istio's sourceMatchHTTP, a
    // match without any is kept once the VirtualService reaches the sidecars (by its own gateways or a match's)
    const kept = r.matches.filter((m) => (m.port === undefined || m.port === port) && sourceMatch(m, caller));
    if (kept.length === 0) continue;
    anyKept = true;
    out.push(kept.length === r.matches.length ? r : { ...r, matches: kept });
  }
  // every match excluded for this caller on this port, or no HTTP rule at all (a VirtualService of tcp/tls routes
  // only): no virtual host, as Istio's buildSidecarVirtualHostsForVirtualService drops one without HTTP routes, so
  // the host keeps its default route
  if (out.length === 0 || (anyRuleHadMatches && !anyKept)) return undefined;
  return out;
}

/** DestinationRules merged per (namespace, host), Istio's merge rules: subsets concatenated, first policy wins. */
export function mergeDestinationRules(resources: IstioResource[]): MergedDestinationRule[] {
  const merged = new Map<string, MergedDestinationRule>();
  const drs = resources
    .filter((r) => r.kind === 'DestinationRule')
    .sort((a, b) => a.order - b.order) as IstioResource<DestinationRuleSpec>[];
  for (const r of drs) {
    const host = qualifyHost(r.spec.host, r.namespace);
    const sel = r.spec.workloadSelector?.matchLabels;
    const key = `${r.namespace}|${host}|${sel ? JSON.stringify(sel) : ''}`;
    let m = merged.get(key);
    if (!m) {
      m = {
        key: `${r.namespace}/${r.name}`,
        host,
        namespace: r.namespace,
        trafficPolicy: r.spec.trafficPolicy,
        subsets: new Map(),
        workloadSelector: sel,
        exportTo: r.spec.exportTo ?? ['*']
      };
      merged.set(key, m);
    }
    // the first rule's top-level policy wins; a later one's is taken when the first has none (Istio's merge)
    else if (!m.trafficPolicy && r.spec.trafficPolicy) m.trafficPolicy = r.spec.trafficPolicy;
    for (const s of r.spec.subsets ?? []) if (!m.subsets.has(s.name)) m.subsets.set(s.name, s);
  }
  return [...merged.values()];
}

/** Lookup order for a caller: its own namespace, then the service's namespace, then the root namespace. */
export function findDestinationRule(
  drs: MergedDestinationRule[],
  host: string,
  serviceNs: string,
  caller: WorkloadInfo | undefined
): MergedDestinationRule | undefined {
  const callerNs = caller?.namespace;
  if (drs.length === 0) return undefined;
  const candidates = drs.filter((d) => hostMatches(d.host, host));
  if (candidates.length === 0) return undefined;
  // the most specific host first (an exact name, then the longest wildcard), creation order among equals, as
  // Istio's MostSpecificHostMatch
  if (candidates.length > 1) candidates.sort((a, b) => hostSpecificity(b.host) - hostSpecificity(a.host));
  return (
    pickDestinationRule(candidates, callerNs, caller) ??
    pickDestinationRule(candidates, serviceNs, caller) ??
    pickDestinationRule(candidates, ROOT_NAMESPACE, caller)
  );
}

function hostSpecificity(h: string): number {
  return h.startsWith('*') ? h.length : Number.MAX_SAFE_INTEGER;
}

/** The first candidate of namespace `ns` that applies to the caller (a module function: no closure per request). */
function pickDestinationRule(
  candidates: MergedDestinationRule[],
  ns: string | undefined,
  caller: WorkloadInfo | undefined
): MergedDestinationRule | undefined {
  if (ns === undefined) return undefined;
  const callerNs = caller?.namespace;
  for (const d of candidates) {
    if (
      d.namespace === ns &&
      (!d.workloadSelector ||
        (caller && caller.namespace === d.namespace && labelsMatch(d.workloadSelector, caller.labels))) &&
      visibleTo(d.exportTo, d.namespace, callerNs ?? ns)
    )
      return d;
  }
  return undefined;
}

/** The four components of a traffic policy that a port-level setting replaces. */
type PolicyComponent = 'loadBalancer' | 'connectionPool' | 'outlierDetection' | 'tls';

/**
 * One component of a DestinationRule's traffic policy for a destination, as Istio merges them (istio-semantics §1.3,
 * MergeTrafficPolicy): a subset's component replaces the top level's wholesale (no field merging); an entry of a
 * policy's `portLevelSettings` for the port replaces all four components of that policy, and one it omits falls back
 * to the defaults (undefined here), not to the policy around it.
 */
export function policyComponent<K extends PolicyComponent>(
  dr: MergedDestinationRule | undefined,
  subset: string | undefined,
  port: number,
  component: K
): TrafficPolicy[K] | undefined {
  if (!dr) return undefined;
  const sub = subset ? dr.subsets.get(subset)?.trafficPolicy : undefined;
  return (componentOf(sub, port, component) ?? componentOf(dr.trafficPolicy, port, component))?.value;
}

/** A policy's component for a port: found (maybe as the default) or not set at this level. */
function componentOf<K extends PolicyComponent>(
  tp: TrafficPolicy | undefined,
  port: number,
  component: K
): { value: TrafficPolicy[K] | undefined } | undefined {
  if (!tp) return undefined;
  const pl = tp.portLevelSettings?.find((p) => p.port?.number === port);
  if (pl) return { value: pl[component] };
  return tp[component] !== undefined ? { value: tp[component] } : undefined;
}

/** Effective LB for a destination (policyComponent); undefined: the default, LEAST_REQUEST. */
export function effectiveLoadBalancer(
  dr: MergedDestinationRule | undefined,
  subset: string | undefined,
  port: number
): LoadBalancerSettings | undefined {
  return policyComponent(dr, subset, port, 'loadBalancer');
}

/**
 * A DestinationRule's `connectionPool.tcp.connectTimeout` in ms for a destination (the effective connectionPool, see
 * policyComponent), or undefined for the default (10 s).
 */
export function effectiveConnectTimeoutMs(
  dr: MergedDestinationRule | undefined,
  subset: string | undefined,
  port: number
): number | undefined {
  const v = (policyComponent(dr, subset, port, 'connectionPool') as { tcp?: { connectTimeout?: unknown } } | undefined)
    ?.tcp?.connectTimeout;
  const ms = durationMs(v);
  return ms !== undefined && ms > 0 ? ms : undefined;
}

/** The Sidecar resource that configures a caller: its own by workloadSelector, its namespace's, the root's. */
export function sidecarFor(resources: IstioResource[], caller: WorkloadInfo): IstioResource<SidecarSpec> | undefined {
  const sidecars = resources.filter((r) => r.kind === 'Sidecar') as IstioResource<SidecarSpec>[];
  const specific = sidecars.find(
    (s) =>
      s.namespace === caller.namespace &&
      s.spec.workloadSelector?.labels &&
      labelsMatch(s.spec.workloadSelector.labels, caller.labels)
  );
  const nsWide = sidecars.find((s) => s.namespace === caller.namespace && !s.spec.workloadSelector);
  const root = sidecars.find((s) => s.namespace === ROOT_NAMESPACE && !s.spec.workloadSelector);
  return specific ?? nsWide ?? root;
}

/**
 * Which services a caller's sidecar knows: a ServiceEntry only where its exportTo reaches the caller's namespace,
 * and with a Sidecar resource only the hosts its egress listeners import (`ns/host`: ns `*`, `.` the caller's own,
 * `~` none, or a name; host `*`, `*.suffix` or a name). Hosts outside are unknown to the caller (istio-semantics
 * §1.6): passthrough under ALLOW_ANY, 502 under REGISTRY_ONLY. Asked with a port, the egress listener for that port
 * decides (else the catch-all one); without, any listener's import will do (its clusters: a route may name it).
 */
export function serviceVisibility(
  resources: IstioResource[],
  caller: WorkloadInfo | undefined,
  callerNs: string
): (service: { fqdn: string; namespace: string; exportTo?: string[] }, port?: number) => boolean {
  const sc = caller ? sidecarFor(resources, caller) : undefined;
  // each egress listener: its port (none: the catch-all) and the `ns/host` entries it imports
  const listeners = (sc?.spec.egress ?? []).map((e) => ({
    port: (e.port as { number?: unknown } | undefined)?.number,
    imports: e.hosts.map((h) => {
      const slash = h.indexOf('/');
      return slash < 0
        ? { ns: '*', host: h.toLowerCase() }
        : { ns: h.slice(0, slash), host: h.slice(slash + 1).toLowerCase() };
    })
  }));
  const catchAll = listeners.find((l) => typeof l.port !== 'number');
  const imports = (l: (typeof listeners)[number], service: { fqdn: string; namespace: string }) =>
    l.imports.some(
      (i) =>
        (i.ns === '*' ||
          (i.ns === '.' ? service.namespace === callerNs : i.ns !== '~' && i.ns === service.namespace)) &&
        (i.host === '*' || hostMatches(i.host, service.fqdn))
    );
  return (service, port) => {
    if (service.exportTo && !visibleTo(service.exportTo, service.namespace, callerNs)) return false;
    if (listeners.length === 0) return true;
    // on a port an egress listener names, that listener's hosts decide, else the catch-all's (Istio builds the
    // port's outbound listener from the one egress listener for it)
    if (port !== undefined) {
      const l = listeners.find((x) => x.port === port) ?? catchAll;
      return l !== undefined && imports(l, service);
    }
    return listeners.some((l) => imports(l, service));
  };
}

/**
 * Which VirtualServices a caller's sidecar imports: with a Sidecar resource, those whose namespace one of its egress
 * hosts names (`ns/host`: ns `*` any, `.` the caller's own, `~` none) with a host overlapping one of the
 * VirtualService's (a wildcard either side: `*.cluster.local` attaches to an imported `known.default.svc...`), as
 * Istio's SidecarScope selectVirtualServices; without one, every VirtualService (exportTo decides).
 */
export function virtualServiceImports(
  resources: IstioResource[],
  caller: WorkloadInfo | undefined,
  callerNs: string
): (vs: { namespace: string; hosts: string[] }) => boolean {
  const egress = caller ? sidecarFor(resources, caller)?.spec.egress : undefined;
  if (!egress || egress.length === 0) return () => true;
  const imports = egress.flatMap((e) =>
    e.hosts.map((h) => {
      const slash = h.indexOf('/');
      const ns = slash < 0 ? '*' : h.slice(0, slash);
      return { ns: ns === '.' ? callerNs : ns, host: h.slice(slash + 1).toLowerCase() };
    })
  );
  return (vs) =>
    imports.some((i) => (i.ns === '*' || i.ns === vs.namespace) && vs.hosts.some((h) => hostsOverlap(i.host, h)));
}

/** Do two host patterns (FQDNs, `*.suffix` wildcards or `*`) have a name in common (Istio's host.Name.Matches)? */
export function hostsOverlap(a: string, b: string): boolean {
  if (a === '*' || b === '*') return true;
  if (a.startsWith('*.') && b.startsWith('*.')) return a.endsWith(b.slice(1)) || b.endsWith(a.slice(1));
  return hostMatches(a, b) || hostMatches(b, a);
}

/** The outbound-traffic mode for a caller: its Sidecar resource (selector, else namespace-wide), else the mesh default. */
export function outboundMode(
  resources: IstioResource[],
  caller: WorkloadInfo | undefined,
  meshDefault: 'ALLOW_ANY' | 'REGISTRY_ONLY'
): 'ALLOW_ANY' | 'REGISTRY_ONLY' {
  if (!caller) return meshDefault;
  return sidecarFor(resources, caller)?.spec.outboundTrafficPolicy?.mode ?? meshDefault;
}
