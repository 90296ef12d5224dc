/**
 * RequestAuthentication (JWT) at the server sidecar: a token found in the configured places must verify against
 * its issuer's JWKS (inline `jwks`, or `jwksUri` naming a local file), audiences and expiry; an invalid token gets
 * 401 `Jwt verification fails`; a request without a token passes unauthenticated (AuthorizationPolicy decides).
 * Uses `jose` for the cryptography.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
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
  | { status: 'fail'; reason: string };

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
    let iss: string | undefined;
    try {
      iss = decodeJwt(found.token).iss;
    } catch {
      return { status: 'fail', reason: 'the token is not a JWT' };
    }
    const match = rules.find(
      (r) => r.spec.issuer === iss && findToken(r.spec, headers, url, setHeaders)?.token === found.token
    );
    if (!match) return { status: 'fail', reason: `issuer ${iss ?? '(none)'} is not configured` };
    if (!match.keys) return { status: 'fail', reason: `no usable JWKS for ${match.spec.issuer}: ${match.keyError}` };
    try {
      const { payload } = await jwtVerify(found.token, match.keys, {
        issuer: match.spec.issuer,
        audience: match.spec.audiences?.length ? match.spec.audiences : undefined
      });
      return {
        status: 'ok',
        principal: `${payload.iss}/${payload.sub ?? ''}`,
        claims: payload,
        rule: match,
        strip: found.strip
      };
    } catch (e) {
      return { status: 'fail', reason: (e as Error).message };
    }
  }
  return { status: 'none' };
}
