/**
 * The outbound (client) sidecar of one workload: Istio's client-side half (istio-semantics §1.0). Its app reaches it
 * as an HTTP proxy (absolute-form), by Host header, or on a dedicated per-service port. Filter order (design §4):
 * route → CORS → fault → destination by weight → subset/DR → endpoint → try with retries and timeout → response
 * header ops → telemetry.
 */
import { isHttp10, withCookieLines, withoutKeepAliveHeader } from './envoy-http.js';
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
  type OutgoingHttpHeaders
} from 'node:http';
import https from 'node:https';
import { upstreamTls } from '../filters/upstream-tls.js';
import type { MergedDestinationRule } from '../config/compile.js';
import type { LoadBalancerSettings } from '../../contract/istio-schema.js';
import type { Duplex } from 'node:stream';
import type { CompiledDestination, CompiledMatch, CompiledRoute, RetryPolicy } from '../config/compile.js';
import { shadowHost } from '../config/compat.js';
import { sniff } from './sniff.js';
import { connectTunnel, destinationPort, inspect, outboundTcp } from './tcp.js';
import { NO_RETRY, defaultRetry, effectiveLoadBalancer, findDestinationRule } from '../config/compile.js';
import { endpointsOn, labelsMatch, type ServiceEndpoint, type ServiceInfo, type WorkloadInfo } from '../registry.js';
import type { Snapshot, HostRoutes } from '../snapshot.js';
import { needsClaims, selectRoute, type MatchInput } from '../filters/route-match.js';
import { authenticate } from '../security/jwt.js';
import { corsFilter } from '../filters/cors.js';
import { faultFilter } from '../filters/fault.js';
import { buildRedirect, rewritePath } from '../filters/rewrite.js';
import { endpointKey, pickEndpoint, type LbRequest } from './lb.js';
import {
  Exchange,
  applyHeaderOps,
  forwardableHeaders,
  HOP_BY_HOP,
  keepAddresses,
  opsAuthority,
  withEnvoyHeaders
} from './exchange.js';
import { LocalReplies } from './local-reply.js';
import { RequestBody } from './request-body.js';
import { tryUpstream } from './upstream.js';
import { Abort } from './abort.js';
import { FastConnection, FastRequest, FastResponse, UpstreamPool } from './fast-lane.js';
import { AgentSet, type ConnectionLifecycle } from './lifecycle.js';
import { ClientRelay, fastTry, type BodySink, type FastTryOutcome, type ResponseBody } from './fast-try.js';
import {
  ENVOY_INLINE_REQUEST_HEADERS,
  ENVOY_INLINE_RESPONSE_HEADERS,
  envoyResponseHeaders,
  requestHead
} from './h1.js';
import {
  circuitPolicies,
  heldCircuit,
  ClusterCircuit,
  statusResult,
  type OutlierPolicy,
  type PoolLimits
} from './circuit.js';
import { answerTunnel, TunnelResponse, tunnelTry, upgradeHeaders } from './tunnel.js';
import type net from 'node:net';
import { isIP } from 'node:net';
import type tls from 'node:tls';
import type { SidecarHost } from './host.js';
import { unsampled } from '../telemetry/tracing.js';
import { splitAuthority } from '../config/hosts.js';
import { absoluteTarget, normalizeTarget } from '../util/path.js';
import { addressText } from '../telemetry/access-log.js';

type Req = IncomingMessage | FastRequest;
type Res = ServerResponse | FastResponse | TunnelResponse;
type RespondOptions = {
  route: CompiledRoute | undefined;
  dest: CompiledDestination | undefined;
  extraResponseHeaders?: Record<string, string>;
};

/**
 * Headers an app may not use to steer the client sidecar: Envoy's cleanInternalHeaders removes them from a request
 * that is not internal (the app's has no X-Forwarded-For), and the sidecar sets its own where it uses them.
 */
const STRIPPED = new Set([
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-original-url',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-max-retries',
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-hedge-on-per-try-timeout',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-attempt-count',
  'x-envoy-original-path',
  'x-envoy-peer-metadata-id',
  'x-envoy-peer-metadata',
  // the app's connection to its sidecar is not mutual TLS, so Envoy sanitizes the header (the callee's sidecar sets it)
  'x-forwarded-client-cert'
]);

const SERVER = 'envoy';

export interface OutboundTarget {
  /** Set for a dedicated per-service listener: every request goes to this service. */
  service?: { name: string; namespace: string; port: number };
}

interface Resolved {
  snap: Snapshot;
  caller: WorkloadInfo | undefined;
  authority: string;
  path: string;
  pathOnly: string;
  query: string;
  port: number;
  service: ServiceInfo | undefined;
  hostRoutes: HostRoutes | undefined;
  headers: OutgoingHttpHeaders;
  /**
   * A mesh service this caller's sidecar does not import (Sidecar egress hosts), reached by its address under
   * ALLOW_ANY: the request takes the PassthroughCluster to the original destination, the service's ClusterIP, which
   * kube-proxy hands to one of its pods (passThrough).
   */
  passthrough: { service: ServiceInfo; port: number } | undefined;
}

/**
 * What a dedicated per-service port stands for under one config (OutboundSidecar.dedicatedIn): the service, or, when
 * the caller's sidecar does not import it, nothing of its registry (`found` undefined) and, under ALLOW_ANY, the
 * service whose address the PassthroughCluster reaches.
 */
interface DedicatedTarget {
  snap: Snapshot;
  found: { service: ServiceInfo; port: number } | undefined;
  passthrough: { service: ServiceInfo; port: number } | undefined;
}

/** kube-proxy's choice among a Service's pods for a connection to its ClusterIP (iptables mode: random). */
const KUBE_PROXY: LoadBalancerSettings = { simple: 'RANDOM' };

/** What route matching reads of a resolved request. */
function matchInput(r: Resolved, method: string, headers: IncomingHttpHeaders): MatchInput {
  return { method, authority: r.authority, scheme: 'http', path: r.pathOnly, query: r.query, port: r.port, headers };
}

/** Where forward() sends a request: the endpoints and policies the route picked. */
interface ForwardOptions {
  endpoints: ServiceEndpoint[];
  clusterKey: string;
  retry: RetryPolicy;
  timeoutMs: number;
  route: CompiledRoute | undefined;
  dest: CompiledDestination | undefined;
  lb: ReturnType<typeof effectiveLoadBalancer>;
  dr?: MergedDestinationRule;
  service?: ServiceInfo;
  port?: number;
  extraResponseHeaders?: Record<string, string>;
  /** The DestinationRule's connectTimeout, when it sets one. */
  connectTimeoutMs?: number;
  /** Circuit breaking (connectionPool), when the rule sets limits. */
  limits?: PoolLimits;
  /** The upstream connections' lifecycle (connectionPool), when the rule sets one. */
  life?: ConnectionLifecycle;
  /** Outlier detection, when the rule sets it. */
  outlier?: OutlierPolicy;
  /** The destination's policy as text (CircuitPolicies.fingerprint): a new one starts a new circuit. */
  circuitFingerprint?: string;
}

export class OutboundSidecar {
  /**
   * node:http's pools (lifecycle.ts): to apps, an idle socket closes after IDLE_LIMIT_MS, as the fast lane's
   * (fast-lane.ts); TLS agents one per set of TLS options; each per cluster lifecycle (connectionPool) too.
   */
  private readonly agents = new AgentSet();

  /** Upgrade requests in progress and open tunnels, torn down when the sidecar closes. */
  private readonly tunnels = new Set<TunnelResponse>();

  constructor(
    readonly workload: string,
    private readonly host: SidecarHost,
    private readonly target: OutboundTarget = {}
  ) {}

  close(): void {
    this.agents.destroy();
    for (const p of this.pools) p.close();
    for (const t of this.tunnels) t.destroy();
  }

  /** The fast lane's pools: plaintext by address, mutual TLS by the (per endpoint, cached) TLS options too. */
  private readonly pools: UpstreamPool[] = [];
  private readonly plainPools = new Map<string, UpstreamPool>();
  private readonly tlsPools = new WeakMap<tls.ConnectionOptions, Map<string, UpstreamPool>>();

