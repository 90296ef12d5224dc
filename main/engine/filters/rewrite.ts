/** Rewrite and redirect (istio-semantics §1.2 Rewrite / redirect / direct response). */
import type { HTTPRedirect } from '../../contract/istio-schema.js';
import type { CompiledMatch, CompiledRoute } from '../config/compile.js';
import { splitAuthority } from '../config/hosts.js';

function splitQuery(path: string): [string, string] {
  const q = path.indexOf('?');
  return q < 0 ? [path, ''] : [path.slice(0, q), path.slice(q)];
}

/** The prefix the matched block matched on, when its uri condition is a prefix match. */
function matchedPrefix(m: CompiledMatch | undefined): string | undefined {
  const u = m?.uri.at(-1);
  // no uri condition: Envoy's route matches prefix "/", which Istio's prefix rewrite then replaces ("/all" + "foo")
  if (u === undefined) return '/';
  return u.kind === 'prefix' ? u.prefix : undefined;
}

/**
 * New request path (query kept). Prefix match (or no uri match: prefix "/") + uri: replace the matched prefix;
 * exact or regex match: the whole path.
 */
export function rewritePath(
  rw: NonNullable<CompiledRoute['rewrite']>,
  match: CompiledMatch | undefined,
  path: string
): string {
  const [p, q] = splitQuery(path);
  if (rw.regex) return rw.regex.re.matcher(p).replaceAll(rw.regex.replacement) + q;
  if (rw.uri === undefined) return path;
  const prefix = matchedPrefix(match);
  if (prefix !== undefined) return rw.uri + p.slice(prefix.length) + q;
  return rw.uri + q;
}

export function buildRedirect(
  rd: HTTPRedirect,
  match: CompiledMatch | undefined,
  authority: string,
  path: string,
  scheme: string,
  /** The port the request came in on (the service port): derivePort FROM_REQUEST_PORT. */
  requestPort?: number
): { status: number; location: string } {
  const [p, q] = splitQuery(path);
  let newPath = p;
  let query = q;
  if (rd.uri !== undefined && rd.uri !== '') {
    const [u, uq] = splitQuery(rd.uri);
    newPath = u;
    if (uq) query = uq;
  } else if (rd.prefixRewrite !== undefined) {
    const prefix = matchedPrefix(match);
    newPath = prefix !== undefined ? rd.prefixRewrite + p.slice(prefix.length) : rd.prefixRewrite;
  }
  const newScheme = rd.scheme ?? scheme;
  let host: string;
  let port: number | undefined;
  if (rd.authority !== undefined) {
    const a = splitAuthority(rd.authority);
    host = a.host;
    port = a.port;
  } else {
    const a = splitAuthority(authority);
    host = a.host;
    port = a.port;
  }
  const defaultPort = newScheme === 'https' ? 443 : 80;
  let auth: string;
  if (rd.derivePort === 'FROM_REQUEST_PORT' && requestPort !== undefined) {
    // Istio sets the redirect port to the listener's (the service port the request came in on)
    auth = `${host}:${requestPort}`;
  } else if (rd.port !== undefined || rd.derivePort === 'FROM_PROTOCOL_DEFAULT') {
    port = rd.port;
    auth = port === undefined || port === defaultPort ? host : `${host}:${port}`;
  } else if (rd.authority === undefined && newScheme === scheme) {
    // no authority, port or scheme change: the request's Host as it was, port included (istio-semantics §1.2)
    auth = authority;
  } else {
    // a scheme change drops a port that was the default of either scheme (it would point at the wrong one)
    const oldDefault = scheme === 'https' ? 443 : 80;
    auth =
      port === undefined || (newScheme !== scheme && (port === defaultPort || port === oldDefault))
        ? host
        : `${host}:${port}`;
  }
  return { status: rd.redirectCode ?? 301, location: `${newScheme}://${auth}${newPath}${query}` };
}
