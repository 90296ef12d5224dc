/** One upstream try over a keep-alive agent: connect, send, and classify the outcome the way Envoy's router does. */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
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
}

export function tryUpstream(o: TryOptions): Promise<TryOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let connected = false;
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
      const req = http.request({
        host: o.host,
        port: o.port,
        method: o.method,
        path: o.path,
        headers: o.headers,
        agent: fresh ? false : o.agent,
        setHost: false
      });
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
          });
        } else connected = true;
      });
      req.on('response', (res) => finish({ kind: 'response', res }));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (done) return;
        if (req.reusedSocket && !fresh && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          // a pooled keep-alive connection the upstream had already closed: retry once on a new connection
          attempt(true);
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
