/**
 * HTTP/1.1 upgrades (WebSocket and the like) through the same pipeline as every other request: routing, faults,
 * authorization, mutual TLS between sidecars, telemetry and capture. The caller's socket stands behind a
 * TunnelResponse (what an Exchange writes a response to), and one try to the upstream either upgrades -- then the
 * two sockets are spliced until both are closed, and the exchange ends with status 101 as in Envoy's stats -- or
 * answers like any request, or fails like any try.
 */
import { reasonPhrase, withCookieLines } from './envoy-http.js';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { Exchange } from './exchange.js';
import { headerLines } from './h1.js';
import type { ResetReason } from './local-reply.js';
import { requestTarget, tlsReason } from './upstream.js';
import { httpDate } from '../util/http-date.js';

/** The caller's side of an upgrade request: its socket, written as an HTTP/1.1 response or spliced after a 101. */
export class TunnelResponse {
  headersSent = false;
  /** The response was complete: a whole (non-101) response written, or the tunnel closed cleanly by either side. */
  writableFinished = false;
  /** Bytes of the response head sent. */
  headBytes = 0;
  private closed = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    readonly socket: Duplex,
    /** Bytes the caller sent after the request head (the first frames), for the upstream once it upgraded. */
    private readonly head: Buffer
  ) {
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.closed = true;
      for (const l of this.closeListeners.splice(0)) l();
    });
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  once(_event: 'close', listener: () => void): this {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
    return this;
  }

  /** The response head; anything but a 101 closes the connection after its body (the upgrade did not happen). */
  writeHead(status: number, headers: Record<string, string | string[] | number>): this {
    if (this.headersSent || this.socket.destroyed) return this;
    this.headersSent = true;
    const date = headers.date === undefined ? `date: ${httpDate()}\r\n` : '';
    const close = status === 101 ? '' : 'connection: close\r\n';
    const head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n${headerLines(headers)}${date}${close}\r\n`;
    this.headBytes = head.length;
    this.socket.write(head, 'latin1');
    return this;
  }

  end(body?: Buffer): this {
    if (body && body.length > 0 && !this.socket.destroyed) this.socket.write(body);
    this.writableFinished = true;
    this.socket.end();
    return this;
  }

  destroy(): this {
    this.socket.destroy();
    return this;
  }

  /**
   * After the 101 went out: join the caller's socket and the upstream's, each way, with the bytes either side sent
   * early. A side that ends (FIN) ends the other's writing; a side that fails or closes tears both down.
   */
  splice(up: Duplex, upHead: Buffer): void {
    const down = this.socket;
    if (upHead.length > 0) down.write(upHead);
    if (this.head.length > 0) up.write(this.head);
    const clean = () => (this.writableFinished = true);
    up.once('end', clean);
    down.once('end', clean);
    up.on('error', () => down.destroy());
    up.once('close', () => down.destroy());
    down.once('close', () => up.destroy());
    down.pipe(up);
    up.pipe(down);
  }
}

export type TunnelOutcome =
  | { kind: 'upgrade'; res: IncomingMessage; socket: Duplex; head: Buffer }
  | { kind: 'response'; res: IncomingMessage; body: Buffer }
  | { kind: 'reset'; reason: ResetReason; message: string };

export interface TunnelTry {
  host: string;
  port: number;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  /** TLS to the upstream (mutual TLS between sidecars, or a DestinationRule's origination). */
  tls?: tls.ConnectionOptions;
  connectTimeoutMs: number;
  timing?: { upstreamConnected(sock?: Socket): void };
}

/** One try of an upgrade request on a connection of its own (an upgraded connection is never pooled). */
export function tunnelTry(o: TunnelTry): Promise<TunnelOutcome> {
  return new Promise((resolve) => {
    const target = requestTarget(o);
    const req = withCookieLines(
      o.tls ? https.request({ ...target, ...o.tls, agent: false }) : http.request({ ...target, agent: false })
    );
    let done = false;
    let connected = false;
    let secured = !o.tls;
    const finish = (v: TunnelOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      req.destroy();
      finish({ kind: 'reset', reason: 'connect-timeout', message: `connect timeout (${o.connectTimeoutMs} ms)` });
    }, o.connectTimeoutMs);
    req.on('socket', (s: Socket) => {
      s.once('connect', () => {
        connected = true;
        clearTimeout(timer);
        if (!o.tls) o.timing?.upstreamConnected(s);
      });
      s.once('secureConnect', () => {
        secured = true;
        o.timing?.upstreamConnected(s);
      });
    });
    req.on('upgrade', (res: IncomingMessage, socket: Duplex, head: Buffer) =>
      finish({ kind: 'upgrade', res, socket, head })
    );
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish({ kind: 'response', res, body: Buffer.concat(chunks) }));
      res.on('error', (e: Error) => finish({ kind: 'reset', reason: 'connection-termination', message: e.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (connected && !secured) finish({ kind: 'reset', reason: 'tls-failure', message: tlsReason(err) });
      else if (!connected) finish({ kind: 'reset', reason: 'connect-refused', message: err.code ?? err.message });
      else finish({ kind: 'reset', reason: 'connection-termination', message: err.code ?? err.message });
    });
    req.end();
  });
}

/** The headers that ask the upstream to upgrade, which the hop-by-hop filter took off the forwarded request. */
export function upgradeHeaders(req: { headers: IncomingMessage['headers'] }, out: OutgoingHttpHeaders): void {
  out['connection'] = 'Upgrade';
  out['upgrade'] = req.headers.upgrade ?? 'websocket';
}

/** The same on the 101 back to the caller. */
export function upgradedHeaders(
  res: IncomingMessage,
  out: Record<string, string | string[] | number>
): Record<string, string | string[] | number> {
  out['connection'] = 'Upgrade';
  out['upgrade'] = res.headers.upgrade ?? 'websocket';
  return out;
}

/**
 * Answer the caller with what the upstream did to an upgrade request (status and headers already recorded on the
 * exchange): on 101 the sockets are spliced; any other answer goes back whole, with its length, and closes.
 */
export function answerTunnel(
  ex: Exchange,
  res: TunnelResponse,
  out: Exclude<TunnelOutcome, { kind: 'reset' }>,
  headers: Record<string, string | string[] | number>
): void {
  const status = out.res.statusCode ?? 502;
  if (res.destroyed) {
    if (out.kind === 'upgrade') out.socket.destroy();
    return;
  }
  if (out.kind === 'upgrade') {
    ex.note('upgrade', `${status}: the connection is a tunnel until either side closes it`);
    res.writeHead(status, upgradedHeaders(out.res, headers));
    res.splice(out.socket, out.head);
    return;
  }
  if (out.body.length > 0) ex.responseBody.add(out.body);
  headers['content-length'] = String(out.body.length);
  delete headers['transfer-encoding'];
  res.writeHead(status, headers);
  res.end(ex.method === 'HEAD' ? undefined : out.body);
}
