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
}
interface RequestAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRefs?: { kind?: string; name: string }[];
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
  | { status: 'ok'; principal: string; claims: JWTPayload; rule: JwtRule; strip: () => void }
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
    const refs = r.spec?.targetRefs ?? [];
    const selected =
      refs.length > 0
        ? refs.some((t) => (t.kind ?? 'Service') === 'Service' && t.name === w.service)
        : labelsMatch(r.spec?.selector?.matchLabels, w.labels);
    if (!selected) continue;
    for (const spec of r.spec?.jwtRules ?? []) {
      let keys: JwtRule['keys'] = null;
      let keyError: string | undefined;
      try {
        const text = spec.jwks ?? readJwksUri(spec.jwksUri, path.dirname(r.where.file), baseDir);
        if (text) keys = createLocalJWKSet(JSON.parse(text));
        else keyError = 'no jwks or jwksUri';
      } catch (e) {
        keyError = (e as Error).message;
      }
      out.push({ spec, policy: `${r.namespace}/${r.name}`, keys, keyError });
    }
  }
  return out;
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

interface Found {
  token: string;
  strip: () => void;
}

function findToken(
  rule: JwtRuleSpec,
  headers: Record<string, string | string[] | undefined>,
  url: URL,
  setHeaders: (h: Record<string, string | undefined>) => void
): Found | undefined {
  const fromHeaders = rule.fromHeaders ?? (rule.fromParams ? [] : [{ name: 'authorization', prefix: 'Bearer ' }]);
  for (const h of fromHeaders) {
    const v = headers[h.name.toLowerCase()];
    const value = Array.isArray(v) ? v[0] : v;
    if (value === undefined) continue;
    const prefix = h.prefix ?? '';
    if (!value.startsWith(prefix)) continue;
    return { token: value.slice(prefix.length).trim(), strip: () => setHeaders({ [h.name.toLowerCase()]: undefined }) };
  }
  const params = rule.fromParams ?? (rule.fromHeaders ? [] : ['access_token']);
  for (const p of params) {
    const v = url.searchParams.get(p);
    if (v) return { token: v, strip: () => undefined };
  }
  return undefined;
}

export async function authenticate(
  rules: JwtRule[],
  headers: Record<string, string | string[] | undefined>,
  url: URL,
  setHeaders: (h: Record<string, string | undefined>) => void
): Promise<JwtResult> {
  for (const rule of rules) {
    const found = findToken(rule.spec, headers, url, setHeaders);
    if (!found) continue;
    const parsed = parseJwt(found.token);
    if ('error' in parsed) return { status: 'fail', reason: parsed.error, body: parsed.error };
    const iss = parsed.payload.iss;
    const match = rules.find(
      (r) => r.spec.issuer === iss && findToken(r.spec, headers, url, setHeaders)?.token === found.token
    );
    if (!match)
      return {
        status: 'fail',
        reason: `issuer ${iss ?? '(none)'} is not configured`,
        body: JwtStatus.unknownIssuer
      };
    const now = Math.floor(Date.now() / 1000);
    const { exp, nbf, aud } = parsed.payload;
    if (exp !== undefined && now > exp + CLOCK_SKEW_S)
      return { status: 'fail', reason: `expired at ${new Date(exp * 1000).toISOString()}`, body: JwtStatus.expired };
    if (nbf !== undefined && now + CLOCK_SKEW_S < nbf)
      return {
        status: 'fail',
        reason: `not valid before ${new Date(nbf * 1000).toISOString()}`,
        body: JwtStatus.notYetValid
      };
    const allowed = match.spec.audiences ?? [];
    if (allowed.length > 0) {
      const auds = aud === undefined ? [] : Array.isArray(aud) ? aud : [aud];
      if (!auds.some((a) => allowed.includes(a)))
        return {
          status: 'fail',
          reason: `audiences ${auds.join(', ') || '(none)'} not in ${allowed.join(', ')}`,
          body: JwtStatus.audienceNotAllowed
        };
    }
    if (!match.keys)
      return {
        status: 'fail',
        reason: `no usable JWKS for ${match.spec.issuer}: ${match.keyError}`,
        body:
          match.spec.jwksUri && /^https?:\/\//.test(match.spec.jwksUri)
            ? JwtStatus.jwksFetchFailed
            : JwtStatus.jwksNoValidKeys
      };
    try {
      // time and audiences are checked above, as Envoy does (with its clock skew): the signature is what is left
      const { payload } = await jwtVerify(found.token, match.keys, { clockTolerance: CLOCK_SKEW_S });
      return {
        status: 'ok',
        principal: `${payload.iss}/${payload.sub ?? ''}`,
        claims: payload,
        rule: match,
        strip: found.strip
      };
    } catch (e) {
      const body =
        e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys
          ? JwtStatus.kidAlgMismatch
          : e instanceof joseErrors.JWTExpired
            ? JwtStatus.expired
            : e instanceof joseErrors.JWTClaimValidationFailed && e.claim === 'nbf'
              ? JwtStatus.notYetValid
              : JwtStatus.verificationFails;
      return { status: 'fail', reason: (e as Error).message, body };
    }
  }
  return { status: 'none' };
}
