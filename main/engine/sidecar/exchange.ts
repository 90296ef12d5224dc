/**
 * What one sidecar knows about one request while handling it: the decision trace, the flags, the attempts, and the
 * finished flow record. Shared by the outbound and inbound pipelines.
 */
import { formatHeaderValue, type FormatFacts } from './header-format.js';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { addressText, upstreamCluster } from '../telemetry/access-log.js';
import type { AttemptRecord, FlowRecord, FlowStart, Reporter, TraceStep } from '../../contract/api.js';
import { joinFlags } from './flags.js';
import type { LocalReply } from './local-reply.js';
import { BodyCapture } from './body-capture.js';
import { CAPTURED_BYTES, type CapturingFlow } from '../capture/body-view.mjs';
import { httpDate } from '../util/http-date.js';
import { appendInline, envoyRequestHeaders } from './h1.js';
import type { Snapshot } from '../snapshot.js';
import type { Registry } from '../registry.js';
import { newSpanId, newTraceId, startSpan, type SpanFields } from '../telemetry/tracing.js';
import type { Compat } from '../config/compat.js';

let flowSeq = 0;

/** Date.now() as ISO and base-36 text, kept for the millisecond (several requests start in the same one). */
let clockMs = -1;
let clockIso = '';
let clockB36 = '';
/** Read the clock; returns Date.now() in base 36 (clockIso then holds the same instant as ISO text). */
function tick(): string {
  const now = Date.now();
  if (now !== clockMs) {
    clockMs = now;
    clockIso = new Date(now).toISOString();
    clockB36 = now.toString(36);
  }
  return clockB36;
}

/** Hop-by-hop headers a proxy never forwards (and `expect`: the sidecar answers 100-continue itself, as Envoy does). */
export const HOP_BY_HOP = new Set([
  'expect',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate'
]);

/** Header naming the flow a request replays (set by replayFlow / `localmesh replay`; never forwarded). */
export const REPLAY_HEADER = 'x-localmesh-replay-of';

function ms(t: number): number {
  return Math.round(t * 1000) / 1000;
}

/** What an Exchange reads of the request: node:http's IncomingMessage, or the fast lane's FastRequest. */
export interface DownstreamRequest {
  readonly method?: string;
  readonly url?: string;
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
  /** The fast lane: bytes of the head as received. */
  readonly headBytes?: number;
  /** node:http: the head's lines as received. */
  readonly rawHeaders?: string[];
  readonly httpVersion?: string;
  once(event: 'end', listener: () => void): unknown;
}

/** Downstream wire bytes of one request (istio_request_bytes / istio_response_bytes, istio-semantics §3.1). */
export interface WireSizes {
  /** Received from the caller: the request head and body. */
  request: number;
  /** Sent to the caller: the response head and body. */
  response: number;
  /** The bodies alone (decoded), as Envoy's access log counts BYTES_RECEIVED / BYTES_SENT for HTTP. */
  requestBody?: number;
  responseBody?: number;
  /** The caller's connection, read only by the access log (its addresses, the SNI of its TLS). */
  socket?: Socket;
  /** The request's HTTP version as the caller sent it ("1.1", "1.0"). */
  httpVersion?: string;
}

/** A caller's connection's addresses as read while it was open (keepAddresses), by socket. */
const keptAddresses = new WeakMap<object, { local: string | null; remote: string | null }>();

type Addressed = {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
};

/**
 * Read a caller's connection's addresses now, while it is open, for the access log: a socket that closed no longer
 * tells its local address (node:net forgets it), and a request that ends with its connection (a caller that gave
 * up: DC) is logged after that.
 */
export function keepAddresses(sock: Addressed): void {
  if (!keptAddresses.has(sock)) keptAddresses.set(sock, liveAddresses(sock));
}

/** The connection's `ip:port` at each end: as kept (keepAddresses), else as it tells now (null when it cannot). */
export function socketAddresses(sock: Addressed): { local: string | null; remote: string | null } {
  return keptAddresses.get(sock) ?? liveAddresses(sock);
}

