/**
 * Opaque TCP through the sidecars (istio-semantics §2): what does not start like an HTTP/1 request is carried as a
 * byte stream, as Envoy's tcp_proxy carries a port that its http_inspector does not find HTTP on.
 *
 * - A caller's dedicated upstream port (`<SERVICE>_URL`) reads the first bytes: an HTTP request goes to the HTTP
 *   pipeline as before; anything else (Redis, Postgres, an app's own TLS) is routed by the VirtualService's `tcp`
 *   routes (port, sourceLabels, sourceNamespace; weighted destinations and subsets), else to the service, and sent
 *   over mutual TLS with ALPN `istio-peer-exchange, istio` to the endpoint's inbound sidecar (or as the
 *   DestinationRule's tls says; plaintext to a workload without a sidecar).
 * - A CONNECT tunnel to a ServiceEntry's port that is not HTTP is routed the same way, by Istio's filter chains for
 *   such a port (pilot's tls.go): a TLS or HTTPS port by the `tls` routes (sniHosts, destinationSubnets and the L4
 *   attributes), another one by the `tcp` routes, to the route's destination (another entry, a subset, a mesh
 *   service), else to the entry's own endpoint.
 * - An inbound sidecar terminates such mutual TLS (ALPN istio) or takes plaintext that is not HTTP (PERMISSIVE),
 *   applies AuthorizationPolicy with Istio's TCP rules (authorization.ts: L4 fields only) and pipes to the app.
 * - Both report `istio_tcp_connections_opened_total` / `_closed_total` and `istio_tcp_sent_bytes_total` /
 *   `_received_bytes_total` (bytes sent to / received from the downstream peer), as Envoy's stats filter on tcp_proxy.
 *   A connection is not a flow: the traffic list shows HTTP only.
 *
 * Limits: the first bytes decide, so a server-first protocol (MySQL, SMTP) waits for its client forever, as it
 * does on an Istio port left to protocol detection.
 */
import net from 'node:net';
import tls from 'node:tls';
import type {
  IstioResource,
  L4MatchAttributes,
  TCPRoute,
  TLSRoute,
  VirtualServiceSpec
} from '../../contract/istio-schema.js';
import type { InstanceInfo, ServiceEndpoint, ServiceInfo, WorkloadInfo } from '../registry.js';
import { endpointsOn, labelsMatch } from '../registry.js';
import type { Snapshot } from '../snapshot.js';
import type { TcpConnectionReport, TcpSeries } from '../telemetry/metrics.js';
import { addressText, tcpAccessLogLine } from '../telemetry/access-log.js';
import { effectiveConnectTimeoutMs, effectiveLoadBalancer, findDestinationRule, visibleTo } from '../config/compile.js';
import { hostMatches, qualifyHost } from '../config/hosts.js';
import { upstreamTls } from '../filters/upstream-tls.js';
import type { SidecarHost } from './host.js';
import { authorize } from '../security/authorization.js';
import { clientHelloSni } from './sniff.js';
import { pickEndpoint, type LbRequest } from './lb.js';
import { limitsOf, poolLimitsFor } from './circuit.js';
import { tcpProxyTimeouts, type TcpProxyTimeouts } from './lifecycle.js';

/** The longest first line an HTTP request may take before the inspector calls the stream TCP. */
const MAX_INSPECT = 8192;

/**
 * Envoy's http_inspector on the first bytes: an HTTP/1 request line (`METHOD target HTTP/1.x`), not HTTP, or too
 * early to tell. An HTTP/1.0 request line is TCP: the inspector reports it as `http/1.0`, and Istio's HTTP filter
 * chains on a detected port match only `http/1.1` and `h2c` (the app gets the bytes, as pilot's routing.go
 * "http10 to auto" expects).
 */
export function httpInspect(head: Buffer): 'http' | 'tcp' | 'more' {
  const text = head.toString('latin1', 0, Math.min(head.length, MAX_INSPECT));
  const method = /^[A-Z][A-Z0-9_-]*/.exec(text);
  if (!method) return 'tcp';
  const m = method[0].length;
  if (m === text.length) return m <= 24 ? 'more' : 'tcp';
  if (text[m] !== ' ') return 'tcp';
  const eol = text.indexOf('\n');
  if (eol < 0) return text.length >= MAX_INSPECT || /[\x00-\x08\x0e-\x1f\x7f]/.test(text) ? 'tcp' : 'more';
  const line = text.slice(0, eol);
  return /^[A-Z][A-Z0-9_-]* \S+ HTTP\/\d\.\d\r?$/.test(line) && !/ HTTP\/1\.0\r?$/.test(line) ? 'http' : 'tcp';
}

/**
 * Read until httpInspect decides, starting from bytes already read (`head`); the socket is left paused with
 * nothing consumed but the returned head (`null`: it closed before sending anything).
 */
export function inspect(
  sock: net.Socket,
  head: Buffer,
  done: (kind: 'http' | 'tcp' | null, head: Buffer) => void
): void {
  // sniff() made `sock` half-open: a FIN before the first line ends only the reading side, the answer can still go
  // back (relay sees readableEnded and passes the FIN on)
  let buf = head;
  const first = httpInspect(buf);
  if (first !== 'more') return done(first, buf);
  const finish = (kind: 'http' | 'tcp' | null) => {
    sock.off('data', onData);
    sock.off('end', onEnd);
    sock.off('error', onEnd);
    sock.pause();
    done(kind, buf);
  };
  const onData = (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    const k = httpInspect(buf);
    if (k !== 'more') finish(k);
  };
  // a client that stops short of a line (and half-closes) sent a byte stream
  const onEnd = () => finish(buf.length > 0 ? 'tcp' : null);
  sock.on('data', onData);
  sock.once('end', onEnd);
  sock.once('error', onEnd);
  sock.resume();
}

