/** One upstream try over a keep-alive agent: connect, send, and classify the outcome the way Envoy's router does. */
import { withCookieLines, withoutKeepAliveHeader } from './envoy-http.js';
import { MAX_HEAD } from './h1.js';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import type { RequestBody } from './request-body.js';
import type { ResetReason } from './local-reply.js';
import type { AbortLike } from './abort.js';
import type { Socket } from 'node:net';

export type TryOutcome =
  | { kind: 'response'; res: IncomingMessage }
  | { kind: 'reset'; reason: ResetReason; beforeRequest: boolean; message: string }
  | { kind: 'per-try-timeout' }
  | { kind: 'aborted' };

/**
 * node:http's options for a request to an upstream, shared by a try (Try.attempt) and an upgrade's try (tunnelTry): the
 * Host header as the pipeline left it (node:http adds none) and Envoy's 60 KiB limit on the response head.
 */
export function requestTarget(o: {
  host: string;
  port: number;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
}) {
  return {
    host: o.host,
    port: o.port,
    method: o.method,
    path: o.path,
    headers: o.headers,
    setHost: false,
    maxHeaderSize: MAX_HEAD
  };
}

export interface TryOptions {
  agent: http.Agent;
  host: string;
  port: number;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: RequestBody;
  perTryTimeoutMs: number;
  connectTimeoutMs: number;
  /** Aborts the try (route timeout, downstream gone). */
  signal: AbortLike;
  /** Set by the caller to see the live request (e.g. to destroy it). */
  onRequest?: (req: http.ClientRequest) => void;
  /** TLS to the upstream (mTLS between sidecars, or DestinationRule TLS origination) over this agent. */
  tls?: { agent: https.Agent; options: tls.ConnectionOptions };
  /** Told when the connection is ready for the request: connected (and TLS done), or a pooled one assigned. */
  timing?: { upstreamConnected(sock?: Socket): void };
}

/** Node TLS error code → the reason Envoy/BoringSSL would print. */
export function tlsReason(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(err.message))
    return 'TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end';
  if (
    code === 'ERR_TLS_SAN_MISMATCH' ||
    code.startsWith('ERR_TLS_CERT') ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN'
  ) {
    return 'TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end';
  }
  return `TLS_error:|${code.replace(/^ERR_SSL_/, '') || 'handshake failure'}:TLS_error_end`;
}

const TRY = Symbol('localmesh.try');
const ABORTED: TryOutcome = { kind: 'aborted' };
type TryRequest = http.ClientRequest & { [TRY]: Try };

/**
 * One try in flight. The request's listeners are shared module functions that find their try on the request, so a
 * try allocates no closures of its own on the keep-alive path.
 */
class Try {
  done = false;
  connected = false;
  secured: boolean;
  perTry: NodeJS.Timeout | undefined;
  connectTimer: NodeJS.Timeout | undefined;
  current: http.ClientRequest | undefined;

  /** The abort listener (bound once: a named arrow field would cost a property definition per try under keepNames). */
  readonly onAbort: () => void;

  constructor(
    readonly o: TryOptions,
    private readonly resolve: (v: TryOutcome) => void
  ) {
    this.secured = !o.tls;
    this.onAbort = this.finish.bind(this, ABORTED);
  }

  finish(v: TryOutcome): void {
    if (this.done) return;
    this.done = true;
    if (this.perTry) clearTimeout(this.perTry);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.o.signal.offAbort(this.onAbort);
    if (v.kind === 'per-try-timeout' || v.kind === 'aborted') this.current?.destroy();
    this.resolve(v);
  }

  /** Send the request (never a second time: the upstream may have read it; a reset is the retry policy's business). */
  attempt(): void {
    const o = this.o;
    const target = requestTarget(o);
    const req = withCookieLines(
      withoutKeepAliveHeader(
        o.tls
          ? https.request({ ...target, ...o.tls.options, agent: o.tls.agent })
          : http.request({ ...target, agent: o.agent })
      )
    ) as TryRequest;
    req[TRY] = this;
    this.current = req;
    o.onRequest?.(req);
    req.on('socket', onSocket);
    req.on('response', onResponse);
    req.on('error', onError);
    o.body.sendTo(req);
  }
}

function onSocket(this: TryRequest, s: Socket): void {
  const t = this[TRY];
  const o = t.o;
  if ((s as unknown as { connecting?: boolean }).connecting) {
    t.connectTimer = setTimeout(() => {
      this.destroy();
      t.finish({
        kind: 'reset',
        reason: 'connect-timeout',
        beforeRequest: true,
        message: `connect timeout (${o.connectTimeoutMs} ms)`
      });
    }, o.connectTimeoutMs);
    s.once('connect', () => {
      t.connected = true;
      if (t.connectTimer) clearTimeout(t.connectTimer);
      if (!o.tls && !t.done) o.timing?.upstreamConnected(s);
    });
    s.once('secureConnect', () => {
      t.secured = true;
      if (!t.done) o.timing?.upstreamConnected(s);
    });
  } else {
    t.connected = true;
    t.secured = true;
    o.timing?.upstreamConnected(s);
  }
}

function onResponse(this: TryRequest, res: IncomingMessage): void {
  this[TRY].finish({ kind: 'response', res });
}

function onError(this: TryRequest, err: NodeJS.ErrnoException): void {
  const t = this[TRY];
  if (t.done) return;
  if (t.connected && !t.secured) {
    // the TLS handshake failed (a plaintext app, a wrong identity, a server that closed on us)
    t.finish({ kind: 'reset', reason: 'tls-failure', beforeRequest: true, message: tlsReason(err) });
    return;
  }
  if (
    err.code === 'ECONNREFUSED' ||
    err.code === 'EHOSTUNREACH' ||
    err.code === 'ENETUNREACH' ||
    err.code === 'EADDRNOTAVAIL' ||
    err.code === 'ENOTFOUND' ||
    err.code === 'EAI_AGAIN' ||
    !t.connected
  ) {
    t.finish({ kind: 'reset', reason: 'connect-refused', beforeRequest: true, message: err.code ?? err.message });
  } else {
    t.finish({
      kind: 'reset',
      reason: 'connection-termination',
      beforeRequest: false,
      message: err.code ?? err.message
    });
  }
}

export function tryUpstream(o: TryOptions): Promise<TryOutcome> {
  return new Promise((resolve) => {
    const t = new Try(o, resolve);
    o.signal.onAbort(t.onAbort);
    if (o.perTryTimeoutMs > 0) t.perTry = setTimeout(() => t.finish({ kind: 'per-try-timeout' }), o.perTryTimeoutMs);
    t.attempt();
  });
}
