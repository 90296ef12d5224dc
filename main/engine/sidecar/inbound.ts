/**
 * The inbound (server) sidecar in front of one instance: Istio's server-side half. Callers' sidecars deliver here,
 * and so do callers without a sidecar (which bypass every VirtualService). It forwards to the app, retrying twice
 * on resets before the request was sent (Istio ≥ 1.24's inbound default), and reports as `destination`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import crypto from 'node:crypto';
import type { Duplex } from 'node:stream';
import { isIstioAlpn, sniff } from './sniff.js';
import { codecErrorReply, isHttp10 } from './envoy-http.js';
import {
  destinationSeries,
  inboundConnectionSlot,
  inboundTcp,
  inspect,
  refused,
  relay,
  serviceFqdnOf,
  tcpLog
} from './tcp.js';
import { spiffeFromSan } from '../tls/ca.js';
import { authorize, type ApplicablePolicy, type AuthzPhase } from '../security/authorization.js';
import { authenticate, claimHeaderValue, JwtStatus, outputHeaders, type JwtRule } from '../security/jwt.js';
import type { InstanceInfo, WorkloadInfo } from '../registry.js';
import type { AttemptRecord } from '../../contract/api.js';
import { Exchange, HOP_BY_HOP, forwardableHeaders, keepAddresses, withEnvoyHeaders } from './exchange.js';
import {
  FastConnection,
  FastRequest,
  UpstreamPool,
  type FastResponse,
  type Framing,
  type UpstreamCall,
  type UpstreamHandle
} from './fast-lane.js';
import { envoyResponseHeaders, requestHead, type ResponseHead } from './h1.js';
import { LocalReplies, type ResetReason } from './local-reply.js';
import { RequestBody } from './request-body.js';
import { tryUpstream } from './upstream.js';
import { AgentSet } from './lifecycle.js';
import { ClientRelay } from './fast-try.js';
import { Abort } from './abort.js';
import { ClusterCircuit, heldCircuit, limitsOf, type PoolLimits } from './circuit.js';
import { lifecycleOf, type ConnectionLifecycle } from './lifecycle.js';
import type { InboundIngress } from '../config/sidecar-ingress.js';
import { absoluteTarget, normalizeTarget } from '../util/path.js';
import { answerTunnel, TunnelResponse, tunnelTry, upgradeHeaders } from './tunnel.js';
import type { Random } from '../util/random.js';
import type { SidecarHost } from './host.js';
import type { Identity } from '../tls/identity.js';

const SERVER = 'istio-envoy';
const EMPTY_HEAD = Buffer.alloc(0);
const INBOUND_RETRIES = 2;
/** Istio 1.24's inbound retry policy (ENABLE_INBOUND_RETRY_POLICY); none before (see Compat). */
const inboundRetries = (ex: Exchange): number => (ex.compat.inboundRetry ? INBOUND_RETRIES : 0);

/**
 * The wait before inbound retry k: the router's back-off applies to the inbound route's retry policy as to any
 * (istio-semantics §1.2: U(0, min(25·(2^k − 1), 250)) ms, the seeded generator's draw).
 */
const inboundBackoffMs = (k: number, random: Random): number => random.next() * Math.min(25 * (2 ** k - 1), 250);
/** The client sidecar's peer metadata: read here, never forwarded to the app. */
const PEER_HEADERS = new Set(['x-envoy-peer-metadata-id', 'x-envoy-peer-metadata']);

type Req = IncomingMessage | FastRequest;
type Res = ServerResponse | FastResponse | TunnelResponse;

export class InboundSidecar {
  /**
   * node:http's pools to the app (lifecycle.ts): an idle socket closes after IDLE_LIMIT_MS, as the fast lane's
   * (fast-lane.ts), unless the inbound cluster's connectionPool sets a lifecycle.
   */
  private readonly agents = new AgentSet();
  /** The fast lane's keep-alive connections to the app. */
  readonly pool: UpstreamPool;
  /** The fast lane's pools under a connectionPool lifecycle (lifecycle.ts), by its key. */
  private readonly lifePools = new Map<string, UpstreamPool>();
  /** The inbound step's notes by caller, per lane (inboundNote). */
  private readonly notes = { fast: new Map<string, string>(), node: new Map<string, string>() };
  /** Upgrade requests in progress and open tunnels, torn down when the sidecar closes. */
  private readonly tunnels = new Set<TunnelResponse>();
  /** Mutual TLS termination per listener and identity (see tlsServer). */
  private readonly tlsServers = new WeakMap<http.Server, WeakMap<Identity, tls.Server>>();