function liveAddresses(sock: Addressed): { local: string | null; remote: string | null } {
  return {
    local: addressText(sock.localAddress, sock.localPort),
    remote: addressText(sock.remoteAddress, sock.remotePort)
  };
}

/** The bytes written so far on a response's connection (node:http's socket), if it counts them. */
function bytesWritten(socket: unknown): number | undefined {
  const n = (socket as { bytesWritten?: unknown } | null | undefined)?.bytesWritten;
  return typeof n === 'number' ? n : undefined;
}

/** Bytes of a request head node:http parsed: the request line, each header line, the blank line. */
function rawHeadBytes(req: DownstreamRequest): number {
  // `<method> <target> HTTP/<version>\r\n`
  let n = (req.method ?? 'GET').length + (req.url ?? '/').length + 9 + (req.httpVersion ?? '1.1').length;
  const raw = req.rawHeaders ?? [];
  for (let i = 0; i + 1 < raw.length; i += 2) n += Buffer.byteLength(raw[i]!) + Buffer.byteLength(raw[i + 1]!) + 4;
  return n + 2;
}

/** Bytes of the response head sent: the fast lane counts them; node:http keeps the head it wrote. */
function responseHeadBytes(res: DownstreamResponse): number {
  if (typeof res.headBytes === 'number') return res.headBytes;
  const head = (res as { _header?: unknown })._header;
  return typeof head === 'string' ? Buffer.byteLength(head, 'latin1') : 0;
}

/** What an Exchange does with the response: node:http's ServerResponse, or the fast lane's FastResponse. */
export interface DownstreamResponse {
  readonly headersSent: boolean;
  /** The fast lane: bytes of the response head sent, and of the body as framed on the wire. */
  readonly headBytes?: number;
  readonly bodyBytes?: number;
  /** node:http: whether the body goes chunked, and the connection (whose byte count frames it then). */
  readonly chunkedEncoding?: boolean;
  readonly socket?: unknown;
  readonly writableFinished: boolean;
  once(event: 'close', listener: () => void): unknown;
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  end(body?: Buffer): unknown;
  destroy(): unknown;
}

export class Exchange implements SpanFields {
  readonly id = `${tick()}-${(++flowSeq).toString(36)}`;
  /** performance.now() when the request headers arrived: every timing is relative to it. */
  readonly started = performance.now();
  readonly startedAt = clockIso;
  readonly trace: TraceStep[] = [];
  readonly flags = new Set<string>();
  readonly attemptLog: AttemptRecord[] = [];
  requestId = '';
  method: string;
  authority = '';
  path = '';
  status = 0;
  destination: string | null = null;
  destinationService: string | null = null;
  virtualService: string | null = null;
  rule: string | null = null;
  subset: string | null = null;
  endpoint: string | null = null;
  localReply: string | null = null;
  sourcePrincipal: string | null = null;
  destinationPrincipal: string | null = null;
  mtls = false;
  upstreamHeaders: OutgoingHttpHeaders = {};
  /** What was sent to the caller (writeHead with an object does not show up in res.getHeaders()). */
  responseHeaders: OutgoingHttpHeaders = {};
  /** CORS headers for an allowed origin (outbound corsPolicy): added to whatever the router answers. */
  corsHeaders: Record<string, string> | undefined = undefined;
  /** The matched rule's (and destination's) response header ops: on upstream responses and the router's own replies. */
  routeResponseHeaders: ((h: Record<string, string | string[] | number | undefined>) => void) | undefined = undefined;
  finished = false;
  /** spec.capture.enabled of the config the request started on: bodies are kept and the flow is stored. */
  readonly captured: boolean;
  readonly requestBody: BodyCapture;
  readonly responseBody: BodyCapture;
  readonly configVersion: number;
  /** The Istio release's behaviours of the config the request started on (spec.compatibilityVersion). */
  readonly compat: Compat;
  /** spec.tracing.b3 of the config the request started on (unset: on before Istio 1.22, see Compat). */
  readonly b3: boolean;
  // this sidecar's span (set by beginSpan; a request that failed before it still gets ids in done())
  traceId = '';
  spanId = '';
  parentSpanId: string | null = null;
  traceFlags = '01';
  /** The flow this request replays (x-localmesh-replay-of), null for an ordinary request. */
  replayOf: string | null = null;
  // absolute performance.now() times of the phases (null: did not happen)
  private requestEndAt: number | null;
  private upstreamConnectedAt: number | null = null;
  private responseStartAt: number | null = null;
  /** node:http: the response's connection, and its bytesWritten when this response began (responseStarted). */
  private outSocket: unknown;
  private bytesOutBefore: number | undefined;