/** A connection's access log line in the making (only when the access log is on): written once, when it ends. */
export interface TcpLog {
  /** Where it went, once known. */
  cluster: string | null;
  upstreamHost: string | null;
  /** Why a filter closed it (CONNECTION_TERMINATION_DETAILS), once known. */
  terminationDetails?: string;
  finish(flags: string, received: number, sent: number, details?: string): void;
}

/** Start the access log entry of connection `down` (undefined when the access log is off). */
export function tcpLog(host: SidecarHost, down: net.Socket, sni: string | null = null): TcpLog | undefined {
  const write = host.accessLog;
  if (!write) return undefined;
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const downstreamLocal = addressText(down.localAddress, down.localPort);
  const downstreamRemote = addressText(down.remoteAddress, down.remotePort);
  let done = false;
  const log: TcpLog = {
    cluster: null,
    upstreamHost: null,
    finish(flags, received, sent, details) {
      if (done) return;
      done = true;
      try {
        write(
          tcpAccessLogLine({
            startedAt,
            durationMs: performance.now() - t0,
            flags,
            received,
            sent,
            upstreamHost: log.upstreamHost,
            cluster: log.cluster,
            downstreamLocal,
            downstreamRemote,
            requestedServerName: sni || null,
            details,
            terminationDetails: log.terminationDetails
          })
        );
      } catch {
        /* a log sink's failure never affects the connection */
      }
    }
  };
  return log;
}

/**
 * Pipe `down` (the accepted connection; `head`: its bytes read already) and `up` both ways, counting the bytes in
 * `m` (received: from downstream; sent: to downstream) and the connection as closed when both ends are gone.
 */
export function relay(
  down: net.Socket,
  head: Buffer,
  up: net.Socket,
  m: TcpSeries,
  onClose?: () => void,
  log?: TcpLog,
  /** The tcp_proxy's timeouts (lifecycle.ts tcpProxyTimeouts). */
  timeouts?: TcpProxyTimeouts
): void {
  m.opened.value++;
  let received = head.length;
  let sent = 0;
  // half-close passes through, as Envoy's tcp_proxy does: a FIN from one side ends only that direction (the other
  // side's end() below), and the connection closes once both directions have ended. Node would otherwise answer a
  // FIN by ending its own side too, cutting off what the app still had to say (a client that shuts down writing and
  // then reads the answer).
  down.allowHalfOpen = true;
  up.allowHalfOpen = true;
  if (head.length > 0) {
    m.received.value += head.length;
    up.write(head);
  }
  // the client's FIN came while its first bytes were inspected
  if (down.readableEnded) up.end();
  down.on('data', (c: Buffer) => {
    m.received.value += c.length;
    received += c.length;
    if (!up.write(c)) down.pause();
  });
  up.on('data', (c: Buffer) => {
    m.sent.value += c.length;
    sent += c.length;
    if (!down.write(c)) up.pause();
  });
  up.on('drain', () => down.resume());
  down.on('drain', () => up.resume());
  down.on('end', () => up.end());
  up.on('end', () => down.end());
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    m.closed.value++;
    down.destroy();
    up.destroy();
    onClose?.();
    log?.finish('-', received, sent);
  };
  down.on('close', close);
  up.on('close', close);
  down.on('error', () => down.destroy());
  up.on('error', () => up.destroy());
  // idle: a socket's timer restarts on every read and write, and every byte either way passes through `down`
  if (timeouts?.idleMs) down.setTimeout(timeouts.idleMs, close);
  if (timeouts?.maxDurationMs) {
    const t = setTimeout(close, timeouts.maxDurationMs);
    t.unref();
    down.once('close', () => clearTimeout(t));
  }
  down.resume();
}

/**
 * A connection that ended before it was relayed (no upstream, a failed connect, an authorization deny). `last`: bytes
 * written before it closes (a CONNECT tunnel's 200, see connectTunnel).
 */
export function refused(
  down: net.Socket,
  m: TcpSeries,
  reset = false,
  log?: { ctx?: TcpLog; flags: string },
  last?: string
): void {
  m.opened.value++;
  m.closed.value++;
  log?.ctx?.finish(log.flags, 0, 0);
  if (reset) down.resetAndDestroy();
  else if (last) down.end(last, () => down.destroy());
  else down.destroy();
}

/** Where a tcp route sends a connection: a service (FQDN), a subset, a port. */
export interface TcpDestination {
  host: string;
  subset?: string;
  port?: number;
  /** For the trace-less log: which VirtualService rule chose it. */
  by: string;
  /**
   * No filter chain takes the connection: a ServiceEntry's TLS port whose `tls` routes fit the caller but none the
   * ClientHello (see L4Port). It goes to the listener's fallthrough (PassthroughCluster, or BlackHoleCluster under
   * REGISTRY_ONLY).
   */
  fallthrough?: true;
}

/**
 * A ServiceEntry port a connection came for, as Istio builds its outbound filter chains (pilot's tls.go): on a port
 * declared TLS or HTTPS only the `tls` routes apply (buildSidecarOutboundTCPFilterChainOpts builds nothing there),
 * and once one of their matches fits the caller (port, sourceLabels, sourceNamespace, gateways) the entry's own
 * default chain is left out, so a ClientHello no route's sniHosts (and destinationSubnets) take falls through; on any
 * other port only the `tcp` routes apply, and what none takes goes to the entry (the default chain).
 */
export interface L4Port {
  protocol: 'tls' | 'tcp';
  /** The IP the app's connection was for (destinationSubnets); null when it named a host with no address. */
  destinationIp: string | null;
}

