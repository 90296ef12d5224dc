/**
 * Request path normalization, as Istio configures Envoy by default (meshConfig pathNormalization BASE: RFC 3986
 * normalization of the path before routing, authorization and forwarding). Without it `/./admin`, `/x/../admin` or
 * `/%61dmin` would slip past an AuthorizationPolicy on `/admin` and reach the app as `/admin` all the same.
 *
 * - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded; other escapes are kept, hex upper-cased;
 * - dot segments are removed (RFC 3986 §5.2.4);
 * - a fragment is dropped (it never belongs on the wire);
 * - the query is left as it is. Slashes are not merged and case is kept (Envoy's defaults).
 */

/** Could the path part of this target change under normalization? (the common case is a cheap no) */
function needsWork(target: string): boolean {
  return target.includes('%') || target.includes('/.') || target.includes('#');
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });
}

/** RFC 3986 §5.2.4 remove_dot_segments. */
export function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..' && out.length > 1) out.pop();
      if (last) out.push(''); // "/a/." and "/a/.." keep their trailing slash
      continue;
    }
    out.push(s);
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/** The normalized form of an origin-form request target (path and query). */
export function normalizeTarget(target: string): string {
  if (!needsWork(target)) return target;
  let t = target;
  const hash = t.indexOf('#');
  if (hash >= 0) t = t.slice(0, hash);
  const q = t.indexOf('?');
  const path = q < 0 ? t : t.slice(0, q);
  const query = q < 0 ? '' : t.slice(q);
  return removeDotSegments(decodeUnreserved(path)) + query;
}

/**
 * An absolute-form request target (`http://host:port/path?q`) split into its authority and origin-form path, or
 * undefined for any other form. Throws on a target that looks absolute but is not a URL.
 */
export function absoluteTarget(target: string): { authority: string; path: string } | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return undefined;
  const u = new URL(target);
  return { authority: u.host, path: `${u.pathname}${u.search}` };
}