  private poolFor(
    host: string,
    port: number,
    secure: tls.ConnectionOptions | undefined,
    life: ConnectionLifecycle | undefined
  ): UpstreamPool {
    const key = life ? `${host}:${port}|${life.key}` : `${host}:${port}`;
    let byAddr = this.plainPools;
    if (secure) {
      let m = this.tlsPools.get(secure);
      if (!m) this.tlsPools.set(secure, (m = new Map()));
      byAddr = m;
    }
    let p = byAddr.get(key);
    if (!p) {
      p = new UpstreamPool(host, port, () => this.host.connectTimeoutMs, secure, undefined, life);
      byAddr.set(key, p);
      this.pools.push(p);
    }
    return p;
  }

  /**
   * Serve an app's connection: the fast lane first (absolute-form targets too on the proxy port), node:http for what
   * it hands over (fast-lane.ts).
   */
  accept(sock: net.Socket, server: http.Server): void {
    const service = this.target.service;
    if (!service) return this.serve(sock, server);
    const protocol = this.host
      .snapshot()
      .registry.serviceByFqdn.get(`${service.name}.${service.namespace}.svc.cluster.local`)?.protocol;
    // a port declared HTTP: the HTTP pipeline, but Envoy's codec answers HTTP/1.0 with 426 (routing.go "http10 to http")
    if (protocol === 'http')
      return sniff(sock, (s) => {
        if (!s) return void sock.destroy();
        inspect(sock, s.head, (kind, head) => {
          if (kind === null) return void sock.destroy();
          if (isHttp10(head))
            return this.host.codecError(sock, 426, head.length, { reporter: 'source', workload: this.workload });
          sock.unshift(head);
          this.serve(sock, server);
          sock.resume();
        });
      });
    // a byte stream from the first byte (the server may speak first: nothing to detect)
    if (protocol === 'tcp') return outboundTcp(this.host, this.workload, service, sock, Buffer.alloc(0));
    // a dedicated upstream port: HTTP to the HTTP pipeline, any other stream (TLS included) to the service as TCP
    sniff(sock, (s) => {
      if (!s) return void sock.destroy();
      const tcp = (head: Buffer) => outboundTcp(this.host, this.workload, service, sock, head);
      if (s.kind === 'tls') return tcp(s.head);
      inspect(sock, s.head, (kind, head) => {
        if (kind === null) return void sock.destroy();
        if (kind === 'tcp') return tcp(head);
        sock.unshift(head);
        this.serve(sock, server);
        sock.resume();
      });
    });
  }

  private serve(sock: net.Socket, server: http.Server): void {
    // HTTP keeps Node's answer to a client's FIN (sniff() let it half-close while the protocol was undecided)
    sock.allowHalfOpen = false;
    if (this.host.fastLane)
      new FastConnection(sock, this.handle, (s) => server.emit('connection', s), !this.target.service);
    else server.emit('connection', sock);
  }

  private resolve(req: Req): Resolved {
    const snap = this.host.snapshot();
    const view = snap.callerView(this.workload);
    const caller = view.caller;
    let authority: string;
    let path: string;
    const url = req.url ?? '/';
    const abs = this.target.service ? undefined : absoluteTarget(url);
    if (this.target.service) {
      // the app reached the service by this port, so its Host is usually this port's (127.0.0.1:<port>): the request
      // goes on as the service's; a Host naming the service itself (any form, any port: Istio's sidecar routes ignore
      // the port in Host matching) goes on as sent, as Istio forwards it
      const s = this.target.service;
      const sent = req.headers.host;
      // every form that names the service starts with its name: the usual 127.0.0.1:<port> skips the lookup
      const named =
        sent !== undefined && sent.slice(0, s.name.length).toLowerCase() === s.name
          ? snap.registry.resolveAuthority(splitAuthority(sent).host, caller?.namespace ?? snap.mesh.spec.namespace)
          : undefined;
      authority =
        sent && named?.service.fqdn === `${s.name}.${s.namespace}.svc.cluster.local` ? sent : `${s.name}:${s.port}`;
      path = url;
    } else if (abs) {
      authority = abs.authority;
      path = abs.path;
    } else {
      authority = req.headers.host ?? '';
      path = url;
    }
    path = normalizeTarget(path);
    const headers = forwardableHeaders(req, STRIPPED);
    headers.host = authority;
    const q = path.indexOf('?');
    const pathOnly = q < 0 ? path : path.slice(0, q);
    const query = q < 0 ? '' : path.slice(q + 1);
    const callerNs = caller?.namespace ?? snap.mesh.spec.namespace;
    let found: { service: ServiceInfo; port: number } | undefined;
    let passthrough: { service: ServiceInfo; port: number } | undefined;
    const { host: hostOnly, port: authPort } = splitAuthority(authority);
    if (this.target.service) {
      const d = this.dedicatedIn(snap);
      found = d.found;
      passthrough = d.passthrough;
    } else {
      found = snap.registry.resolveAuthority(authority, callerNs);
      // a service this caller's sidecar does not import (Sidecar egress, ServiceEntry exportTo) is an unknown host;
      // of several ServiceEntries for one host that do not merge, the one it knows
      if (found) {
        const v = view.variantOf(found.service);
        const port = v && authPort === undefined ? (v.ports[0] ?? 80) : found.port;
        // on a port with an egress listener of its own, that listener's hosts decide
        if (v && (v.ports.length === 0 || v.ports.includes(port)) && view.sees(v, port)) found = { service: v, port };
        else {
          // a mesh service's name is still its ClusterIP to the app (cluster DNS knows nothing of Sidecars): under
          // ALLOW_ANY the PassthroughCluster takes the request there, as from its dedicated port
          if (found.service.kind === 'mesh' && view.outboundMode === 'ALLOW_ANY') passthrough = found;
          found = undefined;
        }
      }
    }
    // Istio builds a VirtualService's virtual hosts on the HTTP ports of the services it names, and on port 80 alone
    // when it names none the registry knows (istiod's "port 80 hack"): a known host on a port it does not declare,
    // or an unknown host on another port, is not routed by it (passthrough, or 502 under REGISTRY_ONLY). Its hosts
    // that name no service are virtual hosts of their own on those ports, and one written as the request names a
    // service (`reviews.default`) takes that name from the service's virtual host (Envoy's exact domain match)
    let hostRoutes: HostRoutes | undefined;
    if (!found) hostRoutes = view.aliasRoutesFor(hostOnly, authPort ?? 80);
    // a ServiceEntry port declared TCP (TLS, ...) has no HTTP routes: the request keeps the default route
    else if (!found.service.opaquePorts?.has(found.port))
      hostRoutes =
        (hostOnly !== found.service.fqdn && view.isAliasHost(hostOnly)
          ? view.aliasRoutesFor(hostOnly, found.port, true)
          : undefined) ?? view.routesFor(found.service.fqdn, found.port);
    return {
      snap,
      caller,
      authority,
      path,
      pathOnly,
      query,
      port: found?.port ?? passthrough?.port ?? authPort ?? 80,
      service: found?.service,
      hostRoutes,
      headers,
      passthrough
    };
  }

  /** The last config's DedicatedTarget: a decision of the config alone, made once per config and port. */
  private dedicated: DedicatedTarget | undefined;

  /**
   * What this dedicated port stands for under `snap`. It is the service's address: one this caller's sidecar does not
   * import is no service of its registry, so the request is not routed as one (no VirtualService, DestinationRule or
   * mutual TLS of the caller): REGISTRY_ONLY blackholes it (502) as it does the same request by name, ALLOW_ANY
   * passes it through to that address.
   */
  private dedicatedIn(snap: Snapshot): DedicatedTarget {
    const d = this.dedicated;
    if (d !== undefined && d.snap === snap) return d;
    const t = this.target.service!;
    const view = snap.callerView(this.workload);
    const service = snap.registry.serviceByFqdn.get(`${t.name}.${t.namespace}.svc.cluster.local`);
    const at = service && { service, port: t.port };
    const imported = at !== undefined && view.sees(at.service, at.port);
    return (this.dedicated = {
      snap,
      found: imported ? at : undefined,
      passthrough: at !== undefined && !imported && view.outboundMode === 'ALLOW_ANY' ? at : undefined
    });
  }

