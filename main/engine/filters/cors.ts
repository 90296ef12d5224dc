/** CORS filter (istio-semantics §1.2 corsPolicy): answers matching preflights locally, decorates actual responses. */
import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledCors } from '../config/compile.js';
import type { Exchange } from '../sidecar/exchange.js';
import type { LocalReply } from '../sidecar/local-reply.js';

export function corsFilter(
  c: CompiledCors,
  req: { readonly method?: string; readonly headers: IncomingHttpHeaders },
  ex: Exchange
): { reply?: LocalReply; responseHeaders?: Record<string, string> } | undefined {
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  const allowed = c.origins.some((m) => m.test(origin));
  const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
  if (preflight) {
    if (!allowed) {
      if (c.unmatchedPreflights === 'IGNORE') {
        ex.note('cors', `preflight from ${origin} not allowed: answered without CORS headers`);
        return {
          reply: {
            status: 200,
            body: Buffer.alloc(0),
            headers: {},
            flags: [],
            reason: 'CORS preflight (origin not allowed)'
          }
        };
      }
      ex.note('cors', `preflight from ${origin} not allowed: forwarded`);
      return undefined;
    }
    const headers: Record<string, string> = { 'access-control-allow-origin': origin };
    if (c.allowMethods) headers['access-control-allow-methods'] = c.allowMethods;
    if (c.allowHeaders) headers['access-control-allow-headers'] = c.allowHeaders;
    if (c.maxAge) headers['access-control-max-age'] = c.maxAge;
    if (c.allowCredentials) headers['access-control-allow-credentials'] = 'true';
    ex.note('cors', `preflight from ${origin} allowed`);
    return { reply: { status: 200, body: Buffer.alloc(0), headers, flags: [], reason: 'CORS preflight' } };
  }
  if (!allowed) {
    ex.note('cors', `origin ${origin} not allowed: no CORS headers`);
    return undefined;
  }
  const responseHeaders: Record<string, string> = { 'access-control-allow-origin': origin };
  if (c.exposeHeaders) responseHeaders['access-control-expose-headers'] = c.exposeHeaders;
  if (c.allowCredentials) responseHeaders['access-control-allow-credentials'] = 'true';
  return { responseHeaders };
}
