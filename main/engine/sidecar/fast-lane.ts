/**
 * The fast lane (issue 7): HTTP/1.1 on raw sockets in place of node:http's server and client, for the requests that
 * are plain enough, with the same pipeline (Exchange, telemetry, capture, mTLS, authorization) behind it.
 *
 * Downstream, a FastConnection reads requests off a client connection (TCP, or the TLS socket the inbound sidecar
 * terminated) with the minimal parser of h1.ts, one at a time (pipelined requests wait their turn). A request it
 * cannot take -- anything h1.ts calls unsupported, an Upgrade or Expect header, a body over MAX_FAST_BODY -- is put
 * back into the socket, and the connection goes to node:http from there on, which then answers exactly as it always
 * did. A request is dispatched with its whole body in hand (so a retry can resend it).
 *
 * Upstream, an UpstreamPool keeps keep-alive connections to one address (newest first). A try writes the request
 * head and body in one go, reads the response head, then forwards the body bytes untouched (a chunked body as
 * chunks, followed by a scanner that finds its end and decodes it for capture), and returns the connection to the
 * pool when the response ended cleanly. A try whose connection fails is never sent again behind the caller's back
 * (the app may have read it: Envoy reports such a reset, 503 UC, and leaves it to the retry policy); instead a
 * plaintext pool drops connections idle longer than IDLE_LIMIT_MS, before the app's own keep-alive timeout can race
 * a reuse.
 */
import type { ConnectionLifecycle } from './lifecycle.js';
import { reasonPhrase } from './envoy-http.js';
import net from 'node:net';
import tls from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import {
  ChunkedScanner,
  headerLines,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead
} from './h1.js';
import type { ResetReason } from './local-reply.js';
import { tlsReason } from './upstream.js';
import { httpDate } from '../util/http-date.js';

/** Request bodies up to this size are read whole before the request goes upstream; larger ones go to node:http. */
export const MAX_FAST_BODY = 64 * 1024;
/** Bytes of pipelined requests buffered while one is in flight before the client is paused. */
const MAX_PIPELINED = 256 * 1024;
/** Idle upstream connections kept per address. */
const MAX_IDLE = 512;
/**
 * A plaintext pool's connections idle longer than this are closed instead of reused. Apps close idle keep-alive
 * connections themselves (Node 5 s, gunicorn 2 s, uvicorn 5 s); a request written just as the app closes is lost to
 * a reset (Istio's well-known 503 UC with Node apps). Reconnecting on loopback costs ~0.1 ms. Mutual TLS pools go to
 * localmesh's own inbound sidecars, which never close an idle connection, and keep theirs (a handshake costs more).
 */
export const IDLE_LIMIT_MS = 1500;

/**
 * TLS handshakes a pool runs at once (mutual TLS between sidecars). A handshake costs the engine thread ~4-5 ms of
 * CPU here (both ends are in it); when a stall left more calls waiting than connections idle, opening one connection
 * per waiting call made the stall longer, which left still more calls waiting: bursts of 30-50 handshakes and
 * 100-600 ms of p99 on two hops with mTLS at 1000 req/s (issue 7). Past this many, calls wait for the first
 * connection that frees up or finishes connecting instead, as Envoy's pool counts a connecting connection as
 * capacity for a pending request. Plaintext connections are cheap and keep one connection per waiting call.
 */
export const MAX_TLS_CONNECTING = 4;

const EMPTY = Buffer.alloc(0);

/**
 * Where plaintext upstream connections read into (net.connect's `onread`): one buffer for all of them, as reads are
 * handled one at a time, each copied out before the next. Node's stream path allocates an ArrayBuffer per read and
 * pushes it through the Readable machinery to a 'data' listener; this path copies the bytes into a pooled Buffer and
 * calls the connection directly (issue 7: ~0.5 µs less CPU per response in a ping-pong of 1.2 KB replies, and no
 * native buffer for the garbage collector to free). TLS sockets have no `onread`, so mutual TLS keeps 'data'.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** A request the fast lane read: what the pipeline reads of node:http's IncomingMessage. */