  /**
   * JWT claims for `@request.auth.claims.*` route matches. Istio has them only where the proxy validated the token
   * itself (a RequestAuthentication selecting it, as on an ingress gateway); here: the RequestAuthentications that
   * select this caller. An invalid or missing token means no claims (the match fails); it is not rejected here.
   */
  private async claims(ex: Exchange, req: Req, snap: Snapshot): Promise<Record<string, unknown> | null> {
    const w = snap.registry.workloadByName.get(this.workload);
    const rules = w ? this.host.jwtRules(w) : [];
    if (rules.length === 0) {
      ex.note('jwt', `claim match: no RequestAuthentication selects ${this.workload}, so the request has no claims`);
      return null;
    }
    const jwt = await authenticate(rules, req.headers, ex.path);
    if (jwt.status === 'ok') {
      ex.note('jwt', `claim match: valid token of ${jwt.principal} (${jwt.rule.policy})`);
      return jwt.metadata;
    }
    ex.note(
      'jwt',
      jwt.status === 'fail'
        ? `claim match: token not valid (${jwt.reason}), so no claims`
        : 'claim match: no token, so no claims'
    );
    return null;
  }

  handle = (req: Req, res: Res): void => {
    if (!(req instanceof FastRequest)) withEnvoyHeaders(req);
    const snap = this.host.snapshot();
    const ex = new Exchange(req, res, 'source', this.workload, snap, this.host.emitFlow);
    if (this.host.accessLog) keepAddresses(req.socket);
    this.run(ex, req, res).catch((err: Error) => {
      ex.note('error', err.stack ?? String(err));
      if (!res.headersSent) ex.sendLocal(LocalReplies.upstreamReset('connection-termination', false), SERVER);
      else res.destroy();
    });
  };

  private async run(ex: Exchange, req: Req, res: Res): Promise<void> {
    const r = this.resolve(req);
    ex.authority = r.authority;
    ex.path = r.path;
    ex.upstreamHeaders = r.headers;
    ex.ensureRequestId(r.headers);
    ex.beginSpan(r.headers);
    ex.takeReplayMarker(r.headers);
    // Envoy sets it when absent (use_remote_address is off on a sidecar): an app's own value goes on
    r.headers['x-forwarded-proto'] ??= 'http';
    ex.destinationService = r.service?.fqdn ?? r.authority;
    if (this.host.flowStartSubscribers !== 0) this.host.emitFlowStart(ex);
    // HTTP/1.0 to a service declared HTTP: Envoy's codec on its HTTP listener answers 426 before any filter
    if ('httpVersion' in req && req.httpVersion === '1.0' && r.service?.protocol === 'http') {
      ex.sendLocal(LocalReplies.upgradeRequired(), SERVER, (h) => (h.connection = 'close'));
      return;
    }
    const match = matchInput(r, ex.method, req.headers);
    if (r.hostRoutes && needsClaims(r.hostRoutes.routes)) match.claims = await this.claims(ex, req, r.snap);

    // ---- route selection
    let route: CompiledRoute | undefined;
    let matched: CompiledMatch | undefined;
    if (r.hostRoutes) {
      ex.virtualService = r.hostRoutes.vs.key;
      const sel = selectRoute(r.hostRoutes.routes, match);
      if (!sel) {
        ex.note('route', `VirtualService ${r.hostRoutes.vs.key}: no rule matched ${ex.method} ${r.pathOnly}`);
        ex.sendLocal(LocalReplies.noRoute(), SERVER);
        return;
      }
      route = sel.route;
      matched = sel.match;
      ex.rule = matched?.label ?? route.label;
      ex.note(
        'route',
        `VirtualService ${r.hostRoutes.vs.key} rule ${route.label} matched (${matched ? matched.describe : 'no match conditions'})`
      );
    } else if (r.service) {
      ex.note('route', `no VirtualService for ${r.service.fqdn}: default route`);
    } else {
      // a host the registry does not know
      const mode = r.snap.callerView(this.workload).outboundMode;
      if (mode === 'REGISTRY_ONLY') {
        ex.note('route', `${r.authority} is not in the registry and outboundTrafficPolicy is REGISTRY_ONLY`);
        ex.destinationService = 'BlackHoleCluster';
        ex.sendLocal(LocalReplies.registryOnly(), SERVER);
        return;
      }
      if (r.passthrough) return this.passThrough(ex, req, res, r, r.passthrough);
      const { host, port } = splitAuthority(r.authority);
      if (this.host.isOwnListener(host, port ?? 80)) {
        // a request addressed to a localmesh listener itself would loop through the passthrough forever
        ex.note('route', `${r.authority} is a localmesh listener, not a service: no route`);
        ex.sendLocal(LocalReplies.noRoute(), SERVER);
        return;
      }
      ex.note('route', `${r.authority} is not in the registry: ALLOW_ANY passthrough`);
      ex.destinationService = 'PassthroughCluster';
      await this.forward(ex, req, res, r, {
        endpoints: [
          { host: host === 'localhost' ? '127.0.0.1' : host.replace(/^\[|\]$/g, ''), port: port ?? 80, labels: {} }
        ],
        clusterKey: `passthrough|${r.authority}`,
        // Istio's catch-all route (buildCatchAllVirtualHost) has no retry policy and no timeout
        retry: NO_RETRY,
        timeoutMs: 0,
        route: undefined,
        dest: undefined,
        lb: undefined
      });
      return;
    }

    // ---- destination by weight, drawn with the route (Envoy picks a weighted cluster when it resolves the route,
    // before any filter runs: a fault's abort is logged with the cluster it would have gone to)
    let dest: CompiledDestination | undefined;
    if (route && route.action.type === 'route') {
      const a = route.action;
      if (a.destinations.length === 1) dest = a.destinations[0];
      else {
        let draw = this.host.random.next() * a.totalWeight;
        for (const d of a.destinations) {
          if (d.weight <= 0) continue;
          draw -= d.weight;
          if (draw < 0) {
            dest = d;
            break;
          }
        }
        dest ??= a.destinations.filter((d) => d.weight > 0).at(-1);
        ex.note(
          'weight',
          `drew ${dest?.host}${dest?.subset ? ` subset ${dest.subset}` : ''} (weights ${a.destinations.map((d) => `${d.subset ?? d.host}=${d.weight}`).join(', ')})`
        );
      }
    }
    // ---- fault, then CORS (Istio's filter chain: fault, cors, router). A fault's reply never reaches the CORS
    // filter; the router's replies -- direct responses, redirects, no healthy upstream, timeouts -- carry its headers
    if (route?.fault) {
      const abort = await faultFilter(route.fault, ex, this.host);
      if (abort) {
        if (dest) {
          ex.destinationService = dest.host;
          ex.subset = dest.subset ?? null;
        }
        ex.sendLocal(abort, SERVER);
        return;
      }
    }
    const corsResult = route?.cors ? corsFilter(route.cors, req, ex) : undefined;
    if (corsResult?.reply) {
      ex.sendLocal(corsResult.reply, SERVER);
      return;
    }
    if (corsResult?.responseHeaders) ex.corsHeaders = corsResult.responseHeaders;
    // the router's own replies carry the rule's response header ops (Envoy's finalizeResponseHeaders); the chosen
    // destination's join them below
    if (route?.headers?.response)
      ex.routeResponseHeaders = (h) => applyHeaderOps(h, route.headers?.response, ex, ENVOY_INLINE_RESPONSE_HEADERS);

    // ---- direct response / redirect
    if (route && route.action.type === 'direct') {
      const a = route.action;
      const body = a.body ?? Buffer.alloc(0);
      ex.note('direct-response', `${a.status}, ${body.length} bytes`);
      // text/plain for a body, unless the rule's header ops left a content-type (Envoy sets it after them)
      ex.sendLocal({ status: a.status, body, headers: {}, flags: [], reason: 'direct response' }, SERVER, (h) => {
        if (body.length > 0 && h['content-type'] === undefined) h['content-type'] = 'text/plain';
      });
      return;
    }
    if (route && route.action.type === 'redirect') {
      const { status, location } = buildRedirect(route.action.redirect, matched, r.authority, r.path, 'http', r.port);
      ex.note('redirect', `${status} -> ${location}`);
      ex.sendLocal({ status, body: Buffer.alloc(0), headers: { location }, flags: [], reason: 'redirect' }, SERVER);
      return;
    }

    const destHost = dest?.host ?? r.service!.fqdn;
    const named = dest ? r.snap.registry.serviceByFqdn.get(destHost) : r.service;
    // the variant of a shared ServiceEntry host this caller knows (the first one where it knows none, as before)
    const service = named?.alternates ? (r.snap.callerView(this.workload).variantOf(named) ?? named) : named;
    ex.destinationService = destHost;
    if (!service) {
      ex.note('cluster', `destination host ${destHost} is not a known service`);
      ex.sendLocal(LocalReplies.noCluster(destHost), SERVER);
      return;
    }
    const port = destinationPort(dest?.port, service, r.port);
    // a route's destination this caller's sidecar does not import (a ServiceEntry's exportTo, the Sidecar's egress
    // hosts): Envoy has no cluster for it
    if (dest && !r.snap.callerView(this.workload).sees(service)) {
      ex.note('cluster', `destination host ${destHost} is not visible to ${this.workload} (exportTo, Sidecar egress)`);
      ex.sendLocal(LocalReplies.noCluster(destHost), SERVER);
      return;
    }
    if (service.ports.length > 0 && !service.ports.includes(port)) {
      // Istio names the cluster outbound|<port>||<host> all the same, and Envoy has no such cluster
      ex.note('cluster', `${service.fqdn} has no port ${port}`);
      ex.sendLocal(LocalReplies.noCluster(`${service.fqdn} port ${port}`), SERVER);
      return;
    }
    const dr = findDestinationRule(r.snap.destinationRules, service.fqdn, service.namespace, r.caller);
    let endpoints: ServiceEndpoint[] = endpointsOn(service, port);
    if (dest?.subset) {
      const subset = dr?.subsets.get(dest.subset);
      if (!subset) {
        ex.note('subset', `subset ${dest.subset} of ${service.fqdn} is not defined in any DestinationRule`);
        ex.sendLocal(LocalReplies.noCluster(`${service.fqdn} subset ${dest.subset}`), SERVER);
        return;
      }
      ex.subset = dest.subset;
      // a DNS entry without endpoints is its host, whatever the subset's labels (a DNS cluster has no label metadata)
      if (!service.dnsHost) endpoints = endpoints.filter((e) => labelsMatch(subset.labels, e.labels));
      ex.note(
        'subset',
        `subset ${dest.subset} (${JSON.stringify(subset.labels ?? {})}) of DestinationRule ${dr!.key}: ${endpoints.length} endpoint(s)`
      );
    }
    if (endpoints.length === 0 && service.resolution === 'NONE' && !dest?.subset) {
      // resolution NONE: the original destination, i.e. what the app asked for
      const a = splitAuthority(r.authority);
      endpoints = [
        {
          host: a.host === 'localhost' ? '127.0.0.1' : a.host.replace(/^\[|\]$/g, ''),
          port: a.port ?? port,
          labels: {}
        }
      ];
    }
    if (endpoints.length === 0) {
      ex.sendLocal(LocalReplies.noHealthyUpstream(), SERVER);
      return;
    }

    // ---- request rewrites and header ops
    if (route?.rewrite) {
      if (route.rewrite.uri !== undefined || route.rewrite.regex) {
        // Envoy records the original path whenever the route rewrites it, changed or not
        const newPath = rewritePath(route.rewrite, matched, r.path);
        r.headers['x-envoy-original-path'] = r.path;
        if (newPath !== r.path) ex.note('rewrite', `path ${r.path} -> ${newPath}`);
        r.path = newPath;
      }
      if (route.rewrite.authority) {
        ex.note('rewrite', `authority ${r.authority} -> ${route.rewrite.authority}`);
        r.headers.host = route.rewrite.authority;
      }
    }
    if (dest?.requestOps)
      for (const ops of dest.requestOps) applyHeaderOps(r.headers, ops, ex, ENVOY_INLINE_REQUEST_HEADERS);
    else applyHeaderOps(r.headers, route?.headers?.request, ex, ENVOY_INLINE_REQUEST_HEADERS);
    // a destination's Host only stands when the rule rewrites no authority, by rewrite.authority or by its own
    // host/:authority header op (Istio: "only override if the top level rewrite is not set"; with weighted
    // destinations too)
    const ruleOps = route?.headers?.request;
    const ruleAuthority = route?.rewrite?.authority || (ruleOps ? opsAuthority(ruleOps) : undefined);
    if (ruleAuthority) r.headers.host = ruleAuthority;
    const responseOps = dest?.headers?.response ? dest.responseOps : undefined;
    if (responseOps)
      ex.routeResponseHeaders = (h) => {
        for (const ops of responseOps) applyHeaderOps(h, ops, ex, ENVOY_INLINE_RESPONSE_HEADERS);
      };
    if (ex.corsHeaders) ex.note('cors', 'origin allowed: CORS headers added to the response');

    const lb = effectiveLoadBalancer(dr, dest?.subset, port);
    const circuitPolicy = circuitPolicies(dr, dest?.subset, port, r.snap.compat);
    await this.forward(ex, req, res, r, {
      connectTimeoutMs: circuitPolicy.connectTimeoutMs,
      limits: circuitPolicy.limits,
      life: circuitPolicy.life,
      outlier: circuitPolicy.outlier,
      circuitFingerprint: circuitPolicy.fingerprint,
      endpoints,
      clusterKey: `outbound|${port}|${dest?.subset ?? ''}|${service.fqdn}`,
      retry: route?.retry ?? defaultRetry(r.snap.compat),
      timeoutMs: route?.timeoutMs ?? 0,
      route,
      dest,
      lb,
      dr,
      service,
      port
    });
  }

