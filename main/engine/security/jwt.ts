/**
 * RequestAuthentication (JWT) at the server sidecar: a token found in the configured places must verify against
 * its issuer's JWKS (inline `jwks`, or `jwksUri` naming a local file), audiences and expiry; an invalid token gets
 * 401 with Envoy's reason (jwt_verify_lib's status strings, checked in Envoy's order: format, issuer, time with 60 s
 * of clock skew, audiences, signature); a request without a token passes unauthenticated (AuthorizationPolicy
 * decides). Uses `jose` for the cryptography.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { IstioResource } from '../../contract/istio-schema.js';
import { labelsMatch, type WorkloadInfo } from '../registry.js';
import { ROOT_NAMESPACE } from '../config/compile.js';

interface JwtRuleSpec {
  issuer: string;
  audiences?: string[];
  jwksUri?: string;
  jwks?: string;
  fromHeaders?: { name: string; prefix?: string }[];
  fromParams?: string[];
  fromCookies?: string[];
  outputPayloadToHeader?: string;
  forwardOriginalToken?: boolean;
  outputClaimToHeaders?: { header: string; claim: string }[];
  spaceDelimitedClaims?: string[];
}
interface RequestAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRefs?: { kind?: string; name: string }[];
  targetRef?: { kind?: string; name: string };
  jwtRules?: JwtRuleSpec[];
}

export interface JwtRule {
  spec: JwtRuleSpec;
  policy: string;
  keys: ReturnType<typeof createLocalJWKSet> | null;
  keyError?: string;
}

export type JwtResult =
  | { status: 'none' }
  | {
      status: 'ok';
      principal: string;
      claims: JWTPayload;
      /**
       * The payload as Envoy keeps it in the request's metadata, which AuthorizationPolicy (`request.auth.claims`)
       * and VirtualService claim matches read: the space-delimited claims as lists (see spaceDelimited).
       */
      metadata: Record<string, unknown>;
      /** The token's payload segment as sent (base64url): what Envoy's forward_payload_header carries. */
      payloadSegment: string;
      rule: JwtRule;
      /** Removes the token from the request, as Envoy does when the rule does not forward it. */
      strip: (edits: TokenEdits) => void;
    }
  /** `body`: Envoy's status string, the 401's body; `reason`: the detail, for the decision trace. */
  | { status: 'fail'; reason: string; body: string };

/** jwt_verify_lib's status strings (Envoy's 401 bodies). */
export const JwtStatus = {
  badFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  headerBadBase64: 'Jwt header is an invalid Base64url encoded',
  headerBadJson: 'Jwt header is an invalid JSON',
  headerBadAlg: 'Jwt header [alg] field is required and must be a string',
  payloadBadBase64: 'Jwt payload is an invalid Base64url encoded',
  payloadBadJson: 'Jwt payload is an invalid JSON',
  issNotString: 'Jwt payload [iss] field is not a string',
  expNotInteger: 'Jwt payload [exp] field is not an integer',
  nbfNotInteger: 'Jwt payload [nbf] field is not an integer',
  unknownIssuer: 'Jwt issuer is not configured',
  expired: 'Jwt is expired',
  notYetValid: 'Jwt not yet valid',
  audienceNotAllowed: 'Audiences in Jwt are not allowed',
  verificationFails: 'Jwt verification fails',
  kidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  jwksFetchFailed: 'Jwks remote fetch is failed',
  jwksNoValidKeys: "Jwks doesn't have any valid public key"
} as const;

/** Envoy's default clock skew for exp and nbf (JwtProvider.clock_skew_seconds). */
const CLOCK_SKEW_S = 60;

const B64URL = /^[A-Za-z0-9_-]*$/;

/** One base64url JSON object segment of a token, or the status string of why it is not one. */
function jsonSegment(seg: string, badBase64: string, badJson: string): { value: object } | { error: string } {
  if (!B64URL.test(seg)) return { error: badBase64 };
  try {
    const value: unknown = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { value };
  } catch {
    /* not JSON */
  }
  return { error: badJson };
}