  /**
   * Where the app is reached: the instance, or the defaultEndpoint of the Sidecar ingress listener for its port
   * (fixed per config version: a reload makes a new sidecar object).
   */
  private readonly app: { host: string; port: number; address: string };
  /** A Sidecar ingress listener's own connectionPool for this port (replacing inboundConnectionPool); else none. */
  private readonly portPool?: { limits?: PoolLimits; life?: ConnectionLifecycle };

  constructor(
    readonly workload: WorkloadInfo,
    readonly instance: InstanceInfo,
    private readonly host: SidecarHost,
    /** The Sidecar ingress listener (or passthrough) for the instance's port; undefined: the Service's chain. */
    private readonly ingress?: InboundIngress
  ) {
    this.app = ingress ?? instance;
    if (ingress?.connectionPool)
      this.portPool = { limits: limitsOf(ingress.connectionPool), life: lifecycleOf(ingress.connectionPool) };
    this.pool = new UpstreamPool(this.app.host, this.app.port, () => host.connectTimeoutMs);
  }

  /** The inbound cluster's limits: the ingress listener's connectionPool, else the workload's (mesh.ts). */
  private limits(): PoolLimits | undefined {
    return this.portPool ? this.portPool.limits : this.host.inboundPool(this.workload);
  }

  /** The inbound cluster's connection lifecycle, from the same connectionPool as limits(). */
  private lifecycle(): ConnectionLifecycle | undefined {
    return this.portPool ? this.portPool.life : this.host.inboundLifecycle(this.workload);
  }

  close(): void {
    this.agents.destroy();
    this.pool.close();
    for (const p of this.lifePools.values()) p.close();
    for (const t of this.tunnels) t.destroy();
  }

  /** The fast lane's pool to the app under the inbound cluster's connection lifecycle. */
  private appPool(): UpstreamPool {
    const life = this.lifecycle();
    if (!life) return this.pool;
    let p = this.lifePools.get(life.key);
    if (!p) {
      const { host, port } = this.app;
      p = new UpstreamPool(host, port, () => this.host.connectTimeoutMs, undefined, undefined, life);
      this.lifePools.set(life.key, p);
    }
    return p;
  }

  /** Serve a client connection: the fast lane first, node:http for what it hands over (fast-lane.ts). */
  private serve(sock: net.Socket, server: http.Server): void {
    // HTTP keeps Node's answer to a client's FIN (sniff() let it half-close while the protocol was undecided)
    sock.allowHalfOpen = false;
    if (this.host.fastLane) new FastConnection(sock, this.handle, (s) => server.emit('connection', s));
    else server.emit('connection', sock);
  }

