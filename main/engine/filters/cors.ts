/** CORS filter (istio-semantics §1.2 corsPolicy): answers matching preflights locally, decorates actual responses. */
import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledCors } from '../config/compile.js';
import type { Exchange } from '../sidecar/exchange.js';
import type { LocalReply } from '../sidecar/local-reply.js';

/**
 * Envoy's CORS filter with Istio's policy: an origin is allowed when a matcher accepts it or accepts "*" (so
 * `exact: "*"` allows every origin, echoed back); a preflight is an OPTIONS request with a non-empty Origin and
 * Access-Control-Request-Method; `allowMethods: ["*"]` / `allowHeaders: ["*"]` echo what the preflight asks for.
 */
export function corsFilter(
  c: CompiledCors,
  req: { readonly method?: string; readonly headers: IncomingHttpHeaders },
  ex: Exchange
): { reply?: LocalReply; responseHeaders?: Record<string, string> } | undefined {
  const origin = req.headers.origin;
  if (origin === undefined || origin === '') return undefined;
  const allowed = c.origins.some((m) => m.test('*') || m.test(origin));
  const requestMethod = req.headers['access-control-request-method'];
  if (req.method === 'OPTIONS' && requestMethod) {
    if (!allowed && c.unmatchedPreflights !== 'IGNORE') {
      ex.note('cors', `preflight from ${origin} not allowed: forwarded`);
      return undefined;
    }
    // answered here; without the allow-origin header when the origin is not allowed (unmatchedPreflights: IGNORE)
    const headers: Record<string, string> = {};
    if (allowed) headers['access-control-allow-origin'] = origin;
    if (c.allowCredentials) headers['access-control-allow-credentials'] = 'true';
    if (c.allowMethods)
      headers['access-control-allow-methods'] = c.allowMethods === '*' ? requestMethod : c.allowMethods;
    if (c.allowHeaders)
      headers['access-control-allow-headers'] =
        c.allowHeaders === '*' ? (req.headers['access-control-request-headers'] ?? '') : c.allowHeaders;
    if (c.maxAge) headers['access-control-max-age'] = c.maxAge;
    ex.note('cors', allowed ? `preflight from ${origin} allowed` : `preflight from ${origin} not allowed: answered`);
    return {
      reply: {
        status: 200,
        body: Buffer.alloc(0),
        headers,
        flags: [],
        reason: allowed ? 'CORS preflight' : 'CORS preflight (origin not allowed)'
      }
    };
  }
  if (!allowed) {
    ex.note('cors', `origin ${origin} not allowed: no CORS headers`);
    return undefined;
  }
  const responseHeaders: Record<string, string> = { 'access-control-allow-origin': origin };
  if (c.allowCredentials) responseHeaders['access-control-allow-credentials'] = 'true';
  if (c.exposeHeaders) responseHeaders['access-control-expose-headers'] = c.exposeHeaders;
  return { responseHeaders };
}