  /**
   * ALLOW_ANY to a mesh service this caller's sidecar does not import, by its address (its dedicated port, or its
   * name, which the app's DNS makes its ClusterIP): Envoy has no route or cluster for it, so the catch-all route
   * (allow_any) takes it to the PassthroughCluster, whose original destination is the ClusterIP: kube-proxy hands the
   * connection to one of the service's pods, here to an instance's inbound sidecar, which applies the service's own
   * inbound policy. Plaintext, without the caller's VirtualService or DestinationRule, no retries, no timeout.
   */
  private async passThrough(
    ex: Exchange,
    req: Req,
    res: Res,
    r: Resolved,
    to: { service: ServiceInfo; port: number }
  ): Promise<void> {
    ex.note(
      'route',
      `${to.service.fqdn} is not imported by ${this.workload}'s sidecar (Sidecar egress hosts): ALLOW_ANY passthrough to its address, plaintext (kube-proxy: one of its pods at random)`
    );
    ex.destinationService = 'PassthroughCluster';
    const endpoints = endpointsOn(to.service, to.port);
    if (endpoints.length === 0) {
      // a ClusterIP without endpoints: kube-proxy rejects the connection
      ex.sendLocal(LocalReplies.upstreamReset('connect-refused', false), SERVER);
      return;
    }
    await this.forward(ex, req, res, r, {
      endpoints,
      clusterKey: 'PassthroughCluster',
      retry: NO_RETRY,
      timeoutMs: 0,
      route: undefined,
      dest: undefined,
      lb: KUBE_PROXY
    });
  }