  /**
   * One port for everything (istio-semantics §2): TLS with an Istio ALPN is mutual TLS from a client sidecar,
   * terminated with a required mesh client certificate; plaintext is accepted under PERMISSIVE and closed without
   * an HTTP response under STRICT; other TLS (an app's own, from a caller without sidecar) passes through to the
   * app as TCP under PERMISSIVE, unless the service declares HTTP (no filter chain takes it).
   */
  accept(sock: net.Socket, server: http.Server): void {
    // a Sidecar ingress listener's port.protocol replaces the Service's (passthrough: detected)
    const protocol = this.ingress
      ? this.ingress.protocol
      : this.host.snapshot().registry.serviceByFqdn.get(serviceFqdnOf(this.workload))?.protocol;
    // mTLS DISABLE on a port declared TCP: one plaintext filter chain, nothing to detect, so the bytes flow from the
    // first one either way and a server-first protocol works (pilot's routing.go serverFirstTestCases DISABLE/DISABLE)
    if (protocol === 'tcp' && this.host.mtlsMode(this.workload, this.instance.port).mode === 'DISABLE')
      return inboundTcp(
        this.host,
        this.workload,
        this.instance,
        sock,
        Buffer.alloc(0),
        { principal: null, sni: '' },
        this.ingress
      );
    sniff(sock, (s) => {
      if (!s) return void sock.destroy();
      const { mode } = this.host.mtlsMode(this.workload, this.instance.port);
      const identity = this.host.identities.get(this.workload.namespace, this.workload.serviceAccount);
      if (s.kind === 'plain') {
        // no HTTP response: the connection is reset, as Envoy's is (it closes with the request unread, so the kernel
        // sends RST: curl exit 56 in Istio's mTLS migration task)
        // Istio's listener access log (filtered on NR) writes the connection no filter chain took
        if (mode === 'STRICT') {
          tcpLog(this.host, sock)?.finish('NR', 0, 0, 'filter_chain_not_found');
          return void sock.resetAndDestroy();
        }
        // HTTP to the HTTP chain, anything else to the app as TCP (Envoy's http_inspector; tcp.ts), unless the
        // service declares its protocol
        if (protocol === 'tcp')
          return inboundTcp(
            this.host,
            this.workload,
            this.instance,
            sock,
            s.head,
            { principal: null, sni: '' },
            this.ingress
          );
        const decided = (kind: 'http' | 'tcp' | null, head: Buffer) => {
          if (kind === null) return void sock.destroy();
          if (kind === 'tcp')
            return inboundTcp(
              this.host,
              this.workload,
              this.instance,
              sock,
              head,
              { principal: null, sni: '' },
              this.ingress
            );
          sock.unshift(head);
          this.serve(sock, server);
          sock.resume();
        };
        // a port declared HTTP: Envoy's codec answers HTTP/1.0 with 426 (no filter chain for it to go TCP by)
        if (protocol === 'http')
          inspect(sock, s.head, (kind, head) => {
            if (kind !== null && isHttp10(head))
              return this.host.codecError(sock, 426, head.length, { reporter: 'destination', workload: this.workload });
            decided(kind && 'http', head);
          });
        else inspect(sock, s.head, decided);
        return;
      }
      const meshTls = isIstioAlpn(s.alpn);
      if (identity && mode !== 'DISABLE' && (meshTls || mode === 'STRICT')) {
        // the bytes already read go back into the socket: the TLS layer takes them from its buffer and then wraps
        // the socket's own handle (native TLS on the TCP handle; no JS stream in between)
        sock.unshift(s.head);
        this.tlsServer(identity, server).emit('connection', sock);
        return;
      }
      // a port declared HTTP has HTTP filter chains only (sidecar_simulation_test TestInbound): TLS left unterminated
      // matches none under PERMISSIVE, so the connection closes; under DISABLE it is the plaintext chain's bytes,
      // which Envoy's HTTP codec answers with 400
      if (protocol === 'http')
        return void (mode === 'DISABLE' ? sock.end(codecErrorReply(400, 'istio-envoy')) : sock.destroy());
      // TLS the sidecar does not terminate (an app's own, from a caller without a sidecar): passed through to the
      // app as TCP, counted in the istio_tcp_* metrics
      // the inbound cluster's connection circuit breaker applies to it too (tcp.ts inboundConnectionSlot)
      const release = inboundConnectionSlot(this.host, this.workload, this.instance, this.ingress?.connectionPool);
      if (!release) return refused(sock, destinationSeries(this.host, this.workload, sock, null, 'UO'));
      const series = destinationSeries(this.host, this.workload, sock, null);
      const app = net.connect(this.app.port, this.app.host);
      app.once('close', release);
      let connected = false;
      app.once('connect', () => {
        connected = true;
        relay(sock, s.head, app, series);
      });
      app.once('error', () => {
        if (!connected) refused(sock, series);
      });
      sock.on('error', () => app.destroy());
    });
  }

  /**
   * The TLS server that terminates mutual TLS for one identity of this sidecar (a rotated certificate is a new
   * Identity, so new connections get a server with the new one). A tls.Server rather than a bare server-side
   * TLSSocket for two reasons: it refuses a client certificate that does not chain to the mesh CA (a bare TLSSocket
   * only records the verification error: the handshake succeeds), and it sets a session id context and ticket keys,
   * so client sidecars resume their TLS sessions instead of paying a full handshake per new connection.
   */
  private tlsServer(identity: Identity, server: http.Server): tls.Server {
    let byIdentity = this.tlsServers.get(server);
    if (!byIdentity) this.tlsServers.set(server, (byIdentity = new WeakMap()));
    let t = byIdentity.get(identity);
    if (!t) {
      t = tls.createServer({
        key: identity.cert.key,
        cert: identity.cert.cert,
        ca: this.host.identities.ca.root.cert,
        minVersion: 'TLSv1.2',
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['istio-http/1.1', 'istio-http/1.0', 'istio', 'istio-peer-exchange', 'http/1.1']
      });
      // a failed handshake (no or a foreign client certificate) ends the connection without an HTTP response
      t.on('tlsClientError', (_e, sock) => sock.destroy());
      t.on('secureConnection', (sock: tls.TLSSocket) => {
        sock.on('error', () => sock.destroy());
        // a client sidecar that offered no Istio HTTP protocol opened the connection for TCP
        if (sock.alpnProtocol === 'istio' || sock.alpnProtocol === 'istio-peer-exchange') {
          const principal = spiffeFromSan(sock.getPeerCertificate(false).subjectaltname) ?? null;
          const sni = typeof sock.servername === 'string' ? sock.servername : '';
          return inboundTcp(
            this.host,
            this.workload,
            this.instance,
            sock,
            EMPTY_HEAD,
            { principal, sni },
            this.ingress
          );
        }
        this.serve(sock, server);
      });
      byIdentity.set(identity, t);
    }
    return t;
  }