export class FastRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Bytes of the request head as received (request line to the blank line). */
  readonly headBytes: number;

  constructor(
    head: RequestHead,
    /** The whole body (null: none); the part that came, when the caller left before sending the rest. */
    readonly body: Buffer | null,
    readonly socket: net.Socket,
    /** False: the caller left before its body was all sent (FastConnection's onClose), and it never will be. */
    readonly complete = true
  ) {
    this.method = head.method;
    this.url = head.target;
    this.headers = head.headers as IncomingHttpHeaders;
    this.headBytes = head.length;
  }

  /** The body is complete when the request is dispatched, unless its caller already left (then it never ends). */
  once(_event: 'end', listener: () => void): this {
    if (this.complete) listener();
    return this;
  }
}

/** How the response body is framed towards the client. */
export type Framing = 'none' | 'length' | 'chunked' | 'rechunk';

/** The response to one FastRequest: the part of ServerResponse the pipeline uses, plus streaming for the proxy. */
export class FastResponse {
  headersSent = false;
  writableFinished = false;
  /** Bytes of the response head sent (status line to the blank line), 0 before. */
  headBytes = 0;
  /** Bytes sent after the head: the body as framed on the wire (chunk sizes and the last chunk included). */
  bodyBytes = 0;
  private closed = false;
  private closeListeners: (() => void)[] = [];
  private framing: Framing = 'none';
  /** The response head, held back until the first body bytes (or flush) so both leave in one write. */
  private pendingHead: string | null = null;

  constructor(
    private readonly conn: FastConnection,
    private readonly isHead: boolean,
    /** Close the connection after this response (the client asked to). */
    private readonly closeAfter: boolean
  ) {}

  once(_event: 'close', listener: () => void): this {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
    return this;
  }

  private headString(status: number, headers: Record<string, string | string[] | number>, extra: string): string {
    const date = headers.date === undefined ? `date: ${httpDate()}\r\n` : '';
    return `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n${headerLines(headers)}${date}${extra}${this.closeAfter ? 'connection: close\r\n' : ''}\r\n`;
  }

  /** A whole response at once (local replies): call end() next. Headers must carry content-length. */
  writeHead(status: number, headers: Record<string, string | string[] | number>): this {
    this.start(status, headers, 'length');
    return this;
  }

  /**
   * Send the response head (with the first body bytes, or at flush()). `rechunk`: the upstream's body ends with its
   * connection, so it is sent chunked.
   */
  start(status: number, headers: Record<string, string | string[] | number>, framing: Framing): void {
    if (this.closed) return;
    this.headersSent = true;
    this.framing = this.isHead || status === 204 || status === 304 ? 'none' : framing;
    const extra = this.framing === 'chunked' || this.framing === 'rechunk' ? 'transfer-encoding: chunked\r\n' : '';
    this.pendingHead = this.headString(status, headers, extra);
    this.headBytes = this.pendingHead.length;
  }

  /** Write the head if no body bytes took it along. */
  flush(): void {
    const head = this.pendingHead;
    if (head === null) return;
    this.pendingHead = null;
    this.conn.sock.write(head, 'latin1');
  }

  /** Body bytes; false when the client is not keeping up (wait for onDrain). */
  write(chunk: Buffer): boolean {
    if (this.closed || this.framing === 'none' || chunk.length === 0) return true;
    const head = this.pendingHead;
    this.pendingHead = null;
    const size = this.framing === 'rechunk' ? `${chunk.length.toString(16)}\r\n` : '';
    this.bodyBytes += size === '' ? chunk.length : size.length + chunk.length + 2;
    if (head === null && size === '') return this.conn.sock.write(chunk);
    // the head, a chunk's size line, the bytes and its CRLF in one buffer: one write, one segment
    const pre = (head ?? '') + size;
    const buf = Buffer.allocUnsafe(pre.length + chunk.length + (size ? 2 : 0));
    buf.write(pre, 0, 'latin1');
    chunk.copy(buf, pre.length);
    if (size) buf.write('\r\n', pre.length + chunk.length, 'latin1');
    return this.conn.sock.write(buf);
  }