/** The payload of a token as jwt_verify_lib parses it, or the status string of why it cannot. */
function parseJwt(token: string): { payload: JWTPayload } | { error: string } {
  const parts = token.split('.');
  if (parts.length !== 3) return { error: JwtStatus.badFormat };
  const header = jsonSegment(parts[0]!, JwtStatus.headerBadBase64, JwtStatus.headerBadJson);
  if ('error' in header) return header;
  if (typeof (header.value as { alg?: unknown }).alg !== 'string') return { error: JwtStatus.headerBadAlg };
  const payload = jsonSegment(parts[1]!, JwtStatus.payloadBadBase64, JwtStatus.payloadBadJson);
  if ('error' in payload) return payload;
  const c = payload.value as JWTPayload;
  if (c.iss !== undefined && typeof c.iss !== 'string') return { error: JwtStatus.issNotString };
  if (c.exp !== undefined && !Number.isInteger(c.exp)) return { error: JwtStatus.expNotInteger };
  if (c.nbf !== undefined && !Number.isInteger(c.nbf)) return { error: JwtStatus.nbfNotInteger };
  return { payload: c };
}

export function jwtRulesFor(resources: IstioResource[], w: WorkloadInfo, baseDir: string): JwtRule[] {
  const out: JwtRule[] = [];
  for (const r of (
    resources.filter((x) => x.kind === 'RequestAuthentication') as IstioResource<RequestAuthenticationSpec>[]
  ).sort((a, b) => a.order - b.order)) {
    if (r.namespace !== w.namespace && r.namespace !== ROOT_NAMESPACE) continue;
    // targetRefs attach the policy to a waypoint or a Gateway: istiod never gives it to a sidecar
    if ((r.spec?.targetRefs ?? []).length > 0 || r.spec?.targetRef) continue;
    if (!labelsMatch(r.spec?.selector?.matchLabels, w.labels)) continue;
    for (const spec of r.spec?.jwtRules ?? []) {
      let keys: JwtRule['keys'] = null;
      let keyError: string | undefined;
      try {
        const text = spec.jwks ?? readJwksUri(spec.jwksUri, path.dirname(r.where.file), baseDir);
        if (text) keys = createLocalJWKSet(JSON.parse(text));
        else keyError = 'no jwks or jwksUri (istiod would fetch the OpenID discovery document of the issuer)';
      } catch (e) {
        keyError = (e as Error).message;
      }
      out.push({ spec, policy: `${r.namespace}/${r.name}`, keys, keyError });
    }
  }
  // istiod orders the rules of every RequestAuthentication by issuer (a stable sort) before building the providers
  return out.sort((a, b) => (a.spec.issuer < b.spec.issuer ? -1 : a.spec.issuer > b.spec.issuer ? 1 : 0));
}