  handle = (req: Req, res: Res): void => {
    if (!(req instanceof FastRequest)) withEnvoyHeaders(req);
    const snap = this.host.snapshot();
    const peerId = req.headers['x-envoy-peer-metadata-id'];
    const peer = typeof peerId === 'string' ? parsePeer(peerId) : null;
    const headers = forwardableHeaders(req, PEER_HEADERS);
    const ex = new Exchange(req, res, 'destination', peer, snap, this.host.emitFlow);
    if (this.host.accessLog) keepAddresses(req.socket);
    ex.authority = req.headers.host ?? '';
    ex.path = inboundPath(req.url ?? '/');
    ex.destination = this.workload.name;
    ex.destinationService = serviceFqdnOf(this.workload);
    ex.endpoint = this.app.address;
    ex.upstreamHeaders = headers;
    ex.ensureRequestId(headers);
    ex.beginSpan(headers);
    ex.takeReplayMarker(headers);
    headers['x-forwarded-proto'] ??= 'http';
    if (this.host.flowStartSubscribers !== 0) this.host.emitFlowStart(ex);
    const sock = req.socket as tls.TLSSocket;
    if (sock.encrypted) {
      const client = peerOf(sock);
      const identity = this.host.identities.get(this.workload.namespace, this.workload.serviceAccount);
      ex.mtls = true;
      ex.sourcePrincipal = client.principal;
      ex.destinationPrincipal = identity?.id ?? null;
      // x-forwarded-client-cert (istio-semantics §1.8), appended to any value already present
      const xfcc = `By=${ex.destinationPrincipal};Hash=${client.hash};Subject="";URI=${ex.sourcePrincipal ?? ''}`;
      const prev = headers['x-forwarded-client-cert'];
      headers['x-forwarded-client-cert'] = prev ? `${String(prev)},${xfcc}` : xfcc;
      ex.note(
        'mtls',
        `mutual TLS from ${ex.sourcePrincipal ?? 'a peer without SPIFFE ID'} (${sock.alpnProtocol || 'no ALPN'})`
      );
    } else if (headers['x-forwarded-client-cert'] !== undefined) {
      // only a mutual TLS peer's certificate may speak for the caller: Envoy drops the header on any other connection
      delete headers['x-forwarded-client-cert'];
      ex.note('mtls', 'x-forwarded-client-cert from a plaintext caller removed');
    }
    ex.note('inbound', this.inboundNote(peer, req instanceof FastRequest));
    const rules = this.host.jwtRules(this.workload);
    const policies = this.host.authzPolicies(this.workload);
    // nothing to check on the fast lane: straight on, with no promise (or closure) to make and settle (issue 7)
    if (
      rules.length === 0 &&
      policies.length === 0 &&
      req instanceof FastRequest &&
      !(res instanceof TunnelResponse) &&
      this.limits() === undefined
    ) {
      try {
        this.fastForward(ex, req, res as FastResponse, headers);
      } catch {
        failed(ex, res);
      }
      return;
    }
    this.admit(ex, req, res, headers, rules, policies).catch(() => failed(ex, res));
  };

  /** The inbound step's note for a caller (a peer's sidecar or none) on a lane, made once per pair. */
  private inboundNote(peer: string | null, fast: boolean): string {
    const notes = fast ? this.notes.fast : this.notes.node;
    const key = peer ?? '';
    let note = notes.get(key);
    if (note === undefined) {
      // ASCII only in per-request notes: one other character makes the flow's JSON a two-byte string (2.6x the cost
      // of handing it to the flow writer thread, and a UTF-8 transcode for SQLite)
      const from = peer
        ? `from sidecar of ${peer}`
        : 'from a caller without sidecar (plaintext, no VirtualService applied)';
      const at = this.ingress ? `${this.app.address} (Sidecar ${this.ingress.source})` : this.app.address;
      note = `${from} -> app at ${at}${fast ? ' (fast lane)' : ''}`;
      // bounded: peers are the mesh's workloads, but the header naming one comes from the caller
      if (notes.size < 1024) notes.set(key, note);
    }
    return note;
  }