  onDrain(listener: () => void): void {
    this.conn.sock.once('drain', listener);
  }

  /** The response is complete (`body`: the last bytes, for local replies). */
  end(body?: Buffer): void {
    if (this.closed) return;
    if (body) this.write(body);
    if (this.framing === 'rechunk') {
      const head = this.pendingHead;
      this.pendingHead = null;
      this.bodyBytes += 5;
      this.conn.sock.write(`${head ?? ''}0\r\n\r\n`, 'latin1');
    }
    this.flush();
    this.writableFinished = true;
    this.conn.responseDone(this.closeAfter);
    this.emitClose();
  }

  /** The connection is gone (or cut). */
  get destroyed(): boolean {
    return this.conn.sock.destroyed;
  }

  /** Cut the connection (the response cannot be completed). */
  destroy(): void {
    this.conn.sock.destroy();
  }

  /** The connection closed (or the response ended): tell the listeners once. */
  emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    const ls = this.closeListeners;
    this.closeListeners = [];
    for (const l of ls) l();
  }
}

/** Reads requests off one client connection; see the file comment. */
export class FastConnection {
  private buf: Buffer = EMPTY;
  private current: FastResponse | null = null;
  private ended = false;
  private gone = false;

  constructor(
    readonly sock: net.Socket,
    private readonly handle: (req: FastRequest, res: FastResponse) => void,
    /** Hand the connection to node:http; the unread bytes are back in the socket. */
    private readonly handOff: (sock: net.Socket) => void,
    /** Take absolute-form targets (`http://host/path`): a forward proxy's listener. */
    private readonly absoluteForm = false
  ) {
    // as node:http's server does: responses are whole writes, never held back for coalescing
    sock.setNoDelay(true);
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onClose);
  }

  /**
   * `n` bytes read into the shared `buf` (plaintext, see READ_BUFFER): copied out, as the next read reuses it. True:
   * keep reading (onData pauses the socket itself when the client is not keeping up).
   */
  read(buf: Uint8Array, n: number): boolean {
    const chunk = Buffer.allocUnsafe(n);
    chunk.set(n === buf.length ? buf : buf.subarray(0, n));
    this.onData(chunk);
    return true;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.current) {
      if (this.buf.length > MAX_PIPELINED) this.sock.pause();
      return;
    }
    this.next();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    if (!this.current) this.sock.end();
  };

  private readonly onClose = (): void => {
    this.gone = true;
    const r = this.current;
    this.current = null;
    if (r) r.emitClose();
    else this.abandoned();
  };

  /**
   * The caller left while its next request's body was still on its way (or before it was dispatched): that request still goes through the
   * pipeline, with the part of the body that came, and is over at once, as Envoy's stream is reset by the downstream
   * disconnect: a flow, a sample and an access log line with response code 0, DC downstream_remote_disconnect (the
   * body recorded at its declared size, cut short). Envoy would have sent the headers upstream already; this lane
   * sends nothing for a caller that is gone.
   */
  private abandoned(): void {
    if (this.buf.length === 0) return;
    const head = parseRequestHead(this.buf, 0, this.absoluteForm);
    if (typeof head === 'string' || !this.takes(head)) return; // node:http would have had it
    const total = head.length + head.contentLength;
    const body = head.contentLength > 0 && this.buf.length > head.length ? this.buf.subarray(head.length, total) : null;
    const complete = this.buf.length >= total;
    this.buf = EMPTY;
    const res = new FastResponse(this, head.method === 'HEAD', true);
    this.handle(new FastRequest(head, body, this.sock, complete), res);
    res.emitClose();
  }

  /** Does this lane serve a request with this head (else node:http does)? */
  private takes(head: RequestHead): boolean {
    return (
      head.contentLength <= MAX_FAST_BODY && head.headers.upgrade === undefined && head.headers.expect === undefined
    );
  }

  /** Dispatch the next buffered request, or hand the connection over when the fast lane cannot take it. */
  private next(): void {
    if (this.current || this.gone || this.buf.length === 0) return;
    const head = parseRequestHead(this.buf, 0, this.absoluteForm);
    if (head === 'incomplete') return;
    if (head === 'unsupported' || !this.takes(head)) return this.leave();
    const total = head.length + head.contentLength;
    if (this.buf.length < total) return; // the rest of the body is on its way
    const body = head.contentLength > 0 ? this.buf.subarray(head.length, total) : null;
    this.buf = total === this.buf.length ? EMPTY : this.buf.subarray(total);
    const res = new FastResponse(this, head.method === 'HEAD', head.close);
    this.current = res;
    this.handle(new FastRequest(head, body, this.sock), res);
  }

  /** The current response is complete: close if asked to, else go on with the next request. */
  responseDone(close: boolean): void {
    this.current = null;
    if (close || this.ended) {
      this.sock.end();
      return;
    }
    if (this.sock.isPaused() && !this.gone) this.sock.resume();
    if (this.buf.length > 0) process.nextTick(() => this.next());
  }

  private leave(): void {
    this.sock.off('data', this.onData);
    this.sock.off('end', this.onEnd);
    this.sock.off('close', this.onClose);
    this.sock.pause();
    if (this.buf.length > 0) this.sock.unshift(this.buf);
    this.buf = EMPTY;
    this.handOff(this.sock);
    this.sock.resume();
  }
}