/** Is `ip` within one of `cidrs` (an address without a prefix length is a host)? */
function inSubnets(cidrs: string[], ip: string | null): boolean {
  if (ip === null) return false;
  const family = net.isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  const list = new net.BlockList();
  for (const c of cidrs) {
    const [a, bits] = c.split('/');
    const f = net.isIP(a ?? '');
    if (f === 0) continue;
    const type = f === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(a!, type);
    else list.addSubnet(a!, Number(bits), type);
  }
  return list.check(ip, family);
}

/**
 * The VirtualServices (exact host before wildcards, creation order) visible to the caller whose rules apply to
 * sidecars and that have `tls` routes (`withTls`) or `tcp` routes (`withTcp`) for `service`.
 */
export function l4VirtualServices(
  snap: Snapshot,
  caller: WorkloadInfo | undefined,
  service: ServiceInfo,
  withTls: boolean,
  withTcp: boolean
): IstioResource<VirtualServiceSpec>[] {
  const callerNs = caller?.namespace ?? snap.mesh.spec.namespace;
  const qualified = (vs: IstioResource<VirtualServiceSpec>) =>
    (vs.spec.hosts ?? []).map((h) => qualifyHost(h, vs.namespace));
  const imports = snap.callerView(caller?.name).importsVirtualService;
  const vss = snap.resources.filter((r): r is IstioResource<VirtualServiceSpec> => {
    if (r.kind !== 'VirtualService') return false;
    const spec = r.spec as VirtualServiceSpec;
    if (!(withTcp && spec.tcp?.length) && !(withTls && spec.tls?.length)) return false;
    const gw = spec.gateways;
    if (gw && gw.length > 0 && !gw.includes('mesh')) return false;
    // exportTo, and the caller's Sidecar egress hosts (as for HTTP routes)
    const vs = r as IstioResource<VirtualServiceSpec>;
    return (
      visibleTo(spec.exportTo ?? ['*'], r.namespace, callerNs) &&
      imports({ namespace: r.namespace, hosts: qualified(vs) })
    );
  });
  const exact = vss.filter((vs) => qualified(vs).includes(service.fqdn));
  const wild = vss.filter((vs) => !exact.includes(vs) && qualified(vs).some((h) => hostMatches(h, service.fqdn)));
  return [...exact, ...wild];
}

/**
 * The destination of a connection from `caller` to `service`:`port` by the first VirtualService (exact host before
 * wildcards, creation order) visible to the caller whose rules apply to sidecars: for TLS the client sent (`sni`: the
 * name its ClientHello asks for), the first tls route with a match of that SNI (`sniHosts`, `*.` wildcards) and
 * fitting L4 attributes; else the first tcp route whose match fits (port, sourceLabels, sourceNamespace, gateways);
 * one of the route's destinations by weight. Without a VirtualService (or a matching route), the service itself.
 * A ServiceEntry's port (`l4`) takes only the routes of its kind, and its matches' destinationSubnets too (L4Port).
 */
export function tcpDestination(
  snap: Snapshot,
  caller: WorkloadInfo | undefined,
  service: ServiceInfo,
  port: number,
  random: () => number,
  sni?: string,
  l4?: L4Port
): TcpDestination {
  const withTls = l4 ? l4.protocol === 'tls' : sni !== undefined;
  const withTcp = l4 ? l4.protocol === 'tcp' : true;
  const ordered = l4VirtualServices(snap, caller, service, withTls, withTcp);
  // what the sidecar's config already decides for this caller and port (Istio's matchTCP / matchTLS)
  const staticFits = (m: L4MatchAttributes) =>
    (m.port === undefined || m.port === port) &&
    (!m.sourceLabels || (caller !== undefined && labelsMatch(m.sourceLabels, caller.labels))) &&
    (!m.sourceNamespace || m.sourceNamespace === caller?.namespace) &&
    (!m.gateways?.length || m.gateways.includes('mesh'));
  // the connection's own address, where it is known (a mesh service's port has none here: its subnets are not read)
  const l4Fits = (m: L4MatchAttributes) =>
    staticFits(m) && (!l4 || !m.destinationSubnets?.length || inSubnets(m.destinationSubnets, l4.destinationIp));
  const pick = (
    vs: IstioResource<VirtualServiceSpec>,
    dests: NonNullable<TCPRoute['route']>,
    by: string
  ): TcpDestination => {
    const total = dests.reduce((n, d) => n + (d.weight ?? (dests.length === 1 ? 100 : 0)), 0);
    let chosen = dests[0]!;
    if (total > 0) {
      let draw = random() * total;
      for (const d of dests) {
        draw -= d.weight ?? (dests.length === 1 ? 100 : 0);
        if (draw < 0) {
          chosen = d;
          break;
        }
      }
    }
    return {
      host: qualifyHost(chosen.destination.host, vs.namespace),
      subset: chosen.destination.subset,
      port: chosen.destination.port?.number,
      by: `VirtualService ${vs.namespace}/${vs.name} ${by}`
    };
  };
  let tlsFitsCaller = false;
  if (withTls)
    for (const vs of ordered) {
      const routes: TLSRoute[] = vs.spec.tls ?? [];
      for (let i = 0; i < routes.length; i++) {
        const r = routes[i]!;
        if (!r.route?.length) continue;
        if (r.match.some(staticFits)) tlsFitsCaller = true;
        const fits = r.match.some((m) => sni !== undefined && m.sniHosts.some((h) => sniMatches(h, sni)) && l4Fits(m));
        if (fits) return pick(vs, r.route, `tls[${i}]`);
      }
    }
  if (l4?.protocol === 'tls' && tlsFitsCaller) return { host: '', by: 'no filter chain', fallthrough: true };
  if (withTcp)
    for (const vs of ordered) {
      const routes: TCPRoute[] = vs.spec.tcp ?? [];
      for (let i = 0; i < routes.length; i++) {
        const r = routes[i]!;
        const fits = !r.match?.length || r.match.some(l4Fits);
        if (fits && r.route?.length) return pick(vs, r.route, `tcp[${i}]`);
      }
    }
  return { host: service.fqdn, by: 'default route' };
}