  /** RequestAuthentication (`rules`), then AuthorizationPolicy (`policies`), then the app. */
  private async admit(
    ex: Exchange,
    req: Req,
    res: Res,
    headers: http.OutgoingHttpHeaders,
    rules: JwtRule[],
    policies: ApplicablePolicy[]
  ): Promise<void> {
    // nothing to check (node:http requests and pooled workloads get here too): no state for the checks to share
    if (rules.length === 0 && policies.length === 0) return this.forward(ex, req, res, headers);
    let requestPrincipal = '';
    let claims: Record<string, unknown> | null = null;
    // request headers the JWT step removed or wrote: the RBAC filters after it see them as it left them
    const touched = new Set<string>();
    const authz = (phase: AuthzPhase): boolean => {
      const principal = (ex.sourcePrincipal ?? '').replace(/^spiffe:\/\//, '');
      const q = ex.path.indexOf('?');
      const decision = authorize(
        policies,
        {
          principal,
          sourceNamespace: /\/ns\/([^/]+)\//.exec(principal)?.[1] ?? '',
          sourceIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
          // Envoy's inbound listener (use_remote_address false, xff_num_trusted_hops 0): the rightmost X-Forwarded-For
          // address when it parses as an IP (getLastAddressFromXFF), else the peer's
          remoteIp: remoteIpOf(req.headers['x-forwarded-for'], req.socket.remoteAddress ?? ''),
          destinationIp: this.instance.host,
          requestPrincipal,
          claims,
          host: ex.authority,
          port: this.instance.port,
          method: ex.method,
          path: q < 0 ? ex.path : ex.path.slice(0, q),
          header: (n) => {
            const v = touched.has(n) ? headers[n] : req.headers[n];
            return Array.isArray(v) ? v.join(',') : v === undefined ? undefined : String(v);
          },
          sni: (req.socket as tls.TLSSocket).servername || ''
        },
        phase
      );
      for (const n of decision.notes) ex.note('authz', n);
      ex.note('authz', `${decision.allowed ? 'allowed' : 'denied'}: ${decision.reason}`);
      if (!decision.allowed)
        ex.sendLocal(
          {
            status: 403,
            body: Buffer.from('RBAC: access denied'),
            headers: { 'content-type': 'text/plain' },
            flags: [],
            // the access log's details name the Envoy policy that denied (none: no ALLOW policy matched)
            reason: `RBAC: ${decision.reason} [${decision.envoyPolicy ?? 'none'}]`
          },
          SERVER
        );
      return decision.allowed;
    };
    // Istio's inbound chain: the CUSTOM policies' filters, then jwt_authn, then RBAC (AUDIT, DENY, ALLOW)
    if (policies.some((p) => p.action === 'CUSTOM') && !authz('custom')) return;
    const h1 = (n: string) => {
      const v = req.headers[n];
      return Array.isArray(v) ? v[0] : v;
    };
    // Istio configures jwt_authn with bypass_cors_preflight: a CORS preflight is let through unauthenticated
    const preflight = ex.method === 'OPTIONS' && !!h1('origin') && !!h1('access-control-request-method');
    if (rules.length > 0 && preflight) ex.note('jwt', 'CORS preflight: not authenticated (bypass_cors_preflight)');
    else if (rules.length > 0) {
      // Envoy's jwt_authn removes the headers the rules write before it verifies: a client cannot send them itself
      for (const h of outputHeaders(rules)) {
        delete headers[h];
        touched.add(h);
      }
      const jwt = await authenticate(rules, req.headers, ex.path);
      if (jwt.status === 'fail') {
        ex.note('jwt', `token rejected: ${jwt.reason}`);
        ex.sendLocal(
          {
            // Envoy's jwt_authn: 403 for a token of another audience, 401 for any other failure
            status: jwt.body === JwtStatus.audienceNotAllowed ? 403 : 401,
            body: Buffer.from(jwt.body),
            headers: {
              'content-type': 'text/plain',
              // Envoy's realm: the original URI, query included
              'www-authenticate': `Bearer realm="http://${ex.authority}${ex.path}", error="invalid_token"`
            },
            flags: [],
            // the access log's details carry Envoy's message (the body) after the filter's code
            reason: `JWT: ${jwt.reason} {${jwt.body}}`
          },
          SERVER
        );
        return;
      }
      if (jwt.status === 'ok') {
        requestPrincipal = jwt.principal;
        claims = jwt.metadata;
        ex.note('jwt', `valid token of ${jwt.principal} (${jwt.rule.policy})`);
        const spec = jwt.rule.spec;
        // forward_payload_header: the token's own payload segment, unpadded base64url
        if (spec.outputPayloadToHeader) {
          headers[spec.outputPayloadToHeader.toLowerCase()] = jwt.payloadSegment;
          touched.add(spec.outputPayloadToHeader.toLowerCase());
        }
        for (const o of spec.outputClaimToHeaders ?? []) {
          const v = claimHeaderValue(jwt.claims, o.claim);
          if (v !== undefined) {
            headers[o.header.toLowerCase()] = v;
            touched.add(o.header.toLowerCase());
          }
        }
        if (!spec.forwardOriginalToken)
          jwt.strip({
            removeHeader: (n) => {
              delete headers[n];
              touched.add(n);
            },
            setPath: (p) => {
              if (!ex.compat.jwtParamRemoved) return;
              ex.note('jwt', 'token parameter removed from the path');
              ex.path = p;
            }
          });
      } else ex.note('jwt', 'no token: unauthenticated request');
    }
    if (policies.some((p) => p.action !== 'CUSTOM') && !authz('rbac')) return;
    await this.forward(ex, req, res, headers);
  }

  private async forward(ex: Exchange, req: Req, res: Res, headers: http.OutgoingHttpHeaders): Promise<void> {
    const limits = this.limits();
    if (limits && !(await this.admitToApp(ex, res, limits))) return;
    if (!limits && this.host.circuits.size > 0) this.host.circuits.delete(this.circuitKey);
    if (res instanceof TunnelResponse) return this.forwardTunnel(ex, req as IncomingMessage, res, headers);
    if (req instanceof FastRequest) return this.fastForward(ex, req, res as FastResponse, headers);
    res = res as ServerResponse;
    const body = new RequestBody(req, true, (c) => ex.requestBody.add(c));
    const abort = new Abort();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const retries = inboundRetries(ex);
    for (let attempt = 1; attempt <= 1 + retries; attempt++) {
      const t0 = performance.now();
      ex.attemptStarted();
      const out = await tryUpstream({
        agent: this.agents.plainAgent(this.lifecycle()),
        host: this.app.host,
        port: this.app.port,
        method: ex.method,
        path: ex.path,
        headers,
        body,
        perTryTimeoutMs: 0,
        connectTimeoutMs: this.host.connectTimeoutMs,
        signal: abort,
        timing: ex
      });
      const ms = performance.now() - t0;
      if (out.kind === 'aborted' || out.kind === 'per-try-timeout') return;
      if (out.kind === 'response') {
        const up = out.res;
        ex.attemptLog.push({
          attempt,
          endpoint: this.app.address,
          status: up.statusCode ?? 502,
          flags: '-',
          durationMs: Math.round(ms * 1000) / 1000
        });
        const h = responseHeaders(envoyResponseHeaders(up.rawHeaders), ms);
        ex.status = up.statusCode ?? 502;
        ex.responseHeaders = h;
        ex.responseStarted();
        res.writeHead(ex.status, h);
        up.on('data', (c: Buffer) => ex.responseBody.add(c));
        up.pipe(res);
        up.once('error', () => res.destroy());
        return;
      }
      ex.attemptLog.push(resetAttempt(attempt, this.app.address, out.reason, ms, out.message));
      const retriable = out.beforeRequest && body.replayable;
      if (retriable && attempt <= retries) {
        const wait = inboundBackoffMs(attempt, this.host.random);
        ex.note(
          'retry',
          `inbound retry ${attempt} of ${retries}: ${out.reason} before the request was sent (after ${wait.toFixed(1)} ms back-off)`
        );
        await this.host.sleep(wait);
        if (abort.aborted) return;
        continue;
      }
      ex.sendLocal(LocalReplies.upstreamReset(out.reason, attempt > 1, undefined, attempt > 1 && retriable), SERVER);
      return;
    }
  }

  /**
   * The Sidecar's inboundConnectionPool (istio-semantics §1.6): a request takes one of the app's connections, waits
   * as pending past them, and past the pending or request limit is refused with 503 UO as a client sidecar's
   * connectionPool refuses it (circuit.ts). The slot is given back when the response to the caller closes.
   */
  private async admitToApp(ex: Exchange, res: Res, limits: PoolLimits): Promise<boolean> {
    const circuit = this.inboundCircuit(limits);
    let held = false;
    // the caller leaving takes a pending request out of the queue (Envoy cancels its pool request), so its place
    // goes to the next one rather than being held until a connection frees up
    const gone = new Abort();
    res.once('close', () => {
      gone.abort();
      if (held) circuit.release();
    });
    if (!(await circuit.acquire(limits, gone))) {
      if (gone.aborted) {
        ex.note('circuit', 'the caller left while the request waited as pending');
        return false;
      }
      ex.note(
        'circuit',
        `inboundConnectionPool overflow (maxConnections ${limits.maxConnections}, http1MaxPendingRequests ${limits.maxPending}, http2MaxRequests ${limits.maxRequests})`
      );
      ex.sendLocal(LocalReplies.upstreamReset('overflow', false), SERVER);
      return false;
    }
    held = true;
    return true;
  }

  /** This instance's inbound cluster in the engine's circuit store. */
  private get circuitKey(): string {
    return `inbound|${this.instance.key}`;
  }

  /**
   * The inbound cluster's circuit breakers (the Sidecar's inboundConnectionPool). They live in the engine, as the
   * client sidecars' do: a reload makes a new sidecar object, and Envoy keeps an inbound cluster whose limits did not
   * change, its counts included; new limits are a new cluster, with nothing counted.
   */
  private inboundCircuit(limits: PoolLimits): ClusterCircuit {
    return heldCircuit(
      this.host.circuits,
      this.circuitKey,
      `${limits.maxConnections}|${limits.maxPending}|${limits.maxRequests}|${limits.maxRetries}`
    );
  }

  /** forward() on the fast lane: the same tries, retries, attempt log and response headers, on raw sockets. */
  private fastForward(ex: Exchange, req: FastRequest, res: FastResponse, headers: http.OutgoingHttpHeaders): void {
    if (req.body) ex.requestBody.add(req.body);
    const t = new InboundTry(
      ex,
      res,
      this.appPool(),
      this.app.address,
      requestHead(ex.method, ex.path, headers, req.body),
      req.body,
      this.host.random
    );
    res.once('close', t.onClose);
    t.next();
  }

  /** WebSocket and other upgrades: the request pipeline (authorization included), the caller's socket behind a TunnelResponse. */
  upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const res = new TunnelResponse(socket, head);
    this.tunnels.add(res);
    res.once('close', () => this.tunnels.delete(res));
    this.handle(req, res);
  };