/** jwksUri: a file:// URL, an absolute path, or a path relative to the Istio file (remote URLs are not fetched). */
function readJwksUri(uri: string | undefined, fileDir: string, baseDir: string): string | undefined {
  if (!uri) return undefined;
  if (/^https?:\/\//.test(uri))
    throw new Error(
      `jwksUri ${uri} is remote; localmesh reads JWKS from local files (file:// or a path) or inline jwks`
    );
  const p = uri.startsWith('file://')
    ? fileURLToPath(uri)
    : path.isAbsolute(uri)
      ? uri
      : fs.existsSync(path.resolve(fileDir, uri))
        ? path.resolve(fileDir, uri)
        : path.resolve(baseDir, uri);
  return fs.readFileSync(p, 'utf8');
}

/** A token found in one of a rule's locations, and how Envoy removes it from the request (forward: false). */
interface Found {
  token: string;
  strip: (edits: TokenEdits) => void;
}

/** What the sidecar may change in the request it forwards. */
export interface TokenEdits {
  removeHeader(name: string): void;
  /** The request's origin-form path, query included. */
  setPath(path: string): void;
}

const BASE64URL_RUN = /[A-Za-z0-9_.-]+/;

/** Envoy's default locations (Authorization: Bearer, then access_token) apply only when a rule names none. */
function locationsOf(rule: JwtRuleSpec): {
  headers: { name: string; prefix?: string }[];
  params: string[];
  cookies: string[];
} {
  const none = !rule.fromHeaders?.length && !rule.fromParams?.length && !rule.fromCookies?.length;
  return none
    ? { headers: [{ name: 'authorization', prefix: 'Bearer ' }], params: ['access_token'], cookies: [] }
    : { headers: rule.fromHeaders ?? [], params: rule.fromParams ?? [], cookies: rule.fromCookies ?? [] };
}

/** Envoy's PercentEncoding::decode: valid %XX escapes decoded, anything else (and '+') left as it is. */
function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const hex = s.slice(i + 1, i + 3);
    if (s[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(s[i]!));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Envoy's QueryParamsMulti::parseAndDecodeQueryString: decoded names and values, in order of appearance. */
function queryParams(path: string): [string, string][] {
  const q = path.indexOf('?');
  if (q < 0) return [];
  const out: [string, string][] = [];
  for (const part of path.slice(q + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.push(
      eq < 0 ? [percentDecode(part), ''] : [percentDecode(part.slice(0, eq)), percentDecode(part.slice(eq + 1))]
    );
  }
  return out;
}

/**
 * The path without parameter `name`, as Envoy (>= 1.31, jwt_authn_remove_jwt_from_query_params) rebuilds it: the
 * remaining parameters decoded, grouped and ordered by name (a btree map), `?k=v&...`, no `?` when none is left.
 */
function withoutParam(path: string, name: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const byName = new Map<string, string[]>();
  for (const [k, v] of queryParams(path)) if (k !== name) byName.set(k, [...(byName.get(k) ?? []), v]);
  const names = [...byName.keys()].sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));
  const rest = names.flatMap((k) => byName.get(k)!.map((v) => `${k}=${v}`));
  return path.slice(0, q) + (rest.length ? `?${rest.join('&')}` : '');
}

/** Envoy's Utility::parseCookies: `name=value` pairs split on ';', quotes around a value dropped, the first wins. */
function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text) return undefined;
  for (const s of text.split(';')) {
    const eq = s.indexOf('=');
    if (eq < 0 || s.slice(0, eq).trim() !== name) continue;
    let v = s.slice(eq + 1);
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    return v;
  }
  return undefined;
}

/**
 * Every token in a rule's locations, as Envoy's extractor finds them: in a header, after the value prefix found
 * anywhere in the value (case-sensitive), the run of base64url characters and dots that follows (so `Bearer <jwt>;
 * x` or `Bearer <jwt>, Basic …` give the token alone); the first value of a query parameter; a cookie.
 */
function findTokens(rule: JwtRuleSpec, headers: Record<string, string | string[] | undefined>, path: string): Found[] {
  const loc = locationsOf(rule);
  const out: Found[] = [];
  for (const h of loc.headers) {
    const name = h.name.toLowerCase();
    const v = headers[name];
    const value = Array.isArray(v) ? v[0] : v;
    if (value === undefined) continue;
    let token = value;
    if (h.prefix) {
      const pos = value.indexOf(h.prefix);
      if (pos < 0) continue;
      // Envoy's extractJWT: the first run of base64url characters and dots after the prefix (none: the whole value)
      token = BASE64URL_RUN.exec(value.slice(pos + h.prefix.length))?.[0] ?? value;
    }
    out.push({ token, strip: (e) => e.removeHeader(name) });
  }
  if (loc.params.length > 0) {
    const params = queryParams(path);
    for (const p of loc.params) {
      const hit = params.find(([k]) => k === p);
      if (hit) out.push({ token: hit[1], strip: (e) => e.setPath(withoutParam(path, p)) });
    }
  }
  for (const c of loc.cookies) {
    const v = cookieValue(headers.cookie, c);
    // Envoy leaves a cookie in place (JwtCookieLocation::removeJwt does nothing)
    if (v !== undefined) out.push({ token: v, strip: () => undefined });
  }
  return out;
}

/**
 * The headers a rule writes (outputPayloadToHeader, outputClaimToHeaders): Envoy removes them from every request
 * before verifying (Extractor::sanitizeHeaders), so a client cannot send them itself.
 */