/** Does an sniHosts entry match the name a ClientHello asked for? Exact (any case), `*`, or `*.suffix`. */
export function sniMatches(pattern: string, sni: string): boolean {
  const p = pattern.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*.')) return sni.endsWith(p.slice(1)) && sni.length > p.length - 1;
  return p === sni;
}

/** The caller's sidecar's counters for a connection to `service` (nothing known of the peer but what `over` says). */
function sourceSeries(
  host: SidecarHost,
  workload: string,
  service: string,
  over: Partial<TcpConnectionReport>
): TcpSeries {
  return host.tcpSeries({
    reporter: 'source',
    source: workload,
    sourcePrincipal: null,
    destination: null,
    destinationPrincipal: null,
    destinationService: service,
    connectionSecurity: 'none',
    flags: '-',
    ...over
  });
}

/** Endpoints on `port` of a subset by the caller's DestinationRule `dr` for the host (all without a subset). */
function subsetEndpoints(dr: ReturnType<typeof findDestinationRule>, svc: ServiceInfo, port: number, subset?: string) {
  const all = endpointsOn(svc, port);
  if (!subset) return all;
  const sub = dr?.subsets.get(subset);
  if (!sub) return [];
  // a DNS entry without endpoints is its host, whatever the subset's labels
  return svc.dnsHost ? all : all.filter((e) => labelsMatch(sub.labels, e.labels));
}

/** The address connection `up` reached, as Envoy's %UPSTREAM_HOST% writes it (else `named`, as it was). */
function resolvedHost(up: net.Socket, named: string | null): string | null {
  return addressText(up.remoteAddress, up.remotePort) ?? named;
}

/** How the metrics name a connection's endpoint when no workload serves it (a ServiceEntry endpoint's metadata). */
function peerEndpoint(ep: ServiceEndpoint): string | null {
  return ep.workload ? null : `${ep.host}:${ep.port}`;
}

/** Upstream TCP connections open per calling workload and cluster, per mesh (connectionPool.tcp.maxConnections). */
const openByHost = new WeakMap<SidecarHost, Map<string, number>>();
function openConnections(host: SidecarHost): Map<string, number> {
  let m = openByHost.get(host);
  if (!m) openByHost.set(host, (m = new Map()));
  return m;
}

/**
 * A connection through an inbound sidecar takes one of its inbound cluster's connections (`inbound|<port>||`): Envoy's
 * tcp_proxy asks the cluster's connection circuit breaker before connecting (Filter::establishUpstreamConnection,
 * source/common/tcp_proxy/tcp_proxy.cc) and, past `tcp.maxConnections`, closes the downstream connection unrelayed
 * (upstream_cx_overflow, flag UO). The limit is the inbound cluster's, as for HTTP: a Sidecar ingress listener's own
 * connectionPool (`pool`), else the workload's (SidecarHost.inboundPool: the Sidecar's inboundConnectionPool, else
 * the DestinationRule for its service). The count is per instance and limit: new limits are a new cluster, with
 * nothing counted (Envoy rebuilds a changed cluster). Returns the function that gives the slot back when the
 * connection to the app closes (a no-op without a limit), or null on overflow.
 */
export function inboundConnectionSlot(
  host: SidecarHost,
  workload: WorkloadInfo,
  instance: InstanceInfo,
  pool?: unknown
): (() => void) | null {
  const limits = pool ? limitsOf(pool) : host.inboundPool(workload);
  const max = limits?.maxConnections;
  if (max === undefined || max >= UNLIMITED_CONNECTIONS) return NO_SLOT;
  const counts = openConnections(host);
  const key = `inbound|${instance.key}|${max}`;
  const n = counts.get(key) ?? 0;
  if (n >= max) return null;
  counts.set(key, n + 1);
  let given = false;
  return () => {
    if (given) return;
    given = true;
    const left = (counts.get(key) ?? 1) - 1;
    if (left > 0) counts.set(key, left);
    else counts.delete(key);
  };
}
const NO_SLOT = (): void => {};
const UNLIMITED_CONNECTIONS = 2 ** 32 - 1;

/** What a load balancer knows of a TCP connection: its source address (no headers, cookies or query). */
function connectionForLb(down: net.Socket): LbRequest {
  return {
    header: () => undefined,
    cookie: () => undefined,
    query: () => undefined,
    sourceIp: (down.remoteAddress ?? '').replace(/^::ffff:/, '')
  };
}

