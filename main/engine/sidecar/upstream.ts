/** One upstream try over a keep-alive agent: connect, send, and classify the outcome the way Envoy's router does. */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import type { RequestBody } from './request-body.js';
import type { ResetReason } from './local-reply.js';

export type TryOutcome =
  | { kind: 'response'; res: IncomingMessage }
  | { kind: 'reset'; reason: ResetReason; beforeRequest: boolean; message: string }
  | { kind: 'per-try-timeout' }
  | { kind: 'aborted' };

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
  signal: AbortSignal;
  /** Set by the caller to see the live request (e.g. to destroy it). */
  onRequest?: (req: http.ClientRequest) => void;
  /** TLS to the upstream (mTLS between sidecars, or DestinationRule TLS origination) over this agent. */
  tls?: { agent: https.Agent; options: tls.ConnectionOptions };
  /** Told when the connection is ready for the request: connected (and TLS done), or a pooled one assigned. */
  timing?: { upstreamConnected(): void };
}

/** Node TLS error code → the reason Envoy/BoringSSL would print. */
function tlsReason(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(err.message)) return 'TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end';
  if (code === 'ERR_TLS_SAN_MISMATCH' || code.startsWith('ERR_TLS_CERT') || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    return 'TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end';
  }
  return `TLS_error:|${code.replace(/^ERR_SSL_/, '') || 'handshake failure'}:TLS_error_end`;
}

export function tryUpstream(o: TryOptions): Promise<TryOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let connected = false;
    let secured = !o.tls;
    let perTry: NodeJS.Timeout | undefined;
    let connectTimer: NodeJS.Timeout | undefined;
    let current: http.ClientRequest | undefined;
    const finish = (v: TryOutcome) => {
      if (done) return;
      done = true;
      if (perTry) clearTimeout(perTry);
      if (connectTimer) clearTimeout(connectTimer);
      o.signal.removeEventListener('abort', onAbort);
      if (v.kind === 'per-try-timeout' || v.kind === 'aborted') current?.destroy();
      resolve(v);
    };
    const attempt = (fresh: boolean) => {
      const common = { host: o.host, port: o.port, method: o.method, path: o.path, headers: o.headers, setHost: false };
      const req = o.tls
        ? https.request({ ...common, ...o.tls.options, agent: fresh ? false : o.tls.agent })
        : http.request({ ...common, agent: fresh ? false : o.agent });
      current = req;
      o.onRequest?.(req);
      req.on('socket', (s) => {
        if ((s as unknown as { connecting?: boolean }).connecting) {
          connectTimer = setTimeout(() => {
            req.destroy();
            finish({ kind: 'reset', reason: 'connect-timeout', beforeRequest: true, message: 'connect timeout' });
          }, o.connectTimeoutMs);
          s.once('connect', () => {
            connected = true;
            if (connectTimer) clearTimeout(connectTimer);
            if (!o.tls && !done) o.timing?.upstreamConnected();
          });
          s.once('secureConnect', () => {
            secured = true;
            if (!done) o.timing?.upstreamConnected();
          });
        } else {
          connected = true;
          secured = true;
          o.timing?.upstreamConnected();
        }
      });
      req.on('response', (res) => finish({ kind: 'response', res }));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (done) return;
        if (req.reusedSocket && !fresh && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          // a pooled keep-alive connection the upstream had already closed: retry once on a new connection
          attempt(true);
          return;
        }
        if (connected && !secured) {
          // the TLS handshake failed (a plaintext app, a wrong identity, a server that closed on us)
          finish({ kind: 'reset', reason: 'tls-failure', beforeRequest: true, message: tlsReason(err) });
          return;
        }
        if (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' || !connected) {
          finish({ kind: 'reset', reason: 'connect-refused', beforeRequest: true, message: err.code ?? err.message });
        } else {
          finish({ kind: 'reset', reason: 'connection-termination', beforeRequest: false, message: err.code ?? err.message });
        }
      });
      o.body.sendTo(req);
    };
    const onAbort = () => finish({ kind: 'aborted' });
    o.signal.addEventListener('abort', onAbort);
    if (o.perTryTimeoutMs > 0) perTry = setTimeout(() => finish({ kind: 'per-try-timeout' }), o.perTryTimeoutMs);
    attempt(false);
  });
}