/** One try upstream, as the pipeline sees it. */
export interface UpstreamCall {
  /** The request head, serialized (blank line included). */
  head: string;
  body: Buffer | null;
  /** A HEAD request: the response has no body whatever its headers say. */
  isHead: boolean;
  /** Connect timeout for a new connection this call opens (a DestinationRule's connectTimeout); else the pool's. */
  readonly connectTimeoutMs?: number;
  /** Connected (or a pooled connection taken): `sock` is that connection (where it went: its remote address). */
  connected(sock: net.Socket): void;
  /** The response head; the caller sends its own head to the client (framing: see FastResponse.start). */
  response(head: ResponseHead, framing: Framing): void;
  /** Body bytes as they arrived (forwarded untouched); false to pause until `drained`. */
  forward(raw: Buffer): boolean;
  /** Body bytes decoded (chunk framing removed), for capture. */
  capture(data: Buffer): void;
  /** Called once the bytes of one read are forwarded (uncork). */
  flush(): void;
  drained(resume: () => void): void;
  /** The response is complete. */
  end(): void;
  /** The try failed before a response head (`beforeRequest`: nothing reached the app: safe to retry). */
  failed(reason: ResetReason, beforeRequest: boolean, message: string): void;
  /** The connection broke after the response head: the client's connection must be cut. */
  broken(): void;
  /** Set by the pool: the connection the try is on now (cancel() drops the try and the connection). */
  on?: UpstreamHandle;
}

/** The connection a try is on: drop it, or hold its reading while the client catches up. */
export interface UpstreamHandle {
  cancel(): void;
  pause(): void;
  resume(): void;
}