/** A caller's connection to `service` that is not HTTP: route it, connect (mutual TLS between sidecars), relay. */
export function outboundTcp(
  host: SidecarHost,
  workload: string,
  service: { name: string; namespace: string; port: number },
  down: net.Socket,
  head: Buffer
): void {
  down.allowHalfOpen = true; // a FIN while the upstream connects ends only the client's direction (relay)
  const snap = host.snapshot();
  const view = snap.callerView(workload);
  const caller = view.caller;
  const fqdn = `${service.name}.${service.namespace}.svc.cluster.local`;
  const svc = snap.registry.serviceByFqdn.get(fqdn);
  const report = (over: Partial<TcpConnectionReport>): TcpSeries => sourceSeries(host, workload, fqdn, over);
  const log = tcpLog(host, down);
  /** Close the connection unrelayed, counted and logged with `flags`. */
  const no = (flags: string, over: Partial<TcpConnectionReport> = {}) =>
    refused(down, report({ ...over, flags }), false, { ctx: log, flags });
  if (!svc) return no('NR');
  // a service this caller does not import (Sidecar egress, exportTo) under REGISTRY_ONLY: the address goes to the
  // BlackHoleCluster, as a CONNECT to it does
  if (view.outboundMode === 'REGISTRY_ONLY' && !view.sees(svc, service.port)) {
    if (log) log.cluster = 'BlackHoleCluster';
    return no('UH', { destinationService: 'BlackHoleCluster' });
  }
  // under ALLOW_ANY it goes to the PassthroughCluster, to the service's address (passthroughTcp)
  if (!view.sees(svc, service.port)) return passthroughTcp(host, workload, svc, service.port, down, head, log);
  // the app's own TLS: its ClientHello names the host it wants (tls routes match it)
  const sni = head.length > 0 && head[0] === 0x16 ? clientHelloSni(head) : undefined;
  const dest = tcpDestination(snap, caller, svc, service.port, () => host.random.next(), sni);
  toCluster({ host, workload, svc, requestPort: service.port, dest, down, head, log, report, no });
}

/**
 * ALLOW_ANY: a connection to the address (the dedicated port) of a mesh service this caller's sidecar does not import.
 * Envoy has no listener or cluster for it, so the PassthroughCluster carries it to the original destination, the
 * service's ClusterIP, where kube-proxy picks one of its pods: here one instance's inbound sidecar, in plaintext (no
 * VirtualService, DestinationRule or mutual TLS of the caller's, no peer metadata), which applies the service's own
 * inbound policy (STRICT resets it).
 */
function passthroughTcp(
  host: SidecarHost,
  workload: string,
  svc: ServiceInfo,
  port: number,
  down: net.Socket,
  head: Buffer,
  log: TcpLog | undefined
): void {
  const series = (flags: string) => sourceSeries(host, workload, 'PassthroughCluster', { flags });
  const failed = () => refused(down, series('UF'), false, { ctx: log, flags: 'UF' });
  if (log) log.cluster = 'PassthroughCluster';
  const eps = endpointsOn(svc, port);
  // a ClusterIP without endpoints: kube-proxy rejects the connection
  if (eps.length === 0) return failed();
  const ep = eps[host.random.int(eps.length)]!;
  const addr = host.deliveryAddress(ep);
  if (log) log.upstreamHost = `${ep.host}:${ep.port}`;
  const up = net.connect(addr.port, addr.host);
  whenConnected(
    down,
    up,
    'connect',
    host.connectTimeoutMs,
    () => relay(down, head, up, series('-'), undefined, log),
    failed
  );
}

/**
 * Wait for `up` (the upstream of the caller's connection `down`) to connect (`event`: 'connect', or 'secureConnect'
 * for TLS) within timeoutMs: then `ok`; `failed` if it errs first. The caller leaving before that drops `up`.
 */
function whenConnected(
  down: net.Socket,
  up: net.Socket,
  event: 'connect' | 'secureConnect',
  timeoutMs: number,
  ok: () => void,
  failed: () => void
): void {
  let connected = false;
  const timer = setTimeout(() => up.destroy(new Error('connect timeout')), timeoutMs);
  down.on('error', () => up.destroy());
  down.once('close', () => {
    if (!connected) up.destroy();
  });
  up.once(event, () => {
    clearTimeout(timer);
    connected = true;
    ok();
  });
  up.once('error', () => {
    clearTimeout(timer);
    if (!connected) failed();
  });
}

/** A routed connection on its way to the route's destination (toCluster). */
interface RoutedConnection {
  host: SidecarHost;
  workload: string;
  /** The service the app asked for (the variant its caller knows). */
  svc: ServiceInfo;
  requestPort: number;
  dest: TcpDestination;
  down: net.Socket;
  head: Buffer;
  log: TcpLog | undefined;
  /** The caller's counters for the connection (destinationService overridden by the destination). */
  report: (over: Partial<TcpConnectionReport>) => TcpSeries;
  /** Close the connection unrelayed, counted and logged with `flags`. */
  no: (flags: string, over?: Partial<TcpConnectionReport>) => void;
  /** Where the app's connection was going (a CONNECT's authority): an ORIGINAL_DST cluster's upstream. */
  originalDst?: { host: string; port: number };
}

/**
 * Connect a routed connection to its destination's cluster, `outbound|<port>|<subset>|<host>` (tcp_proxy): the
 * DestinationRule's subset, loadBalancer, connectionPool and tls, mutual TLS to a sidecar, then relay.
 */