export function outputHeaders(rules: JwtRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    if (r.spec.outputPayloadToHeader) out.add(r.spec.outputPayloadToHeader.toLowerCase());
    for (const o of r.spec.outputClaimToHeaders ?? []) out.add(o.header.toLowerCase());
  }
  return [...out];
}

/**
 * The value Envoy's jwt_authn writes for `outputClaimToHeaders` (claim_to_headers, addJWTClaimToHeader), or
 * undefined when it writes none. The claim is looked up as jwt_verify_lib's StructUtils::GetValue does: nested
 * through objects at each `.` (a name starting with `http://` or `https://` keeps its host and first path segment
 * whole, so `https://example.com/claims.role` is `role` in the claim `https://example.com/claims`). A string as it is
 * (an empty one writes nothing), a boolean `true`/`false`, a number that is a non-negative integer as an integer and
 * any other as C++'s std::to_string of a double (six decimals: `1.500000`, `-2.000000`), an object or a list as the
 * base64 of its JSON.
 */
export function claimHeaderValue(payload: Record<string, unknown>, name: string): string | undefined {
  let path: string[];
  const url = /^(https?:\/\/[^/]*\/)(.*)$/.exec(name);
  if (url) {
    const [first, ...rest] = url[2]!.split('.');
    path = [url[1]! + first!, ...rest];
  } else path = name.split('.');
  let v: unknown = payload;
  for (const key of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    return v >= 0 && v < 2 ** 64 && Number.isInteger(v) ? BigInt(v).toString() : v.toFixed(6);
  }
  if (typeof v === 'object' && v !== null) return Buffer.from(protoJson(v)).toString('base64');
  return undefined;
}