  /** Router: tries with retries, per-try and route timeouts, then the response back to the app. */
  private async forward(ex: Exchange, req: Req, res: Res, r: Resolved, o: ForwardOptions): Promise<void> {
    if (res instanceof TunnelResponse) return this.forwardTunnel(ex, req as IncomingMessage, res, r, o);
    const circuit = this.circuitFor(o);
    const retry = o.retry;
    const routeAbort = new Abort();
    let timedOut = false;
    let handedOff = false;
    let retryOutstanding = false;
    let routeTimer: NodeJS.Timeout | undefined;
    const routeStart = performance.now();
    if (o.timeoutMs > 0) {
      routeTimer = setTimeout(() => {
        timedOut = true;
        if (res.headersSent) {
          // Envoy's route timeout runs until the response is complete: past it, the stream is reset mid-body (UT)
          ex.flags.add('UT');
          ex.note('timeout', `route timeout ${o.timeoutMs} ms fired while the response was streaming: reset`);
        }
        routeAbort.abort();
      }, o.timeoutMs);
      ex.note('timeout', `route timeout ${o.timeoutMs} ms`);
    }
    res.once('close', () => {
      if (!res.writableFinished) routeAbort.abort();
    });
    // Envoy's route timeout runs from the request, not from the connection pool's answer: a request waiting as
    // pending behind connectionPool limits times out (504 UT) and leaves the queue, as it does when the caller goes
    if (o.limits && !(await circuit!.acquire(o.limits, routeAbort))) {
      clearTimeout(routeTimer);
      if (timedOut) {
        ex.note('circuit', `route timeout while pending on ${o.clusterKey}: left the queue`);
        ex.sendLocal(LocalReplies.timeout(false), SERVER);
      } else if (!routeAbort.aborted) {
        ex.note(
          'circuit',
          `connectionPool overflow on ${o.clusterKey} (maxConnections ${o.limits.maxConnections}, http1MaxPendingRequests ${o.limits.maxPending}, http2MaxRequests ${o.limits.maxRequests})`
        );
        ex.sendLocal(LocalReplies.upstreamReset('overflow', false), SERVER);
      } else ex.note('circuit', `the caller left while pending on ${o.clusterKey}`);
      return;
    }
    const body = new RequestBody(req, retry.attempts > 0 || (o.route?.mirrors.length ?? 0) > 0, (c) =>
      ex.requestBody.add(c)
    );
    if (o.connectTimeoutMs !== undefined)
      ex.note(
        'connect',
        `connect timeout ${o.connectTimeoutMs} ms (DestinationRule connectionPool.tcp.connectTimeout)`
      );
    const lbReq = lbRequest(req, r);
    const tried = new Set<string>();
    const maxTries = 1 + retry.attempts;
    if (o.route?.mirrors.length)
      this.mirror(ex, r, o.route, body, expectedTimeoutMs(retry.perTryTimeoutMs, o.timeoutMs, 0));
    try {
      for (let attempt = 1; attempt <= maxTries; attempt++) {
        // a retry reserved its place under http.maxRetries when it was decided (retryAllowed)
        if (attempt > 1 && o.limits && circuit) retryOutstanding = true;
        if (attempt > 1) {
          // istio-semantics §1.2: retry k waits U(0, min(base·(2^k − 1), 10·base)): 25, 75, 175, 250 ms windows by
          // default. (Envoy's current JitteredExponentialBackOffStrategy doubles from the base instead: 25, 50, 100,
          // 200, 250; the spec is what localmesh matches.)
          const cap = Math.min(retry.backoffBaseMs * (2 ** (attempt - 1) - 1), retry.backoffBaseMs * 10);
          const wait = this.host.random.next() * cap;
          ex.note('retry', `retry ${attempt - 1} of ${retry.attempts} after ${wait.toFixed(1)} ms back-off`);
          await this.host.sleep(wait, routeAbort.signal).catch(() => undefined);
          if (routeAbort.aborted) break;
          if (!body.replayable) {
            ex.note('retry', 'request body larger than the replay buffer: not retried');
            break;
          }
        }
        const candidates = o.outlier ? circuit!.healthy(o.endpoints, endpointKey, o.outlier) : o.endpoints;
        if (candidates.length === 0) {
          // outlier detection ejected every endpoint; Istio sets no panic threshold (minHealthPercent 0)
          ex.note('outlier', `every endpoint of ${o.clusterKey} is ejected`);
          clearTimeout(routeTimer);
          ex.sendLocal(LocalReplies.noHealthyUpstream(), SERVER);
          return;
        }
        const { endpoint, how, setCookie } = pickEndpoint(
          candidates,
          o.lb,
          o.clusterKey,
          this.host.lbState,
          this.host.random,
          lbReq,
          (o.lb?.consistentHash ? retry.hashIgnorePreviousHosts : retry.ignorePreviousHosts) ? tried : new Set()
        );
        const key = endpointKey(endpoint);
        tried.add(key);
        if (setCookie) o.extraResponseHeaders = { ...o.extraResponseHeaders, 'set-cookie': setCookie };
        const addr = this.host.deliveryAddress(endpoint);
        ex.endpoint = endpoint.instance ? endpoint.instance.address : key;
        ex.destination = endpoint.workload?.name ?? null;
        const secure = this.tlsFor(r, o, endpoint);
        // an endpoint given by name (a DNS ServiceEntry's): its upstream host is the address it resolved to
        const timing = endpoint.workload === undefined && isIP(addr.host) === 0 ? new ResolvedEndpoint(ex) : ex;
        // the fast lane's pool for a request it read whole, in plaintext or mutual TLS between sidecars; node:http's
        // client for the rest (a streamed body, TLS origination with the user's files)
        const fast =
          req instanceof FastRequest && res instanceof FastResponse && (!secure || secure.mode === 'ISTIO_MUTUAL');
        ex.note(
          'endpoint',
          `${ex.endpoint}${endpoint.workload ? ` (${endpoint.workload.name})` : ''} by ${how}${addr.viaSidecar ? `, via inbound sidecar :${addr.port}` : ''}${fast ? ' (fast lane)' : ''}`
        );
        const headers: OutgoingHttpHeaders = { ...r.headers, 'x-envoy-attempt-count': String(attempt) };
        // the first try counts no time (Envoy's decodeHeaders); a retry, the time since the route timeout started
        const elapsed = attempt === 1 ? 0 : performance.now() - routeStart;
        const expected = expectedTimeoutMs(retry.perTryTimeoutMs, o.timeoutMs, elapsed);
        if (expected > 0) headers['x-envoy-expected-rq-timeout-ms'] = String(expected);
        if (addr.viaSidecar && ex.source) headers['x-envoy-peer-metadata-id'] = peerMetadataId(ex.source, r.caller);
        if (attempt === 1) ex.upstreamHeaders = headers;
        // the principals of the connection this try uses (telemetry reports the last try's; cleared below when the
        // connection was never set up)
        this.setPeers(ex, secure, endpoint);
        if (attempt === 1) ex.note('tls', secure ? secure.describe : 'plaintext');
        const active = this.host.lbState.active;
        active.set(key, (active.get(key) ?? 0) + 1);
        const t0 = performance.now();
        ex.attemptStarted();
        const out: Awaited<ReturnType<typeof tryUpstream>> | FastTryOutcome = fast
          ? await fastTry({
              pool: this.poolFor(addr.host, addr.port, secure?.options, o.life),
              head: requestHead(ex.method, r.path, headers, req.body),
              body: req.body,
              isHead: ex.method === 'HEAD',
              perTryTimeoutMs: retry.perTryTimeoutMs,
              connectTimeoutMs: o.connectTimeoutMs,
              signal: routeAbort,
              timing
            })
          : await tryUpstream({
              agent: this.agents.plainAgent(o.life),
              host: addr.host,
              port: addr.port,
              method: ex.method,
              path: r.path,
              headers,
              body,
              perTryTimeoutMs: retry.perTryTimeoutMs,
              connectTimeoutMs: o.connectTimeoutMs ?? this.host.connectTimeoutMs,
              signal: routeAbort,
              tls: secure
                ? { agent: this.agents.tlsAgent(secure.options, o.life), options: secure.options }
                : undefined,
              timing
            });
        active.set(key, (active.get(key) ?? 1) - 1);
        if (retryOutstanding) {
          circuit!.retries--;
          retryOutstanding = false;
        }
        const ms = performance.now() - t0;
        const last = attempt === maxTries;
        if (o.outlier && out.kind !== 'aborted') {
          const result =
            out.kind === 'fast-response'
              ? statusResult(out.head.status)
              : out.kind === 'response'
                ? statusResult(out.res.statusCode ?? 502)
                : 'local-failure';
          if (circuit!.record(key, result, o.outlier, o.endpoints.length))
            ex.note('outlier', `${ex.endpoint} ejected after consecutive errors (${result})`);
        }
        if (out.kind === 'aborted') {
          // the try in flight when the route timed out or the caller went away is part of the record
          ex.attemptLog.push({
            attempt,
            endpoint: ex.endpoint,
            status: timedOut ? 504 : 0,
            flags: timedOut ? 'UT' : 'DC',
            durationMs: round(ms),
            error: timedOut ? `route timeout ${o.timeoutMs} ms` : 'downstream closed'
          });
          break;
        }
        if (out.kind === 'fast-response') {
          const status = out.head.status;
          const upHeaders = out.head.headers as IncomingMessage['headers'];
          const retriable = !last && wouldRetryResponse(retry, status, upHeaders) && this.retryAllowed(ex, o, circuit);
          ex.attemptLog.push({ attempt, endpoint: ex.endpoint, status, flags: '-', durationMs: round(ms) });
          if (retriable) {
            ex.note('retry', `attempt ${attempt}: ${status} is retriable under retryOn`);
            out.body.discard();
            continue;
          }
          if (attempt > 1 && wouldRetryResponse(retry, status, upHeaders) && !ex.flags.has('UO')) ex.flags.add('URX');
          handedOff = true;
          this.respondFast(ex, res as FastResponse, out, ms, o, routeAbort);
          return;
        }
        if (out.kind === 'response') {
          const up = out.res;
          const status = up.statusCode ?? 502;
          const retriable = !last && wouldRetryResponse(retry, status, up.headers) && this.retryAllowed(ex, o, circuit);
          ex.attemptLog.push({ attempt, endpoint: ex.endpoint, status, flags: '-', durationMs: round(ms) });
          if (retriable) {
            ex.note('retry', `attempt ${attempt}: ${status} is retriable under retryOn`);
            up.resume();
            continue;
          }
          if (attempt > 1 && wouldRetryResponse(retry, status, up.headers) && !ex.flags.has('UO')) ex.flags.add('URX');
          handedOff = true;
          this.respond(ex, res, up, ms, o, routeAbort);
          return;
        }
        if (out.kind === 'per-try-timeout') {
          ex.attemptLog.push({
            attempt,
            endpoint: ex.endpoint,
            status: 504,
            flags: 'UT',
            durationMs: round(ms),
            error: 'per-try timeout'
          });
          const retriable =
            retry.conditions.has('5xx') || retry.conditions.has('gateway-error') || retry.conditions.has('reset');
          if (retriable && !last && this.retryAllowed(ex, o, circuit)) {
            ex.note('retry', `attempt ${attempt}: per-try timeout ${retry.perTryTimeoutMs} ms`);
            continue;
          }
          clearTimeout(routeTimer);
          ex.sendLocal(LocalReplies.perTryTimeout(attempt > 1 && retriable && !ex.flags.has('UO')), SERVER);
          return;
        }
        // reset
        const flag = out.reason === 'connection-termination' ? 'UC' : 'UF';
        if (out.reason !== 'connection-termination') {
          // no connection (refused, timed out, handshake failed): no peer, so no principals (istio-semantics §3.2)
          ex.mtls = false;
          ex.sourcePrincipal = null;
          ex.destinationPrincipal = null;
        }
        if (out.reason === 'tls-failure') ex.note('tls', `handshake failed: ${out.message}`);
        ex.attemptLog.push({
          attempt,
          endpoint: ex.endpoint,
          status: 503,
          flags: flag,
          durationMs: round(ms),
          error: out.message
        });
        const retriable = wouldRetryReset(retry, out.reason, out.beforeRequest);
        if (retriable && !last && this.retryAllowed(ex, o, circuit)) {
          ex.note('retry', `attempt ${attempt}: ${out.reason} (${out.message}) is retriable`);
          continue;
        }
        clearTimeout(routeTimer);
        ex.sendLocal(
          LocalReplies.upstreamReset(
            out.reason,
            attempt > 1,
            out.reason === 'tls-failure' ? out.message : undefined,
            // URX: retries used up; a retry the circuit's maxRetries refused is UO alone (Envoy's NoOverflow)
            attempt > 1 && retriable && !ex.flags.has('UO')
          ),
          SERVER
        );
        return;
      }
      clearTimeout(routeTimer);
      if (timedOut) {
        // the route's own timeout: UT alone, whatever tries remained (URX is for retries used up)
        ex.sendLocal(LocalReplies.timeout(false), SERVER);
        return;
      }
      if (!res.headersSent && !res.destroyed)
        ex.sendLocal(LocalReplies.upstreamReset('connection-termination', false), SERVER);
    } finally {
      // a response being relayed keeps the route timer until it is complete (or the caller is gone)
      if (handedOff && routeTimer) {
        const timer = routeTimer;
        res.once('close', () => clearTimeout(timer));
      } else clearTimeout(routeTimer);
      if (retryOutstanding) circuit!.retries--;
      // and its connection-pool slot
      if (o.limits) {
        if (handedOff) res.once('close', () => circuit!.release());
        else circuit!.release();
      }
    }
  }