function toCluster(c: RoutedConnection): void {
  const { host, workload, svc, dest, down, head, log, report, no } = c;
  const snap = host.snapshot();
  const view = snap.callerView(workload);
  const caller = view.caller;
  const found = snap.registry.serviceByFqdn.get(dest.host);
  // a route's destination this caller does not import (exportTo, Sidecar egress) has no cluster either; of a host's
  // ServiceEntry variants, the one it knows
  const target = dest.host === svc.fqdn ? svc : found && view.variantOf(found);
  if (!target) return no('NC', { destinationService: dest.host });
  const port = destinationPort(dest.port, target, c.requestPort);
  const dr = findDestinationRule(snap.destinationRules, target.fqdn, target.namespace, caller);
  // a subset no DestinationRule defines has no cluster (tcp_proxy: NC), as for HTTP
  if (dest.subset && !dr?.subsets.has(dest.subset)) return no('NC', { destinationService: target.fqdn });
  const clusterName = `outbound|${port}|${dest.subset ?? ''}|${target.fqdn}`;
  if (log) log.cluster = clusterName;
  const eps: ServiceEndpoint[] = subsetEndpoints(dr, target, port, dest.subset);
  // an entry of resolution NONE without endpoints is an ORIGINAL_DST cluster: where the app's connection was going
  const original = eps.length === 0 && target.resolution === 'NONE' ? c.originalDst : undefined;
  if (eps.length === 0 && !original) return no('UH', { destinationService: target.fqdn });
  // the DestinationRule's loadBalancer picks the endpoint, as for HTTP (consistentHash: only useSourceIp has a key)
  const ep: ServiceEndpoint = original
    ? { host: original.host, port: original.port, labels: {} }
    : pickEndpoint(
        eps,
        effectiveLoadBalancer(dr, dest.subset, port),
        clusterName,
        host.lbState,
        host.random,
        connectionForLb(down),
        new Set()
      ).endpoint;
  const secure = upstreamTls({ dr, subset: dest.subset, port, endpoint: ep, service: target, caller, host });
  const addr = host.deliveryAddress(ep);
  if (log) log.upstreamHost = `${ep.host}:${ep.port}`;
  const mtls = secure?.mode === 'ISTIO_MUTUAL';
  const peers: Partial<TcpConnectionReport> = {
    destination: ep.workload?.name ?? null,
    destinationService: target.fqdn,
    peerEndpoint: peerEndpoint(ep),
    sourcePrincipal: mtls ? secure.localPrincipal : null,
    destinationPrincipal:
      mtls && ep.workload ? host.identities.idFor(ep.workload.namespace, ep.workload.serviceAccount) : null
  };
  const timeoutMs = effectiveConnectTimeoutMs(dr, dest.subset, port) ?? host.connectTimeoutMs;
  // connectionPool.tcp.maxConnections: this caller's sidecar holds at most that many connections to the cluster;
  // past it Envoy's tcp_proxy closes the new one (upstream_cx_overflow, UO)
  const maxConnections = poolLimitsFor(dr, dest.subset, port)?.maxConnections;
  const counts = openConnections(host);
  const cluster = `${workload}|${clusterName}`;
  if (maxConnections !== undefined && (counts.get(cluster) ?? 0) >= maxConnections)
    return no('UO', { destinationService: target.fqdn });
  const up: net.Socket = secure
    ? tls.connect({
        host: addr.host,
        port: addr.port,
        ...secure.options,
        // Istio's client sidecar offers these for a TCP stream (the server sidecar then takes the TCP chain)
        ...(mtls ? { ALPNProtocols: ['istio-peer-exchange', 'istio'] } : {})
      })
    : net.connect(addr.port, addr.host);
  counts.set(cluster, (counts.get(cluster) ?? 0) + 1);
  up.once('close', () => {
    const n = (counts.get(cluster) ?? 1) - 1;
    if (n > 0) counts.set(cluster, n);
    else counts.delete(cluster);
  });
  whenConnected(
    down,
    up,
    secure ? 'secureConnect' : 'connect',
    timeoutMs,
    () => {
      // an endpoint given by name (a DNS entry's): the upstream host is the address it resolved to (STRICT_DNS)
      if (log && !ep.workload && net.isIP(addr.host) === 0) log.upstreamHost = resolvedHost(up, log.upstreamHost);
      const local = up.localPort;
      if (local !== undefined && addr.viaSidecar) host.tcpPeers.set(local, workload);
      relay(
        down,
        head,
        up,
        report(peers),
        () => {
          if (local !== undefined) host.tcpPeers.delete(local);
        },
        log,
        tcpProxyTimeouts(dr?.trafficPolicy?.connectionPool)
      );
    },
    () => no('UF', { ...peers, sourcePrincipal: null, destinationPrincipal: null })
  );
}

/**
 * A route destination's port: its own, else the service's only port, else the port the request came on (Istio's
 * translateRoute: a destination without a port takes the listener's).
 */
export function destinationPort(own: number | undefined, service: ServiceInfo, requestPort: number): number {
  if (own !== undefined) return own;
  return service.ports.length === 1 ? service.ports[0]! : requestPort;
}

/** The FQDN of a workload's own service. */
export function serviceFqdnOf(w: WorkloadInfo): string {
  return `${w.service}.${w.namespace}.svc.cluster.local`;
}

/**
 * A server sidecar's counters for a connection it carries to `workload` (`principal`: the client's SPIFFE ID when
 * it terminated mutual TLS, else null).
 */
export function destinationSeries(
  host: SidecarHost,
  workload: WorkloadInfo,
  down: net.Socket,
  principal: string | null,
  flags = '-'
): TcpSeries {
  const mtls = principal !== null;
  return host.tcpSeries({
    reporter: 'destination',
    // the calling workload, as Istio's in-band metadata exchange tells it (this engine's own client sidecars)
    source: mtls && down.remotePort !== undefined ? (host.tcpPeers.get(down.remotePort) ?? null) : null,
    sourcePrincipal: principal,
    destination: workload.name,
    destinationPrincipal: mtls ? host.identities.idFor(workload.namespace, workload.serviceAccount) : null,
    destinationService: serviceFqdnOf(workload),
    connectionSecurity: mtls ? 'mutual_tls' : 'none',
    flags
  });
}

/**
 * A connection an inbound sidecar carries as TCP: mutual TLS a client sidecar opened for TCP (ALPN istio), or
 * plaintext that is not HTTP (PERMISSIVE). AuthorizationPolicy with Istio's TCP rules, then a pipe to the app.
 */