  /** The registry of the config the request started on (%UPSTREAM_CLUSTER% in header values). */
  private readonly registry: Registry;

  constructor(
    readonly req: DownstreamRequest,
    readonly res: DownstreamResponse,
    readonly reporter: Reporter,
    public source: string | null,
    snap: Snapshot,
    private readonly onDone: (flow: CapturingFlow, wire: WireSizes, stored: boolean) => void
  ) {
    this.method = req.method ?? 'GET';
    this.registry = snap.registry;
    this.configVersion = snap.version;
    const spec = snap.mesh.spec;
    this.compat = snap.compat;
    this.b3 = spec.tracing.b3 ?? snap.compat.b3ByDefault;
    this.captured = spec.capture.enabled;
    const cap = this.captured ? spec.capture.bodyCap : 0;
    this.requestBody = new BodyCapture(cap);
    this.responseBody = new BodyCapture(cap);
    const h = req.headers;
    const cl = h['content-length'];
    if (h['transfer-encoding'] === undefined && (cl === undefined || cl === '0'))
      this.requestEndAt = this.started; // no body: complete with the headers
    else {
      if (cl !== undefined && h['transfer-encoding'] === undefined) this.requestBody.declared = Number(cl) || 0;
      this.requestEndAt = null;
      req.once('end', () => (this.requestEndAt = performance.now()));
    }
    res.once('close', () => this.done());
  }

  /** Start this sidecar's span: continue the incoming trace context of the request and write ours into `out`. */
  beginSpan(out: OutgoingHttpHeaders): void {
    startSpan(this, this.req.headers, out, this.b3);
  }

  /** What Envoy's format commands in a header value read of this request (header-format.ts). */
  formatFacts(): FormatFacts {
    const sock = this.req.socket;
    return {
      remoteAddress: sock.remoteAddress,
      remotePort: sock.remotePort,
      localAddress: sock.localAddress,
      localPort: sock.localPort,
      protocol: `HTTP/${this.req.httpVersion ?? '1.1'}`,
      startMs: Date.now() - (performance.now() - this.started),
      requestHeaders: this.req.headers,
      authority: this.authority,
      method: this.method,
      path: this.path,
      upstream: this.endpoint,
      responseCode: this.status,
      cluster: () => this.clusterName(),
      flags: () => (this.flags.size === 0 ? '-' : joinFlags(this.flags))
    };
  }

  /** The cluster chosen for the request so far, as the access log names it (empty before one is, or with none). */
  private clusterName(): string {
    const f = {
      reporter: this.reporter,
      endpoint: this.endpoint,
      destinationService: this.destinationService,
      subset: this.subset,
      authority: this.authority,
      status: this.status,
      localReply: this.localReply,
      flags: this.flags.size === 0 ? '-' : joinFlags(this.flags)
    } as FlowRecord;
    const name = upstreamCluster(f, this.registry);
    return name === '-' ? '' : name;
  }