  /** May this request retry now? Not past http.maxRetries retries outstanding on the cluster (Envoy flags UO). */
  private retryAllowed(ex: Exchange, o: ForwardOptions, circuit: ClusterCircuit | undefined): boolean {
    if (!o.limits || !circuit) return true;
    if (circuit.retries < o.limits.maxRetries) {
      circuit.retries++; // released when the retry's outcome is known (forward)
      return true;
    }
    ex.flags.add('UO');
    ex.note('circuit', `maxRetries ${o.limits.maxRetries} retries already in flight on ${o.clusterKey}: not retried`);
    return false;
  }

  /** Circuit breaker and endpoint health per cluster, as this calling sidecar sees them. */
  /**
   * The cluster's breakers and outlier state when its policy sets limits or outlier detection. They belong to the
   * workload's proxy (every outbound port of it, as one Envoy) and outlive a reload, which makes new sidecar
   * objects, while the policy stays the same; a changed policy is a new cluster in Envoy, with nothing counted or
   * ejected, and so is one that set neither and sets them again.
   */
  private circuitFor(o: ForwardOptions): ClusterCircuit | undefined {
    const store = this.host.circuits;
    if (!o.limits && !o.outlier) {
      // most requests: no limits and no circuit held, so no key is built
      if (store.size > 0) store.delete(`${this.workload}|${o.clusterKey}`);
      return undefined;
    }
    return heldCircuit(store, `${this.workload}|${o.clusterKey}`, o.circuitFingerprint ?? '');
  }

  /** How this caller's sidecar connects to `endpoint`: (m)TLS per DestinationRule and auto-mTLS, or plaintext (null). */
  private tlsFor(r: Resolved, o: ForwardOptions, endpoint: ServiceEndpoint): ReturnType<typeof upstreamTls> {
    if (!o.service) return null;
    return upstreamTls({
      dr: o.dr,
      subset: o.dest?.subset,
      port: o.port ?? r.port,
      endpoint,
      service: o.service,
      caller: r.caller,
      host: this.host,
      requestHost: typeof r.headers.host === 'string' ? r.headers.host : undefined
    });
  }

  /** The principals of the connection a try uses (telemetry reports the last try's; see the reset case in forward). */
  private setPeers(ex: Exchange, secure: ReturnType<typeof upstreamTls>, endpoint: ServiceEndpoint): void {
    ex.mtls = secure?.mode === 'ISTIO_MUTUAL';
    ex.sourcePrincipal = secure?.localPrincipal ?? null;
    ex.destinationPrincipal =
      ex.mtls && endpoint.workload
        ? this.host.identities.idFor(endpoint.workload.namespace, endpoint.workload.serviceAccount)
        : null;
  }