  /** forward() for an upgrade request: one try to the app; on 101 the sockets are spliced (tunnel.ts). */
  private async forwardTunnel(
    ex: Exchange,
    req: IncomingMessage,
    res: TunnelResponse,
    headers: http.OutgoingHttpHeaders
  ): Promise<void> {
    upgradeHeaders(req, headers);
    ex.attemptStarted();
    const t0 = performance.now();
    const out = await tunnelTry({
      host: this.app.host,
      port: this.app.port,
      method: ex.method,
      path: ex.path,
      headers,
      connectTimeoutMs: this.host.connectTimeoutMs,
      timing: ex
    });
    const ms = performance.now() - t0;
    if (out.kind === 'reset') {
      ex.attemptLog.push(resetAttempt(1, this.app.address, out.reason, ms, out.message));
      ex.sendLocal(LocalReplies.upstreamReset(out.reason, false), SERVER);
      return;
    }
    const status = out.res.statusCode ?? 502;
    ex.attemptLog.push({
      attempt: 1,
      endpoint: this.app.address,
      status,
      flags: '-',
      durationMs: Math.round(ms * 1000) / 1000
    });
    const h = responseHeaders(envoyResponseHeaders(out.res.rawHeaders), ms);
    ex.status = status;
    ex.responseHeaders = h;
    ex.responseStarted();
    answerTunnel(ex, res, out, h);
  }
}