  /**
   * Take the replay marker off the headers sent onward and record it. Only loopback callers may set it (every
   * localmesh listener binds 127.0.0.1, so in practice all of them).
   */
  takeReplayMarker(out: OutgoingHttpHeaders): void {
    const v = out[REPLAY_HEADER];
    if (v === undefined) return;
    delete out[REPLAY_HEADER];
    const addr = this.req.socket.remoteAddress ?? '';
    if (
      typeof v !== 'string' ||
      v === '' ||
      !(addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.'))
    )
      return;
    this.replayOf = v;
    this.note('replay', `replay of ${v}`);
  }

  /** A new upstream attempt starts: it has no connection yet. */
  attemptStarted(): void {
    this.upstreamConnectedAt = null;
  }

  /** The connection of the current attempt is ready (TCP, plus TLS for mTLS; a reused one when assigned). */
  upstreamConnected(): void {
    this.upstreamConnectedAt = performance.now();
  }

  /** Response headers go to the caller now. */
  responseStarted(): void {
    if (this.responseStartAt !== null) return;
    this.responseStartAt = performance.now();
    // node:http: the connection's bytes so far, all of earlier responses (they go one at a time), so that a body
    // it sends chunked is counted with its framing (wireSizes)
    if (this.res.bodyBytes === undefined) {
      // the response lets go of its connection when it finishes: keep it
      this.outSocket = this.res.socket;
      this.bytesOutBefore = bytesWritten(this.outSocket);
    }
  }

  note(step: string, detail: string): void {
    this.trace.push({ step, detail });
  }

  /** Keep x-request-id when present, generate a UUIDv4 when absent. */
  ensureRequestId(headers: OutgoingHttpHeaders): void {
    const id = headers['x-request-id'];
    if (typeof id === 'string' && id !== '') this.requestId = id;
    else {
      this.requestId = randomUUID();
      headers['x-request-id'] = this.requestId;
    }
  }

  /** Send a proxy-generated response, byte-exact (istio-semantics §1.7). */
  sendLocal(reply: LocalReply, server: string, extra?: (h: Record<string, string | string[]>) => void): void {
    for (const f of reply.flags) this.flags.add(f);
    this.localReply = reply.reason;
    this.note('local-reply', `${reply.status} ${reply.reason}`);
    const res = this.res;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string | string[]> = { ...reply.headers };
    this.status = reply.status; // before the rule's header ops: %RESPONSE_CODE% reads it
    this.routeResponseHeaders?.(headers);
    extra?.(headers);
    if (this.corsHeaders) Object.assign(headers, this.corsHeaders);
    // Envoy's prepareLocalReply: a reply without a body has no content-type, even one the rule's ops set (a gRPC
    // trailers-only reply keeps its own)
    if (reply.body.length === 0 && reply.headers['grpc-status'] === undefined) delete headers['content-type'];
    // and its HTTP/1 codec sends no content-length on a 1xx or 204, which has no body
    const bodiless = reply.status === 204 || reply.status < 200;
    if (bodiless) delete headers['content-length'];
    else headers['content-length'] = String(reply.body.length);
    headers['server'] = server;
    // set here (node:http and the fast lane then add none) so the flow records the Date the caller gets
    headers['date'] ??= httpDate();
    this.responseHeaders = headers;
    this.responseStarted();
    res.writeHead(reply.status, headers);
    const sent = this.method !== 'HEAD' && !bodiless;
    if (sent) this.responseBody.add(reply.body);
    res.end(sent ? reply.body : undefined);
  }

  /**
   * What is known of the request as it starts, for the `flow-start` event (built only while someone subscribes to
   * it: the pipelines check SidecarHost.flowStartSubscribers first). Its `flow`, with the same id, follows in done().
   */
  startRecord(): FlowStart {
    return {
      id: this.id,
      requestId: this.requestId,
      reporter: this.reporter,
      source: this.source,
      destination: this.destination,
      destinationService: this.destinationService,
      method: this.method,
      authority: this.authority,
      path: this.path,
      startedAt: this.startedAt,
      requestHeaders: flattenHeaders(this.upstreamHeaders),
      replayOf: this.replayOf
    };
  }

  private done(): void {
    if (this.finished) return;
    this.finished = true;
    // the caller went away before the response was complete (unless this sidecar reset it: a route timeout, UT)
    if (!this.res.writableFinished && !this.flags.has('UT')) this.flags.add('DC');
    if (this.spanId === '') {
      // failed before the span began (e.g. an unparsable request target): still a span, a root one
      this.traceId = newTraceId();
      this.spanId = newSpanId();
    }
    const end = performance.now();
    const t0 = this.started;
    const durationMs = ms(end - t0);
    const reqEnd = this.requestEndAt;
    this.onDone(
      {
        id: this.id,
        requestId: this.requestId,
        reporter: this.reporter,
        source: this.source,
        destination: this.destination,
        destinationService: this.destinationService,
        method: this.method,
        authority: this.authority,
        path: this.path,
        status: this.status,
        flags: this.flags.size === 0 ? '-' : joinFlags(this.flags),
        durationMs,
        startedAt: this.startedAt,
        virtualService: this.virtualService,
        rule: this.rule,
        subset: this.subset,
        endpoint: this.endpoint,
        attempts: this.attemptLog.length,
        attemptLog: this.attemptLog,
        localReply: this.localReply,
        trace: this.trace,
        configVersion: this.configVersion,
        requestHeaders: flattenHeaders(this.upstreamHeaders),
        responseHeaders: flattenHeaders(this.responseHeaders),
        sourcePrincipal: this.sourcePrincipal,
        destinationPrincipal: this.destinationPrincipal,
        connectionSecurity: this.mtls ? 'mutual_tls' : 'none',
        // captured bodies travel as their kept bytes; whoever needs their views makes them (body-view.mjs)
        requestBody: this.captured ? undefined : null,
        responseBody: this.captured ? undefined : null,
        [CAPTURED_BYTES]: this.captured
          ? { request: this.requestBody.bytes(), response: this.responseBody.bytes() }
          : undefined,
        traceId: this.traceId,
        spanId: this.spanId,
        parentSpanId: this.parentSpanId,
        timings: {
          requestEnd: reqEnd === null || reqEnd > end ? null : ms(reqEnd - t0),
          upstreamConnected: this.upstreamConnectedAt === null ? null : ms(this.upstreamConnectedAt - t0),
          responseStart: this.responseStartAt === null ? null : ms(this.responseStartAt - t0),
          responseEnd: durationMs
        },
        replayOf: this.replayOf
      },
      this.wireSizes(),
      this.captured
    );
  }

  /**
   * What crossed the wire with the caller: the request head as received and the response head as sent, plus the
   * bodies' bytes (decoded: a chunked body's framing is not counted).
   */
  private wireSizes(): WireSizes {
    const req = this.req;
    const head = typeof req.headBytes === 'number' ? req.headBytes : rawHeadBytes(req);
    const res = this.res;
    // the response as framed on the wire (istio-semantics §3.1: Envoy's codec counts every byte it writes): the
    // fast lane counts what it wrote; node:http's chunked body is the connection's bytes since the response began
    const response =
      res.bodyBytes !== undefined
        ? (res.headersSent ? responseHeadBytes(res) : 0) + res.bodyBytes
        : res.chunkedEncoding === true &&
            this.bytesOutBefore !== undefined &&
            bytesWritten(this.outSocket) !== undefined
          ? bytesWritten(this.outSocket)! - this.bytesOutBefore
          : (res.headersSent ? responseHeadBytes(res) : 0) + this.responseBody.size;
    return {
      request: head + this.requestBody.size,
      response,
      requestBody: this.requestBody.size,
      responseBody: this.responseBody.size,
      socket: req.socket,
      httpVersion: req.httpVersion ?? '1.1'
    };
  }
}

function flattenHeaders(h: OutgoingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    if (!Object.hasOwn(h, k)) continue;
    const v = h[k];
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v : String(v);
  }
  return out;
}