  /**
   * An upgrade request (WebSocket): one try, on a connection of its own, to an endpoint picked as for any request,
   * over the same (m)TLS, with the caller's peer metadata. On 101 the sockets are spliced; any other answer goes
   * back as is; a failed connection is Envoy's local reply. No retries and no route timeout (Envoy's router does
   * not retry an upgrade, and an upgraded stream has no response to time).
   */
  private async forwardTunnel(
    ex: Exchange,
    req: IncomingMessage,
    res: TunnelResponse,
    r: Resolved,
    o: ForwardOptions
  ): Promise<void> {
    const { endpoint, how } = pickEndpoint(
      o.endpoints,
      o.lb,
      o.clusterKey,
      this.host.lbState,
      this.host.random,
      lbRequest(req, r),
      new Set()
    );
    const addr = this.host.deliveryAddress(endpoint);
    ex.endpoint = endpoint.instance ? endpoint.instance.address : endpointKey(endpoint);
    ex.destination = endpoint.workload?.name ?? null;
    const secure = this.tlsFor(r, o, endpoint);
    const headers: OutgoingHttpHeaders = { ...r.headers, 'x-envoy-attempt-count': '1' };
    upgradeHeaders(req, headers);
    if (addr.viaSidecar && ex.source) headers['x-envoy-peer-metadata-id'] = peerMetadataId(ex.source, r.caller);
    ex.upstreamHeaders = headers;
    this.setPeers(ex, secure, endpoint);
    ex.note(
      'endpoint',
      `${ex.endpoint}${endpoint.workload ? ` (${endpoint.workload.name})` : ''} by ${how}${addr.viaSidecar ? `, via inbound sidecar :${addr.port}` : ''} (upgrade: ${String(req.headers.upgrade ?? '')})`
    );
    ex.note('tls', secure ? secure.describe : 'plaintext');
    ex.attemptStarted();
    const t0 = performance.now();
    const out = await tunnelTry({
      host: addr.host,
      port: addr.port,
      method: ex.method,
      path: r.path,
      headers,
      tls: secure?.options,
      connectTimeoutMs: o.connectTimeoutMs ?? this.host.connectTimeoutMs,
      timing: endpoint.workload === undefined && isIP(addr.host) === 0 ? new ResolvedEndpoint(ex) : ex
    });
    const ms = performance.now() - t0;
    if (out.kind === 'reset') {
      ex.mtls = false;
      ex.sourcePrincipal = null;
      ex.destinationPrincipal = null;
      ex.attemptLog.push({
        attempt: 1,
        endpoint: ex.endpoint,
        status: 503,
        flags: out.reason === 'connection-termination' ? 'UC' : 'UF',
        durationMs: round(ms),
        error: out.message
      });
      ex.sendLocal(
        LocalReplies.upstreamReset(out.reason, false, out.reason === 'tls-failure' ? out.message : undefined),
        SERVER
      );
      return;
    }
    const status = out.res.statusCode ?? 502;
    ex.attemptLog.push({ attempt: 1, endpoint: ex.endpoint, status, flags: '-', durationMs: round(ms) });
    const h = this.responseHeaders(ex, status, envoyResponseHeaders(out.res.rawHeaders), ms, o);
    answerTunnel(ex, res, out, h);
  }

  /** The response headers for the caller: the upstream's without hop-by-hop ones, header operations, Envoy's. */
  private responseHeaders(
    ex: Exchange,
    status: number,
    uh: Record<string, string | string[] | undefined>,
    upstreamMs: number,
    o: RespondOptions
  ): Record<string, string | string[] | number> {
    const headers: Record<string, string | string[] | number | undefined> = {};
    for (const k in uh) if (!HOP_BY_HOP.has(k)) headers[k] = uh[k];
    if (o.extraResponseHeaders) Object.assign(headers, o.extraResponseHeaders);
    ex.status = status; // before the rule's header ops: %RESPONSE_CODE% reads it
    // Envoy's router sets the upstream service time before the route's finalizeResponseHeaders: a rule may remove
    // or set it
    headers['x-envoy-upstream-service-time'] = String(Math.round(upstreamMs));
    ex.routeResponseHeaders?.(headers);
    if (ex.corsHeaders) Object.assign(headers, ex.corsHeaders);
    headers['server'] = SERVER;
    const clean: Record<string, string | string[] | number> = {};
    for (const k in headers) if (headers[k] !== undefined) clean[k] = headers[k]!;
    ex.responseHeaders = clean;
    ex.responseStarted();
    return clean;
  }

  /** A fast-lane response to a fast-lane client: the body's bytes go through untouched (chunked stays chunked). */
  private respondFast(
    ex: Exchange,
    res: FastResponse,
    out: Extract<FastTryOutcome, { kind: 'fast-response' }>,
    upstreamMs: number,
    o: RespondOptions,
    signal: Abort
  ): void {
    const status = out.head.status;
    res.start(status, this.responseHeaders(ex, status, out.head.headers, upstreamMs, o), out.framing);
    out.body.attach(new FastRelay(ex, res, out.body, signal));
  }

  private respond(
    ex: Exchange,
    res: ServerResponse | FastResponse,
    up: IncomingMessage,
    upstreamMs: number,
    o: RespondOptions,
    signal: Abort
  ): void {
    const status = up.statusCode ?? 502;
    const clean = this.responseHeaders(ex, status, envoyResponseHeaders(up.rawHeaders), upstreamMs, o);
    if (res instanceof FastResponse) {
      // node:http's client decoded the body: resend it with its length, or chunked
      res.start(status, clean, clean['content-length'] !== undefined ? 'length' : 'rechunk');
      pump(ex, up, res);
    } else {
      res.writeHead(status, clean);
      up.on('data', (c: Buffer) => ex.responseBody.add(c));
      up.pipe(res);
    }
    const onAbort = resetStarted.bind(null, up, res);
    signal.onAbort(onAbort);
    up.once('end', () => signal.offAbort(onAbort));
    up.once('error', () => res.destroy());
  }

  /**
   * Endpoints of `service` on `port` in `subset` (all of them without a subset; none when the subset is not
   * defined).
   */
  private subsetEndpoints(
    r: Resolved,
    service: ServiceInfo,
    port: number,
    subset: string | undefined
  ): ServiceEndpoint[] {
    const all = endpointsOn(service, port);
    if (!subset) return all;
    const sub = findDestinationRule(r.snap.destinationRules, service.fqdn, service.namespace, r.caller)?.subsets.get(
      subset
    );
    if (!sub) return [];
    return service.dnsHost ? all : all.filter((e) => labelsMatch(sub.labels, e.labels));
  }

  /**
   * Fire-and-forget copies (mirror / mirrors); their responses are discarded and never delay the primary. A copy
   * still open when the route's timeout runs out is cut, as Envoy's shadow request is.
   */
  private mirror(ex: Exchange, r: Resolved, route: CompiledRoute, body: RequestBody, expectedMs: number): void {
    for (const m of route.mirrors) {
      if (this.host.random.next() * 100 >= m.percent) continue;
      const svc = r.snap.registry.serviceByFqdn.get(m.destination.host);
      if (!svc) {
        ex.note('mirror', `mirror host ${m.destination.host} unknown: skipped`);
        continue;
      }
      const port = destinationPort(m.destination.port, svc, r.port);
      const eps =
        svc.ports.length === 0 || svc.ports.includes(port)
          ? this.subsetEndpoints(r, svc, port, m.destination.subset)
          : [];
      if (eps.length === 0) {
        ex.note('mirror', `mirror ${m.destination.host} has no endpoint: skipped`);
        continue;
      }
      const ep = eps[this.host.random.int(eps.length)]!;
      const addr = this.host.deliveryAddress(ep);
      // the copy leaves like any call to that service: over auto-mTLS (or its DestinationRule's tls) with the
      // caller's peer metadata, so the mirror target's sidecar admits it and attributes it to the caller
      const secure = upstreamTls({
        dr: findDestinationRule(r.snap.destinationRules, svc.fqdn, svc.namespace, r.caller),
        subset: m.destination.subset,
        port,
        endpoint: ep,
        service: svc,
        caller: r.caller,
        host: this.host,
        requestHost: typeof r.headers.host === 'string' ? r.headers.host : undefined
      });
      ex.note(
        'mirror',
        `copy sent to ${m.destination.host}${m.destination.subset ? ` subset ${m.destination.subset}` : ''} at ${addr.host}:${addr.port} (${secure ? secure.describe : 'plaintext'})`
      );
      // Envoy's router copies the request for its shadows in decodeHeaders (router.cc: shadow_headers_ from
      // *downstream_headers_), after it has set x-envoy-attempt-count on them (attempt_count_ starts at 1; Istio sets
      // include_request_attempt_count) and the first try's x-envoy-expected-rq-timeout-ms (finalTimeout ->
      // setTimeoutHeaders with no time elapsed): the copy carries both, as the first try does, whatever retries follow
      const headers: OutgoingHttpHeaders = { ...r.headers, 'x-envoy-attempt-count': '1' };
      if (expectedMs > 0) headers['x-envoy-expected-rq-timeout-ms'] = String(expectedMs);
      // before Istio 1.28 Envoy marked the copy's Host with -shadow (reviews:9080 -> reviews-shadow:9080)
      if (ex.compat.mirrorShadowHost && typeof headers.host === 'string') headers.host = shadowHost(headers.host);
      if (addr.viaSidecar && ex.source) headers['x-envoy-peer-metadata-id'] = peerMetadataId(ex.source, r.caller);
      unsampled(headers, ex, ex.b3);
      void body.whenComplete().then((buf) => {
        const target = { host: addr.host, port: addr.port, method: ex.method, path: r.path, headers, setHost: false };
        const mreq = withCookieLines(
          withoutKeepAliveHeader(
            secure
              ? https.request({ ...target, ...secure.options, agent: this.agents.tlsAgent(secure.options) })
              : http.request({ ...target, agent: this.agents.plainAgent() })
          )
        );
        mreq.on('response', (mr) => mr.resume());
        mreq.on('error', () => undefined);
        // Envoy's shadow request runs under the route's timeout (router.cc maybeDoShadowing: the global timeout)
        if (route.timeoutMs > 0) {
          const timer = setTimeout(() => mreq.destroy(), route.timeoutMs);
          mreq.once('close', () => clearTimeout(timer));
        }
        mreq.end(buf);
      });
    }
  }