/**
 * The path the inbound sidecar routes, authorizes and forwards: an absolute-form target reduced to its path, then
 * normalized as Envoy does by default (util/path.ts), so `/./admin` is `/admin` for AuthorizationPolicy and the app.
 */
function inboundPath(url: string): string {
  if (url.startsWith('/')) return normalizeTarget(url);
  try {
    return normalizeTarget(absoluteTarget(url)?.path ?? url);
  } catch {
    return '/';
  }
}

/** The attempt-log entry of a try that ended in a reset (connect failure: UF; a cut after connecting: UC). */
function resetAttempt(
  attempt: number,
  endpoint: string,
  reason: ResetReason,
  ms: number,
  message: string
): AttemptRecord {
  return {
    attempt,
    endpoint,
    status: 503,
    flags: reason === 'connection-termination' ? 'UC' : 'UF',
    durationMs: Math.round(ms * 1000) / 1000,
    error: message
  };
}

/** The app's response headers for the caller: without hop-by-hop ones, with Envoy's service time and server. */
function responseHeaders(
  uh: Record<string, string | string[] | undefined>,
  upstreamMs: number
): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = {};
  for (const k in uh) if (!HOP_BY_HOP.has(k) && uh[k] !== undefined) h[k] = uh[k]!;
  h['x-envoy-upstream-service-time'] = String(Math.round(upstreamMs));
  h['server'] = SERVER;
  return h;
}