/**
 * Copy the downstream request headers for the upstream, without hop-by-hop ones nor those in `drop` (left out while
 * copying rather than deleted afterwards: the copy keeps its fast object shape).
 */
export function forwardableHeaders(
  req: DownstreamRequest | IncomingMessage,
  drop?: ReadonlySet<string>
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const raw = req.headers;
  for (const k in raw) {
    if (HOP_BY_HOP.has(k) || drop?.has(k)) continue;
    const v = raw[k];
    // a header sent on several lines (envoyRequestHeaders) goes on as its own list: ops on the copy leave the request's
    out[k] = Array.isArray(v) ? v.slice() : v;
  }
  return out;
}

/**
 * node:http's request with the headers Envoy's HTTP/1 codec would have made of its lines (h1.ts
 * envoyRequestHeaders), as the fast lane's requests have them: IncomingMessage.headers joins a repeated field with
 * ", " and keeps only the first of some (user-agent, authorization, content-type ...); its rawHeaders keep every line.
 */
export function withEnvoyHeaders(req: IncomingMessage): void {
  req.headers = envoyRequestHeaders(req.rawHeaders) as IncomingHttpHeaders;
}

/**
 * The header an op names: `:authority` is the Host header (setting it rewrites the authority); other pseudo-headers
 * (`:path`, `:method`, `:status` ...) cannot be modified (istio-semantics §1.2), so their ops are ignored (null).
 */