  /** CONNECT on the proxy port: a TCP tunnel routed as Istio routes the TLS an app sends (tcp.ts connectTunnel). */
  connect = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    connectTunnel(this.host, this.workload, req.url ?? '', socket as net.Socket, head);
  };

  /** WebSocket and other upgrades: the request pipeline, with the caller's socket behind a TunnelResponse. */
  upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const res = new TunnelResponse(socket, head);
    this.tunnels.add(res);
    res.once('close', () => this.tunnels.delete(res));
    this.handle(req, res);
  };
}

/**
 * The port of a route's (or mirror's) destination, as Istio's GetDestinationCluster picks it: the destination's own,
 * else the service's only port, else the port the request came in on (a multi-port service keeps the caller's port).
 */
/** The peer metadata id the calling sidecar sends to the callee's (its workload and namespace, for telemetry). */
function peerMetadataId(source: string, caller: WorkloadInfo | undefined | null): string {
  const ns = caller?.namespace ?? 'default';
  return `sidecar~127.0.0.1~${source}.${ns}~${ns}.svc.cluster.local`;
}

/**
 * The route was aborted after the response started (the route timer stops at the response head, so this is the
 * caller going away, flagged DC when its flow ends): stop reading the upstream.
 */
function resetStarted(up: IncomingMessage, res: Res): void {
  up.destroy();
  res.destroy();
}

/** A response from node:http's client to a fast-lane client: captured, written with backpressure, ended. */
function pump(ex: Exchange, up: IncomingMessage, res: FastResponse): void {
  up.on('data', (c: Buffer) => {
    ex.responseBody.add(c);
    if (!res.write(c)) {
      up.pause();
      res.onDrain(() => up.resume());
    }
  });
  up.once('end', () => res.end());
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

const GRPC_CONDITIONS: Record<string, string> = {
  cancelled: '1',
  'deadline-exceeded': '4',
  internal: '13',
  'resource-exhausted': '8',
  unavailable: '14'
};

export function wouldRetryResponse(p: RetryPolicy, status: number, headers: http.IncomingHttpHeaders): boolean {
  if (p.attempts === 0) return false;
  if (headers['x-envoy-overloaded'] !== undefined) return false;
  const c = p.conditions;
  if (c.has('5xx') && status >= 500) return true;
  if (c.has('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  if (c.has('retriable-4xx') && status === 409) return true;
  if (c.has('retriable-status-codes') && p.statusCodes.has(status)) return true;
  if (c.has('envoy-ratelimited') && headers['x-envoy-ratelimited'] !== undefined) return true;
  const grpc = headers['grpc-status'];
  if (typeof grpc === 'string')
    for (const [cond, code] of Object.entries(GRPC_CONDITIONS)) if (c.has(cond) && grpc === code) return true;
  return false;
}

export function wouldRetryReset(p: RetryPolicy, reason: string, beforeRequest: boolean): boolean {
  if (p.attempts === 0 || reason === 'overflow') return false;
  const c = p.conditions;
  if (c.has('5xx') || c.has('gateway-error') || c.has('reset')) return true;
  if (c.has('reset-before-request') && beforeRequest) return true;
  if (
    c.has('connect-failure') &&
    (reason === 'connect-refused' || reason === 'connect-timeout' || reason === 'tls-failure')
  )
    return true;
  return false;
}

/** What consistent-hash load balancing may read of a request (methods, not closures made per request). */
class RequestForLb implements LbRequest {
  readonly sourceIp: string;
  constructor(
    private readonly req: Req,
    private readonly r: Resolved
  ) {
    this.sourceIp = req.socket.remoteAddress ?? '';
  }
  header(n: string): string | undefined {
    const v = this.req.headers[n];
    return Array.isArray(v) ? v.join(',') : v;
  }
  cookie(n: string): string | undefined {
    // Cookie lines stay lines of their own (h1.ts addRequestField): Envoy's parseCookie reads them in order
    const v = this.req.headers.cookie as string | string[] | undefined;
    const c = Array.isArray(v) ? v.join(';') : v;
    if (!c) return undefined;
    for (const part of c.split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === n) return v.join('=').replace(/^"(.*)"$/, '$1');
    }
    return undefined;
  }
  query(n: string): string | undefined {
    return new URLSearchParams(this.r.query).get(n) ?? undefined;
  }
}

function lbRequest(req: Req, r: Resolved): LbRequest {
  return new RequestForLb(req, r);
}

/**
 * The timing of a try to an endpoint given by name (a DNS ServiceEntry's endpoint or host; an original destination
 * by name): Envoy's STRICT_DNS cluster makes each address the name resolves to a host of its own, so %UPSTREAM_HOST%
 * and the flow's endpoint are the address the connection reached, not the name.
 */
class ResolvedEndpoint {
  constructor(private readonly ex: Exchange) {}

  upstreamConnected(sock?: net.Socket): void {
    this.ex.upstreamConnected();
    const at = sock ? addressText(sock.remoteAddress, sock.remotePort) : null;
    if (at) this.ex.endpoint = at;
  }
}

/** A fast-lane response body on its way to the caller, cut when the route's signal aborts. */
class FastRelay extends ClientRelay implements BodySink {
  private readonly abort: () => void;

  constructor(
    ex: Exchange,
    res: FastResponse,
    private readonly body: ResponseBody,
    private readonly signal: Abort
  ) {
    super(ex, res);
    this.abort = this.cancel.bind(this);
    signal.onAbort(this.abort);
  }

  /** The caller went away mid-response (DC): stop reading the upstream. */
  private cancel(): void {
    this.body.cancel();
    this.res.destroy();
  }

  end(): void {
    this.signal.offAbort(this.abort);
    this.res.end();
  }

  broken(): void {
    this.res.destroy();
  }
}

/**
 * x-envoy-expected-rq-timeout-ms for a try (Envoy's FilterUtility::setTimeoutHeaders): the per-try timeout, else the
 * route timeout, capped by what is left of the route timeout since the request started (at least 1); 0: none.
 */
export function expectedTimeoutMs(perTryMs: number, routeMs: number, elapsedMs: number): number {
  const expected = perTryMs > 0 ? perTryMs : routeMs;
  if (expected <= 0 || routeMs <= 0) return Math.round(expected);
  const elapsed = Math.floor(elapsedMs);
  return elapsed >= routeMs ? 1 : Math.min(expected, routeMs - elapsed);
}