/** A JSON value as protobuf's JSON printer writes a google.protobuf.Value: compact, object keys in sorted order. */
function protoJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(protoJson).join(',')}]`;
  if (typeof v === 'object' && v !== null)
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${protoJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

type Verified =
  | { ok: true; payload: JWTPayload; segment: string }
  | { ok: false; unknownIssuer: boolean; reason: string; body: string };

/** One token against one rule, in Envoy's order: format, issuer, time (60 s skew), audiences, keys, signature. */
async function verifyToken(rule: JwtRule, token: string): Promise<Verified> {
  const parsed = parseJwt(token);
  if ('error' in parsed) return { ok: false, unknownIssuer: false, reason: parsed.error, body: parsed.error };
  const iss = parsed.payload.iss;
  if (iss !== rule.spec.issuer)
    return {
      ok: false,
      unknownIssuer: true,
      reason: `issuer ${iss ?? '(none)'} is not configured`,
      body: JwtStatus.unknownIssuer
    };
  const now = Math.floor(Date.now() / 1000);
  const { exp, nbf, aud } = parsed.payload;
  if (exp !== undefined && now > exp + CLOCK_SKEW_S)
    return {
      ok: false,
      unknownIssuer: false,
      reason: `expired at ${new Date(exp * 1000).toISOString()}`,
      body: JwtStatus.expired
    };
  if (nbf !== undefined && now + CLOCK_SKEW_S < nbf)
    return {
      ok: false,
      unknownIssuer: false,
      reason: `not valid before ${new Date(nbf * 1000).toISOString()}`,
      body: JwtStatus.notYetValid
    };
  const allowed = rule.spec.audiences ?? [];
  if (allowed.length > 0) {
    const auds = aud === undefined ? [] : Array.isArray(aud) ? aud : [aud];
    if (!auds.some((a) => allowed.includes(a)))
      return {
        ok: false,
        unknownIssuer: false,
        reason: `audiences ${auds.join(', ') || '(none)'} not in ${allowed.join(', ')}`,
        body: JwtStatus.audienceNotAllowed
      };
  }
  if (!rule.keys)
    return {
      ok: false,
      unknownIssuer: false,
      reason: `no usable JWKS for ${rule.spec.issuer}: ${rule.keyError}`,
      body:
        !rule.spec.jwks && (!rule.spec.jwksUri || /^https?:\/\//.test(rule.spec.jwksUri))
          ? // istiod fetches a jwksUri (PILOT_JWT_ENABLE_REMOTE_JWKS=false, the default), or without one the issuer's
            // OpenID discovery document, and, when it cannot, gives Envoy a JWKS of one RSA key whose private half
            // nobody has (PublicOnlyJwks; a static fake key before it, since 1.21), with neither kid nor alg: every
            // token is tried against it and fails its signature check (jwt_verify_lib: a key without kid or alg
            // matches any token, so not "Jwks doesn't have key to match kid or alg from Jwt")
            JwtStatus.verificationFails
          : JwtStatus.jwksNoValidKeys
    };
  try {
    // time and audiences are checked above, as Envoy does (with its clock skew): the signature is what is left
    const { payload } = await jwtVerify(token, rule.keys, { clockTolerance: CLOCK_SKEW_S });
    return { ok: true, payload, segment: token.split('.')[1]! };
  } catch (e) {
    const body =
      e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys
        ? JwtStatus.kidAlgMismatch
        : e instanceof joseErrors.JWTExpired
          ? JwtStatus.expired
          : e instanceof joseErrors.JWTClaimValidationFailed && e.claim === 'nbf'
            ? JwtStatus.notYetValid
            : JwtStatus.verificationFails;
    return { ok: false, unknownIssuer: false, reason: (e as Error).message, body };
  }
}

/** Claims Istio always has Envoy split at spaces (buildSpaceDelimitedClaims), besides a rule's own. */
const SPACE_DELIMITED = ['permission', 'scope'];

/**
 * Envoy's normalize_payload_in_metadata as Istio configures it: a top-level string claim named in
 * `space_delimited_claims` (`scope`, `permission` and the rule's `spaceDelimitedClaims`) becomes the list of its
 * space-separated words, so `permission: "read write"` matches a policy's `write`.
 */
function spaceDelimited(payload: JWTPayload, extra: string[] = []): Record<string, unknown> {
  let out: Record<string, unknown> = payload;
  for (const name of [...SPACE_DELIMITED, ...extra]) {
    const v = payload[name];
    if (typeof v !== 'string') continue;
    if (out === payload) out = { ...payload };
    out[name] = v.split(' ').filter((w) => w !== '');
  }
  return out;
}

/**
 * The request's tokens against the rules, as the filter Istio configures does (one provider per rule, required
 * "any", missing allowed): a rule verifies every token in its own locations (a token of another issuer there is
 * "unknown issuer", as good as none); the first rule whose tokens all verify authenticates the request. If none
 * does, the last real failure is the answer, else an unknown issuer, else there was no token (unauthenticated).
 */
export async function authenticate(
  rules: JwtRule[],
  headers: Record<string, string | string[] | undefined>,
  path: string
): Promise<JwtResult> {
  let failure: { reason: string; body: string } | undefined;
  let unknown: { reason: string; body: string } | undefined;
  for (const rule of rules) {
    const tokens = findTokens(rule.spec, headers, path);
    if (tokens.length === 0) continue;
    let first: { payload: JWTPayload; segment: string } | undefined;
    let bad: Verified | undefined;
    // Envoy takes a provider's tokens from the back of its list (cookies, parameters, headers) and stops at a failure
    for (let i = tokens.length - 1; i >= 0; i--) {
      const v = await verifyToken(rule, tokens[i]!.token);
      if (!v.ok) {
        bad = v;
        break;
      }
      first = v;
    }
    if (bad && !bad.ok) {
      if (bad.unknownIssuer) unknown ??= bad;
      else failure = bad;
      continue;
    }
    const { payload, segment } = first!;
    return {
      status: 'ok',
      principal: `${payload.iss}/${payload.sub ?? ''}`,
      claims: payload,
      metadata: spaceDelimited(payload, rule.spec.spaceDelimitedClaims),
      payloadSegment: segment,
      rule,
      strip: (edits) => {
        for (const t of tokens) t.strip(edits);
      }
    };
  }
  const final = failure ?? unknown;
  return final ? { status: 'fail', ...final } : { status: 'none' };
}