/** Keep-alive connections to one upstream address. */
export class UpstreamPool {
  private readonly idle: UpstreamConnection[] = [];
  /** Calls waiting for a connection (TLS pools at MAX_TLS_CONNECTING handshakes), oldest first. */
  private readonly waiting: UpstreamCall[] = [];
  /** Connections opened and not yet connected (TLS: handshake done). */
  private connecting = 0;
  /** The most connections this pool had connecting at once (tests, diagnostics). */
  maxConnecting = 0;
  /**
   * The TLS session the server last gave this pool (TLS 1.3: a ticket, sent after the handshake): new connections
   * resume it, which costs both sidecars a fraction of a full mutual-TLS handshake. The server checks the client
   * certificate kept in the ticket and the client checks the server's again, so the peers' identities stand.
   */
  private tlsSession: Buffer | undefined;
  /** New connections that resumed a TLS session (tests, diagnostics). */
  resumed = 0;
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly connectTimeoutMs: () => number,
    /** TLS to the upstream (mutual TLS between sidecars); a pool holds connections of one identity pair. */
    private readonly tlsOptions?: tls.ConnectionOptions,
    /** Idle connections older than this are closed instead of reused (IDLE_LIMIT_MS; none for mutual TLS). */
    private idleLimitMs = tlsOptions ? Infinity : IDLE_LIMIT_MS,
    /**
     * The cluster's connection lifecycle (lifecycle.ts), when its connectionPool sets one: requests per connection, an
     * idle timeout and a maximum duration, each kept by the connection's own count and timers (idleLimitMs is then
     * not used).
     */
    readonly life?: ConnectionLifecycle
  ) {
    if (life) this.idleLimitMs = Infinity;
  }

  /** Start a try: on the newest idle connection, else on a new one (`call.on` then names it), else it waits. */
  send(call: UpstreamCall): void {
    let pooled = this.idle.pop();
    if (pooled && performance.now() - pooled.idleSince > this.idleLimitMs) {
      // the newest idle connection is stale, so every older one is too
      pooled.sock.destroy();
      for (const c of this.idle.splice(0)) c.sock.destroy();
      pooled = undefined;
    }
    if (pooled) return pooled.start(call);
    if (this.tlsOptions && this.connecting >= MAX_TLS_CONNECTING) return this.wait(call);
    this.connect(call.connectTimeoutMs).start(call);
  }

  /** Calls waiting, for tests and diagnostics. */
  get waitingCalls(): number {
    return this.waiting.length;
  }

  private wait(call: UpstreamCall): void {
    this.waiting.push(call);
    // until a connection takes it, cancelling (a timeout, the client gone) only drops it from the queue
    call.on = {
      cancel: () => {
        const i = this.waiting.indexOf(call);
        if (i >= 0) this.waiting.splice(i, 1);
      },
      pause: () => undefined,
      resume: () => undefined
    };
  }

  /** A new connection for a try. */
  connect(connectTimeoutMs = this.connectTimeoutMs()): UpstreamConnection {
    const o = this.tlsOptions;
    const reads: { to?: UpstreamConnection } = {};
    const sock = o
      ? tls.connect({ ...o, host: this.host, port: this.port, session: this.tlsSession })
      : net.connect({
          host: this.host,
          port: this.port,
          noDelay: true,
          onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => reads.to!.read(buf, n) }
        });
    if (o) {
      sock.setNoDelay(true);
      const t = sock as tls.TLSSocket;
      t.on('session', (session: Buffer) => (this.tlsSession = session));
      t.once('secureConnect', () => {
        if (t.isSessionReused()) this.resumed++;
      });
    }
    this.connecting++;
    if (this.connecting > this.maxConnecting) this.maxConnecting = this.connecting;
    const c = (reads.to = new UpstreamConnection(this, sock, connectTimeoutMs, o !== undefined));
    if (this.life && this.life.maxDurationMs > 0) c.expireAfter(this.life.maxDurationMs);
    return c;
  }

  /** A connection opened by connect() connected, or failed before it did: a waiting call may open the next one. */
  settled(): void {
    this.connecting--;
    const call = this.waiting.shift();
    if (call) this.send(call);
  }

  release(c: UpstreamConnection): void {
    const life = this.life;
    // the cluster's lifecycle: a connection that carried its last request, or outlived maxConnectionDuration, closes
    if (life && ((life.maxRequests > 0 && c.served >= life.maxRequests) || c.expired)) {
      c.sock.destroy();
      // a call waiting for a connection (TLS pools at MAX_TLS_CONNECTING) gets a new one, not this one
      const waiting = this.waiting.shift();
      if (waiting) this.send(waiting);
      return;
    }
    const call = this.waiting.shift();
    if (call) return c.start(call);
    if (this.closed || this.idle.length >= MAX_IDLE) c.sock.destroy();
    else {
      c.idleSince = performance.now();
      this.idle.push(c);
      if (life?.idleMs) c.idleFor(life.idleMs);
    }
  }

  /** Is `c` idle in the pool (not carrying a request)? */
  isIdle(c: UpstreamConnection): boolean {
    return this.idle.includes(c);
  }

  forget(c: UpstreamConnection): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.sock.destroy();
  }
}

/** How the current response's body ends. */
type BodyMode = 'none' | 'length' | 'chunked' | 'close';