export function inboundTcp(
  host: SidecarHost,
  workload: WorkloadInfo,
  instance: InstanceInfo,
  down: net.Socket,
  head: Buffer,
  peer: { principal: string | null; sni: string },
  /** A Sidecar ingress listener's endpoint, cluster and own connectionPool (config/sidecar-ingress.ts). */
  app?: { host: string; port: number; address: string; cluster: string; connectionPool?: unknown }
): void {
  down.allowHalfOpen = true; // a FIN while the app connects ends only the client's direction (relay)
  const report = (flags = '-'): TcpSeries => destinationSeries(host, workload, down, peer.principal, flags);
  const log = tcpLog(host, down, peer.sni);
  if (log) {
    // a Sidecar's ingress listener: its cluster and defaultEndpoint (config/sidecar-ingress.ts)
    log.cluster = app ? app.cluster : `inbound|${instance.port}||`;
    log.upstreamHost = app ? app.address : `${instance.host}:${instance.port}`;
  }
  const policies = host.authzPolicies(workload);
  if (policies.length > 0) {
    const principal = (peer.principal ?? '').replace(/^spiffe:\/\//, '');
    const ip = (down.remoteAddress ?? '').replace(/^::ffff:/, '');
    const decision = authorize(policies, {
      tcp: true,
      principal,
      sourceNamespace: /\/ns\/([^/]+)\//.exec(principal)?.[1] ?? '',
      sourceIp: ip,
      remoteIp: ip,
      destinationIp: instance.host,
      requestPrincipal: '',
      claims: null,
      host: '',
      port: instance.port,
      method: '',
      path: '',
      header: () => undefined,
      sni: peer.sni
    });
    // Envoy's RBAC network filter closes a denied connection, naming the policy in its termination details
    if (!decision.allowed) {
      if (log) log.terminationDetails = `rbac_access_denied_matched_policy[${decision.envoyPolicy ?? 'none'}]`;
      return refused(down, report(), false, { ctx: log, flags: '-' });
    }
  }
  // the inbound cluster's connection circuit breaker (tcp.maxConnections): past it, closed unrelayed (UO)
  const release = inboundConnectionSlot(host, workload, instance, app?.connectionPool);
  if (!release) return refused(down, report('UO'), false, { ctx: log, flags: 'UO' });
  const to = app ?? instance;
  const upstream = net.connect(to.port, to.host);
  upstream.once('close', release);
  let connected = false;
  down.on('error', () => upstream.destroy());
  down.once('close', () => {
    if (!connected) upstream.destroy();
  });
  upstream.once('connect', () => {
    connected = true;
    relay(down, head, upstream, report(), undefined, log);
  });
  upstream.once('error', () => {
    if (!connected) refused(down, report('UF'), false, { ctx: log, flags: 'UF' });
  });
}

/**
 * How a connection to a ServiceEntry's port is routed (L4Port): a port declared TLS or HTTPS by `tls` routes, one
 * declared HTTP by none (its VirtualService rules are http ones), any other (TCP, MONGO, unset...) by `tcp` routes.
 * The connection's address is the one the app named, else the entry's first address (what Istio's DNS proxy answers
 * for its host).
 */
function entryL4Port(svc: ServiceInfo, port: number, name: string): L4Port | undefined {
  if (svc.kind !== 'service-entry' || svc.httpPorts?.has(port)) return undefined;
  return {
    protocol: svc.tlsPorts?.has(port) ? 'tls' : 'tcp',
    destinationIp: net.isIP(name) !== 0 ? name : (svc.addresses?.[0] ?? null)
  };
}

/**
 * CONNECT through a caller's outbound proxy port (an app's `https://` call with HTTPS_PROXY): a tunnel, routed as
 * Istio routes the TLS the app sends. A mesh service goes by its tcp routes (outboundTcp); a ServiceEntry host by
 * the VirtualService's routes for its port (tls routes by the ClientHello's SNI on a TLS or HTTPS port, tcp routes
 * on another one that is not HTTP: entryL4Port, tcpDestination) to the route's destination's cluster, else to its own
 * endpoint (the app's TLS end to end); a host the registry does not know is passed through under ALLOW_ANY
 * (PassthroughCluster) and closed under REGISTRY_ONLY (BlackHoleCluster), as Istio's sidecar does. A tunnel that
 * cannot be opened is still established and then closed: Istio's sidecar accepts the app's connection before it knows
 * the upstream, so the app's TLS fails (curl exits 35, as istio.io's egress task shows), where a CONNECT answered with
 * an error would fail differently (56).
 */
export function connectTunnel(
  host: SidecarHost,
  workload: string,
  authority: string,
  down: net.Socket,
  head: Buffer
): void {
  const snap = host.snapshot();
  const view = snap.callerView(workload);
  const callerNs = view.caller?.namespace ?? snap.mesh.spec.namespace;
  const colon = authority.lastIndexOf(':');
  const port = Number(authority.slice(colon + 1));
  const name = authority.slice(0, colon).replace(/^\[|\]$/g, '');
  const report = (service: string, over: Partial<TcpConnectionReport> = {}): TcpSeries =>
    sourceSeries(host, workload, service, over);
  const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';
  const established = () => down.write(ESTABLISHED);
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    down.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    return;
  }
  const named = snap.registry.resolveAuthority(authority, callerNs);
  // a service the caller does not import is unknown; of a host's ServiceEntry variants, the one it knows
  const known = named && view.variantOf(named.service);
  let found =
    known && (known.ports.length === 0 || known.ports.includes(named!.port))
      ? { ...named!, service: known }
      : undefined;
  // but a mesh service's name is still its ClusterIP to the app (cluster DNS knows nothing of Sidecars): the
  // connection goes where one to its dedicated port goes (outboundTcp: passed through under ALLOW_ANY, blackholed
  // under REGISTRY_ONLY)
  if (!found && named?.service.kind === 'mesh') found = named;
  /** Route the tunnel once the app has spoken (its ClientHello, whose SNI may pick a tls route), or at once. */
  const whenFirstBytes = (go: (first: Buffer) => void, now: boolean) => {
    if (head.length > 0 || now) return go(head);
    down.allowHalfOpen = true;
    const onData = (d: Buffer) => {
      down.off('end', onEnd);
      down.pause();
      go(d);
    };
    const onEnd = () => {
      down.off('data', onData);
      go(head);
    };
    down.once('data', onData);
    down.once('end', onEnd);
  };
  if (found?.service.kind === 'mesh') {
    established();
    const s = found.service;
    const port = found.port;
    // the app speaks first through a tunnel (an https:// call), unless the service is declared server-first
    // (protocol: tcp)
    return whenFirstBytes(
      (first) => outboundTcp(host, workload, { name: s.name, namespace: s.namespace, port }, down, first),
      s.protocol === 'tcp'
    );
  }
  // a ServiceEntry's port that is not HTTP, with tcp or tls routes for the caller: routed as Istio's filter chains
  // route it (tcpDestination, L4Port); without such routes, to the entry's endpoint as below
  const entry = found;
  const l4 = entry && entryL4Port(entry.service, entry.port, name);
  if (
    entry &&
    l4 &&
    l4VirtualServices(snap, view.caller, entry.service, l4.protocol === 'tls', l4.protocol === 'tcp').length > 0
  ) {
    established();
    const route = (first: Buffer) => {
      const sni = l4.protocol === 'tls' && first[0] === 0x16 ? clientHelloSni(first) : undefined;
      const dest = tcpDestination(snap, view.caller, entry.service, entry.port, () => host.random.next(), sni, l4);
      if (dest.fallthrough) return direct(undefined, first, true, sni);
      if (dest.by === 'default route') return direct(entry, first, true, sni);
      const log = tcpLog(host, down, sni);
      const series = (over: Partial<TcpConnectionReport>) => report(entry.service.fqdn, over);
      toCluster({
        host,
        workload,
        svc: entry.service,
        requestPort: entry.port,
        dest,
        down,
        head: first,
        log,
        report: series,
        no: (flags, over = {}) => refused(down, series({ ...over, flags }), false, { ctx: log, flags }),
        originalDst: { host: name === 'localhost' ? '127.0.0.1' : name, port }
      });
    };
    // a TLS port waits for the ClientHello (its SNI); a TCP port routes at once (the server may speak first)
    return whenFirstBytes(route, l4.protocol === 'tcp');
  }
  direct(found, head, false);

  /**
   * Carry the tunnel to `to`'s endpoint (the entry's default cluster), or, without one, as the listener's fallthrough
   * does (PassthroughCluster, BlackHoleCluster); `opened`: its 200 went already; `sni`: the ClientHello's, if read.
   */
  function direct(to: typeof found, first: Buffer, opened: boolean, sni?: string): void {
    let target: { host: string; port: number; service: string; peerEndpoint?: string | null };
    const log = tcpLog(host, down, sni);
    /** The tunnel, established, closed unrelayed: counted and logged with `flags`. */
    const no = (flags: string, service: string, over: Partial<TcpConnectionReport> = {}) =>
      refused(down, report(service, { ...over, flags }), false, { ctx: log, flags }, opened ? undefined : ESTABLISHED);
    if (to) {
      if (log) log.cluster = `outbound|${to.port}||${to.service.fqdn}`;
      const eps = endpointsOn(to.service, to.port);
      if (eps.length === 0 && to.service.resolution === 'NONE') {
        // resolution NONE: the original destination, what the app asked for
        target = { host: name === 'localhost' ? '127.0.0.1' : name, port, service: to.service.fqdn };
      } else {
        if (eps.length === 0) return no('UH', to.service.fqdn);
        const ep = eps[host.random.int(eps.length)]!;
        const addr = host.deliveryAddress(ep);
        target = { host: addr.host, port: addr.port, service: to.service.fqdn, peerEndpoint: peerEndpoint(ep) };
      }
    } else {
      // the BlackHoleCluster has no endpoint: tcp_proxy closes the stream as no healthy upstream
      if (log) log.cluster = view.outboundMode === 'REGISTRY_ONLY' ? 'BlackHoleCluster' : 'PassthroughCluster';
      if (view.outboundMode === 'REGISTRY_ONLY') return no('UH', 'BlackHoleCluster');
      if (host.isOwnListener(name, port)) return no('NR', 'PassthroughCluster');
      target = { host: name, port, service: 'PassthroughCluster' };
    }
    if (log) log.upstreamHost = `${target.host}:${target.port}`;
    const up = net.connect(target.port, target.host);
    whenConnected(
      down,
      up,
      'connect',
      host.connectTimeoutMs,
      () => {
        // a name (a DNS entry's endpoint or host, an original destination by name): the address it resolved to
        if (log && net.isIP(target.host) === 0) log.upstreamHost = resolvedHost(up, log.upstreamHost);
        if (!opened) established();
        relay(down, first, up, report(target.service, { peerEndpoint: target.peerEndpoint ?? null }), undefined, log);
      },
      // the sidecar took the app's connection, then its upstream failed: it closes (tcp_proxy, UF)
      () => no('UF', target.service, { peerEndpoint: target.peerEndpoint ?? null })
    );
  }
}