/** What a connection's client certificate says, read once per connection (the certificate cannot change on it). */
interface PeerInfo {
  principal: string | null;
  /** SHA-256 of the DER certificate, hex ('' without one). */
  hash: string;
}
const peers = new WeakMap<tls.TLSSocket, PeerInfo>();

function peerOf(sock: tls.TLSSocket): PeerInfo {
  let p = peers.get(sock);
  if (!p) {
    const cert = sock.getPeerCertificate(false);
    p = {
      principal: spiffeFromSan(cert.subjectaltname),
      hash: cert.raw ? crypto.createHash('sha256').update(cert.raw).digest('hex') : ''
    };
    peers.set(sock, p);
  }
  return p;
}

/** A request that failed on its way to the app: a 503 reset reply, or the connection ended once a response began. */
function failed(ex: Exchange, res: Res): void {
  if (!res.headersSent) ex.sendLocal(LocalReplies.upstreamReset('connection-termination', false), SERVER);
  else res.destroy();
}

/** "sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local" → "productpage-v1". */
function parsePeer(id: string): string | null {
  const parts = id.split('~');
  if (parts.length < 3) return null;
  const wl = parts[2]!;
  const dot = wl.lastIndexOf('.');
  return dot > 0 ? wl.slice(0, dot) : wl;
}

/**
 * The inbound sidecar's tries on the fast lane: one object per request (its methods are the pool's callbacks, no
 * closures per try), retried up to INBOUND_RETRIES times on resets before the request reached the app.
 */
class InboundTry extends ClientRelay implements UpstreamCall {
  on?: UpstreamHandle;
  readonly isHead: boolean;
  private attempt = 0;
  private t0 = 0;

  constructor(
    ex: Exchange,
    res: FastResponse,
    private readonly pool: UpstreamPool,
    private readonly address: string,
    readonly head: string,
    readonly body: Buffer | null,
    private readonly random: Random
  ) {
    super(ex, res);
    this.isHead = ex.method === 'HEAD';
  }

  /** The caller went away before the response was complete: drop the try (bound: a named arrow field costs a
   * defineProperty per try under tsx's keepNames). */
  readonly onClose: () => void = this.closed.bind(this);

  private closed(): void {
    if (!this.res.writableFinished) this.on?.cancel();
  }

  next(): void {
    if (this.res.destroyed) return; // the caller is gone (a request it left before sending all of its body)
    this.attempt++;
    this.t0 = performance.now();
    this.ex.attemptStarted();
    this.pool.send(this);
  }

  connected(): void {
    this.ex.upstreamConnected();
  }

  response(up: ResponseHead, framing: Framing): void {
    const ex = this.ex;
    const ms = performance.now() - this.t0;
    ex.attemptLog.push({
      attempt: this.attempt,
      endpoint: this.address,
      status: up.status,
      flags: '-',
      durationMs: Math.round(ms * 1000) / 1000
    });
    const h = responseHeaders(up.headers, ms);
    ex.status = up.status;
    ex.responseHeaders = h;
    ex.responseStarted();
    this.res.start(up.status, h, framing);
  }

  end(): void {
    this.res.end();
  }

  failed(reason: ResetReason, beforeRequest: boolean, message: string): void {
    const ex = this.ex;
    if (this.res.writableFinished || ex.finished) return;
    const attempt = this.attempt;
    ex.attemptLog.push(resetAttempt(attempt, this.address, reason, performance.now() - this.t0, message));
    if (beforeRequest && attempt <= inboundRetries(ex)) {
      const wait = inboundBackoffMs(attempt, this.random);
      ex.note(
        'retry',
        `inbound retry ${attempt} of ${INBOUND_RETRIES}: ${reason} before the request was sent (after ${wait.toFixed(1)} ms back-off)`
      );
      setTimeout(() => this.next(), wait);
      return;
    }
    ex.sendLocal(LocalReplies.upstreamReset(reason, attempt > 1, undefined, attempt > 1 && beforeRequest), SERVER);
  }

  broken(): void {
    this.res.destroy();
  }
}

/**
 * Envoy's remote address on a sidecar's inbound listener (use_remote_address false, no trusted hops): the last
 * X-Forwarded-For entry if it is an IP address (Utility::getLastAddressFromXFF), else the peer's address.
 */
function remoteIpOf(xff: string | string[] | undefined, peer: string): string {
  const list = Array.isArray(xff) ? xff.join(',') : xff;
  const last = list === undefined ? '' : list.slice(list.lastIndexOf(',') + 1).trim();
  return (net.isIP(last) !== 0 ? last : peer).replace(/^::ffff:/, '');
}