class UpstreamConnection implements UpstreamHandle {
  private call: UpstreamCall | null = null;
  private connected = false;
  /** When the connection went back to the pool (performance.now()). */
  idleSince = 0;
  /** Requests started on this connection (the cluster's maxRequestsPerConnection). */
  served = 0;
  /** Past the cluster's maxConnectionDuration: closed when idle. */
  expired = false;
  /** The cluster's idle timeout and maxConnectionDuration, when it sets them. */
  private idleTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private buf: Buffer = EMPTY;
  private head: ResponseHead | null = null;
  private mode: BodyMode = 'none';
  private remaining = 0;
  private scanner: ChunkedScanner | null = null;
  private connectTimer: NodeJS.Timeout | undefined;

  /** TCP is up (for TLS: the handshake may still fail). */
  private tcp = false;
  /** Counted in the pool's connections connecting (see UpstreamPool.settled). */
  private connecting = true;

  constructor(
    private readonly pool: UpstreamPool,
    readonly sock: net.Socket,
    connectTimeoutMs: number,
    secure: boolean
  ) {
    if (secure) sock.on('data', this.onData);
    sock.on('error', this.onError);
    sock.on('close', this.onClose);
    this.connectTimeoutMs = connectTimeoutMs;
    this.connectTimer = setTimeout(this.onConnectTimeout, connectTimeoutMs);
    sock.once('connect', () => (this.tcp = true));
    sock.once(secure ? 'secureConnect' : 'connect', this.onConnect);
  }

  start(call: UpstreamCall): void {
    call.on = this;
    this.call = call;
    this.served++;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.head = null;
    this.buf = EMPTY;
    if (this.connected) this.send();
  }

  cancel(): void {
    this.call = null;
    this.sock.destroy();
  }

  /** Close this connection once it has been idle `ms` (the cluster's idle timeout). */
  idleFor(ms: number): void {
    this.idleTimer = setTimeout(this.onIdleTimeout, ms);
    this.idleTimer.unref();
  }

  private readonly onIdleTimeout = (): void => {
    this.idleTimer = undefined;
    if (this.call) return;
    this.pool.forget(this);
    this.sock.destroy();
  };

  /** Close this connection `ms` after it was set up: at once when idle by then, else when its request ends. */
  expireAfter(ms: number): void {
    this.durationTimer = setTimeout(() => {
      this.durationTimer = undefined;
      this.expired = true;
      if (this.pool.isIdle(this)) {
        this.pool.forget(this);
        this.sock.destroy();
      }
    }, ms);
    this.durationTimer.unref();
  }

  pause(): void {
    this.sock.pause();
  }

  resume(): void {
    this.sock.resume();
  }

  private send(): void {
    const call = this.call;
    if (!call) return;
    call.connected(this.sock);
    if (call.body) {
      this.sock.cork();
      this.sock.write(call.head, 'latin1');
      this.sock.write(call.body);
      this.sock.uncork();
    } else this.sock.write(call.head, 'latin1');
  }

  private readonly onConnect = (): void => {
    clearTimeout(this.connectTimer);
    this.connected = true;
    this.send();
    this.settle();
  };

  /** Tell the pool once that this connection is no longer connecting (connected, or gone before it did). */
  private settle(): void {
    if (!this.connecting) return;
    this.connecting = false;
    this.pool.settled();
  }

  private readonly connectTimeoutMs: number;

  private readonly onConnectTimeout = (): void => {
    const call = this.call;
    this.call = null;
    this.sock.destroy();
    call?.failed('connect-timeout', true, `connect timeout (${this.connectTimeoutMs} ms)`);
  };

  /**
   * `n` bytes read into the shared `buf` (plaintext, see READ_BUFFER): copied out, as the next read reuses it. True:
   * keep reading (onData pauses the socket itself when the client is not keeping up).
   */
  read(buf: Uint8Array, n: number): boolean {
    const chunk = Buffer.allocUnsafe(n);
    chunk.set(n === buf.length ? buf : buf.subarray(0, n));
    this.onData(chunk);
    return true;
  }

