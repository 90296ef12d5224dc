/** Route filter: first-match-wins over a VirtualService's http rules (istio-semantics §1.2 HTTPMatchRequest). */
import type { CompiledMatch, CompiledRoute } from '../config/compile.js';
import type { IncomingHttpHeaders } from 'node:http';

export interface MatchInput {
  method: string;
  authority: string;
  scheme: string;
  /** Path without the query string. */
  path: string;
  /** Raw query string without "?" ('' when none). */
  query: string;
  port: number;
  headers: IncomingHttpHeaders;
  /**
   * Claims of a JWT this proxy validated (RequestAuthentication), for `@request.auth.claims` header matches;
   * null or absent = no valid token, and such matches fail (istio-semantics §1.2).
   */
  claims?: Record<string, unknown> | null;
}

/** Does any match block of these routes use `@request.auth.claims` (so the caller must validate the JWT first)? Cached per route table. */
const claimUse = new WeakMap<CompiledRoute[], boolean>();
export function needsClaims(routes: CompiledRoute[]): boolean {
  let v = claimUse.get(routes);
  if (v === undefined) claimUse.set(routes, (v = usesClaims(routes)));
  return v;
}

function usesClaims(routes: CompiledRoute[]): boolean {
  return routes.some((r) =>
    r.matches.some((m) => m.headers.some((h) => h.claim) || m.withoutHeaders.some((h) => h.claim))
  );
}

/**
 * The claim at `path` (`@request.auth.claims.<a>.<b>` or `[<a>][<b>]`: nested claims), as match strings: a string
 * claim as is, a list claim as each of its string members (any may match). Istio matches claims with a metadata
 * matcher on the JWT payload whose value is a StringMatcher (or a list of them): a number or a boolean claim matches
 * no string, so it reads as absent, as AuthorizationPolicy's `request.auth.claims` does.
 */
function claimValues(claims: Record<string, unknown> | null | undefined, path: string[]): string[] | undefined {
  if (!claims) return undefined;
  let v: unknown = claims;
  for (const part of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return undefined;
}

function headerValue(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * A header a match names, pseudo-headers included: Envoy's header matchers see the request's `:method`, `:authority`,
 * `:scheme` and `:path` (with its query) as headers, and Istio passes a `headers` key through as the matcher's name.
 */
function requestHeader(r: MatchInput, name: string): string | undefined {
  if (!name.startsWith(':')) return headerValue(r.headers, name);
  if (name === ':method') return r.method;
  if (name === ':authority') return r.authority;
  if (name === ':scheme') return r.scheme;
  if (name === ':path') return r.query ? `${r.path}?${r.query}` : r.path;
  return undefined;
}

/**
 * The first value of query parameter `name`, as Envoy's route matcher reads it (QueryParamsMulti::parseQueryString):
 * names and values as sent, not percent-decoded (`a%20b` stays `a%20b`, `+` stays `+`); a name without `=` has "".
 */
function queryValue(query: string, name: string): string | undefined {
  if (!query) return undefined;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if ((eq < 0 ? part : part.slice(0, eq)) === name) return eq < 0 ? '' : part.slice(eq + 1);
  }
  return undefined;
}

export function matchOne(m: CompiledMatch, r: MatchInput): boolean {
  for (const u of m.uri) if (!u.test(r.path)) return false;
  if (m.method && !m.method.test(r.method)) return false;
  if (m.authority && !m.authority.test(r.authority)) return false;
  if (m.scheme && !m.scheme.test(r.scheme)) return false;
  if (m.port !== undefined && m.port !== r.port) return false;
  for (const h of m.headers) {
    if (h.claim) {
      const values = claimValues(r.claims, h.claim);
      if (!values || !values.some((v) => h.match.test(v))) return false;
    } else if (!h.match.test(requestHeader(r, h.name))) return false;
  }
  for (const h of m.withoutHeaders) {
    if (h.claim) {
      const values = claimValues(r.claims, h.claim);
      if (values && values.some((v) => (h.match.kind === 'present' ? true : h.match.test(v)))) return false;
      continue;
    }
    const v = requestHeader(r, h.name);
    // a missing header counts as "" for exact/prefix/regex; {} fails only when the header is present
    if (h.match.kind === 'present' ? v !== undefined : h.match.test(v ?? '')) return false;
  }
  for (const q of m.queryParams) if (!q.match.test(queryValue(r.query, q.name))) return false;
  return true;
}

/** The first rule that matches, and which of its match blocks matched (undefined for a catch-all rule). */
export function selectRoute(
  routes: CompiledRoute[],
  r: MatchInput
): { route: CompiledRoute; match: CompiledMatch | undefined } | undefined {
  for (const route of routes) {
    if (route.matches.length === 0) return { route, match: undefined };
    for (const m of route.matches) if (matchOne(m, r)) return { route, match: m };
  }
  return undefined;
}
