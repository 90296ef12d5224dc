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
  // Istio's port_redirect: the listener's (service) port for FROM_REQUEST_PORT, the given port, else none
  // (FROM_PROTOCOL_DEFAULT sets none either); :80 under http and :443 under https are left out (ApplyRedirect)
  let port = rd.derivePort === 'FROM_REQUEST_PORT' ? requestPort : rd.port;
  if ((port === 80 && newScheme === 'http') || (port === 443 && newScheme === 'https')) port = undefined;
  let host = rd.authority ?? '';
  if (host === '') {
    // Envoy keeps the request's Host as sent, without its port when the redirect names one, or when the scheme
    // changes and the port was the request scheme's default (web:80 -> https://web; web:9080 -> https://web:9080)
    const hostPort = splitAuthority(authority).port;
    const stripPort =
      hostPort !== undefined &&
      (port !== undefined || (newScheme !== scheme && hostPort === (scheme === 'https' ? 443 : 80)));
    host = stripPort ? authority.replace(/:\d+$/, '') : authority;
  }
  const auth = port === undefined ? host : `${host}:${port}`;
  return { status: rd.redirectCode ?? 301, location: `${newScheme}://${auth}${newPath}${query}` };
}