  private readonly onData = (chunk: Buffer): void => {
    const call = this.call;
    if (!call) return void this.sock.destroy(); // bytes nobody asked for: the connection is not reusable
    if (this.head) return this.body(call, chunk, 0);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const h = parseResponseHead(this.buf);
      if (h === 'incomplete') return;
      if (h === 'unsupported' || h.status === 101)
        return this.fail(call, 'connection-termination', false, 'HPE_INVALID_RESPONSE');
      if (h.status < 200) {
        this.buf = this.buf.subarray(h.length); // 1xx informational: node:http's client drops them too
        continue;
      }
      this.head = h;
      this.mode =
        call.isHead || h.status === 204 || h.status === 304
          ? 'none'
          : h.chunked
            ? 'chunked'
            : h.contentLength >= 0
              ? 'length'
              : 'close';
      this.remaining = h.contentLength;
      this.scanner = this.mode === 'chunked' ? new ChunkedScanner() : null;
      const rest = this.buf;
      this.buf = EMPTY;
      call.response(
        h,
        this.mode === 'chunked'
          ? 'chunked'
          : this.mode === 'close'
            ? 'rechunk'
            : this.mode === 'none'
              ? 'none'
              : 'length'
      );
      if (this.call !== call) return; // cancelled while answering
      return this.body(call, rest, h.length);
    }
  };

  private body(call: UpstreamCall, chunk: Buffer, from: number): void {
    let ok = true;
    let end = -1;
    if (this.mode === 'none') end = from;
    else if (this.mode === 'length') {
      const n = Math.min(this.remaining, chunk.length - from);
      if (n > 0) {
        const piece = from === 0 && n === chunk.length ? chunk : chunk.subarray(from, from + n);
        call.capture(piece);
        ok = call.forward(piece);
      }
      this.remaining -= n;
      if (this.remaining === 0) end = from + n;
    } else if (this.mode === 'chunked') {
      const s = this.scanner!;
      end = s.scan(chunk, from, (d) => call.capture(d));
      if (s.failed) {
        call.flush();
        return this.breakOff(call);
      }
      const upTo = end < 0 ? chunk.length : end;
      if (upTo > from) ok = call.forward(chunk.subarray(from, upTo));
    } else if (chunk.length > from) {
      const piece = chunk.subarray(from);
      call.capture(piece);
      ok = call.forward(piece);
    }
    call.flush();
    if (end >= 0) return this.complete(call, end === chunk.length && !this.head!.close);
    if (!ok) {
      this.pause();
      call.drained(() => this.resume());
    }
  }

  /** The response ended: the connection goes back to the pool when nothing else arrived and it may stay open. */
  private complete(call: UpstreamCall, reusable: boolean): void {
    this.call = null;
    this.head = null;
    if (reusable) this.pool.release(this);
    else this.sock.destroy();
    call.end();
  }

  private fail(call: UpstreamCall, reason: ResetReason, beforeRequest: boolean, message: string): void {
    this.call = null;
    this.sock.destroy();
    call.failed(reason, beforeRequest, message);
  }

  private breakOff(call: UpstreamCall): void {
    this.call = null;
    this.sock.destroy();
    call.broken();
  }

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    this.ended(err);
  };

  private readonly onClose = (): void => {
    this.ended(null);
  };

  private ended(err: NodeJS.ErrnoException | null): void {
    clearTimeout(this.connectTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.durationTimer) clearTimeout(this.durationTimer);
    this.settle();
    const call = this.call;
    this.call = null;
    if (!call) return void this.pool.forget(this);
    if (this.head) {
      // a body that runs until the connection closes ends cleanly here; any other body was cut short
      if (this.mode === 'close' && !err) {
        this.head = null;
        return call.end();
      }
      return call.broken();
    }
    if (this.tcp && !this.connected && this.sock instanceof tls.TLSSocket)
      call.failed(
        'tls-failure',
        true,
        tlsReason(err ?? { name: 'Error', message: 'connection closed during the TLS handshake' })
      );
    else if (!this.connected) call.failed('connect-refused', true, err?.code ?? err?.message ?? 'connection closed');
    else call.failed('connection-termination', false, err?.code ?? err?.message ?? 'connection closed');
  }
}