function opHeader(name: string): string | null {
  const key = name.toLowerCase();
  if (key === ':authority') return 'host';
  return key.startsWith(':') ? null : key;
}

/**
 * The authority a header-ops block rewrites to: its `host`/`:authority` entry, `set` over `add` (Istio's
 * TranslateHeadersOperations), or undefined.
 */
export function opsAuthority(
  ops: { set?: Record<string, string>; add?: Record<string, string> } | undefined
): string | undefined {
  const find = (m: Record<string, string> | undefined) =>
    Object.entries(m ?? {}).find(([k, v]) => opHeader(k) === 'host' && v !== '')?.[1];
  return find(ops?.set) ?? find(ops?.add);
}

/**
 * Apply one header-ops block as Istio translates it: remove first, then set, then add (TranslateHeadersOperations:
 * `set` entries overwrite, `add` entries after them append, so set + add of one name sends both values). The Host
 * (`host` or `:authority`) is the authority: adding it rewrites it like set, and it cannot be removed; other
 * pseudo-headers are left alone.
 */
export function applyHeaderOps(
  headers: OutgoingHttpHeaders | Record<string, string | string[] | number | undefined>,
  ops: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] } | undefined,
  /** The request, for values with Envoy's format commands (header-format.ts). */
  ex?: Exchange,
  /**
   * The headers Envoy keeps inline in this map (h1.ts ENVOY_INLINE_REQUEST_HEADERS or ENVOY_INLINE_RESPONSE_HEADERS):
   * an `add` to one that is there is appended to its value with "," (HeaderMapImpl::addCopy -> appendToHeader), one
   * line; to any other header it is another entry, a line of its own.
   */
  inline?: ReadonlySet<string>
): void {
  if (!ops) return;
  for (const name of ops.remove ?? []) {
    const key = opHeader(name);
    if (key !== null && key !== 'host') delete headers[key];
  }
  // Envoy adds no header whose value comes out empty (keep_empty_value is off), a value written empty included. The
  // authority is no header op in Envoy: Istio makes it the route's host_rewrite_literal, which is not formatted
  let facts: FormatFacts | undefined;
  const value = (key: string | null, v: string) =>
    v.indexOf('%') < 0 || !ex || key === 'host' ? v : formatHeaderValue(v, (facts ??= ex.formatFacts()));
  for (const [k, raw] of Object.entries(ops.set ?? {})) {
    const key = opHeader(k);
    const v = value(key, raw);
    if (key !== null && v !== '') headers[key] = v;
  }
  for (const [k, raw] of Object.entries(ops.add ?? {})) {
    const key = opHeader(k);
    const v = value(key, raw);
    if (key === null || v === '') continue;
    if (key === 'host') {
      // set wins over add for the authority
      if (!Object.keys(ops.set ?? {}).some((n) => opHeader(n) === 'host')) headers.host = v;
      continue;
    }
    const cur = headers[key];
    if (cur === undefined) headers[key] = v;
    else if (inline?.has(key)) headers[key] = appendInline(Array.isArray(cur) ? cur.join(',') : String(cur), v);
    else headers[key] = [...(Array.isArray(cur) ? cur.map(String) : [String(cur)]), v];
  }
}
