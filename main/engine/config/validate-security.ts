/**
 * Semantic checks of security.istio.io resources (the schema is checked on load): what Istio's webhook rejects
 * and what localmesh cannot do, each with a code and the place it came from.
 */
import type { ValidationIssue } from '../../contract/api.js';
import type { SourcePos } from '../../contract/errors.js';
import type { IstioResource } from '../../contract/istio-schema.js';
import { ROOT_NAMESPACE } from './compile.js';
import { makeIssue, type PathSegment } from './yaml-source.js';

export const SecurityCodes = {
  /** CUSTOM authorization needs an external authorizer localmesh does not run (its rules deny, as in istiod). */
  CUSTOM_UNSUPPORTED: 'IST0022',
  /** A jwksUri localmesh will not fetch (remote), or JWKS it cannot read. */
  JWKS_UNAVAILABLE: 'IST0023',
  /** A policy that has no effect as written. */
  NO_EFFECT: 'IST0024',
  SCHEMA: 'IST0106'
} as const;

type PosOf = (r: IstioResource, path: PathSegment[]) => SourcePos;

export function validateSecurity(resources: IstioResource[], posOf: PosOf): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const add = (r: IstioResource, sev: ValidationIssue['severity'], code: string, msg: string, p: PathSegment[]) =>
    out.push(makeIssue(sev, code, msg, ['spec', ...p], posOf(r, ['spec', ...p]), `${r.kind} ${r.namespace}/${r.name}`));
  for (const r of resources) {
    const spec = (r.spec ?? {}) as Record<string, unknown> & {
      selector?: { matchLabels?: Record<string, string> };
      action?: string;
      rules?: { to?: { operation?: { paths?: string[]; notPaths?: string[] } }[]; when?: { key?: string }[] }[];
      portLevelMtls?: Record<string, unknown>;
      jwtRules?: { jwks?: string; jwksUri?: string }[];
    };
    const hasSelector = Object.keys(spec.selector?.matchLabels ?? {}).length > 0;
    if (r.kind === 'PeerAuthentication') {
      if (spec.portLevelMtls && !hasSelector)
        add(
          r,
          'error',
          SecurityCodes.SCHEMA,
          'portLevelMtls needs a workload selector (Istio rejects it on a namespace- or mesh-wide policy)',
          ['portLevelMtls']
        );
      if (hasSelector && r.namespace === ROOT_NAMESPACE)
        add(
          r,
          'warning',
          SecurityCodes.NO_EFFECT,
          `a selector policy in the root namespace ${ROOT_NAMESPACE} is ignored`,
          ['selector']
        );
    }
    if (r.kind === 'AuthorizationPolicy') {
      if (spec.action === 'CUSTOM')
        add(
          r,
          'warning',
          SecurityCodes.CUSTOM_UNSUPPORTED,
          'CUSTOM needs meshConfig extensionProviders, which localmesh has none of: as istiod does for a provider it cannot find, the requests this policy matches are denied (403)',
          ['action']
        );
      if (spec.action === 'DENY' && (!spec.rules || spec.rules.length === 0))
        add(
          r,
          'info',
          SecurityCodes.NO_EFFECT,
          'a DENY policy without rules has no effect (to deny everything use rules: [{}])',
          ['action']
        );
      (spec.rules ?? []).forEach((rule, i) => {
        (rule?.when ?? []).forEach((c, j) => {
          const problem = c?.key === undefined ? undefined : whenKeyProblem(c.key);
          if (problem) add(r, 'error', SecurityCodes.SCHEMA, problem, ['rules', i, 'when', j, 'key']);
        });
        (rule?.to ?? []).forEach((t, j) => {
          for (const field of ['paths', 'notPaths'] as const) {
            (t?.operation?.[field] ?? []).forEach((p, k) => {
              if (p.includes('{') && !/^(\/(\{\*\}|\{\*\*\}|[^{}/]*))*$/.test(p)) {
                add(
                  r,
                  'error',
                  SecurityCodes.SCHEMA,
                  `path template "${p}": {*} and {**} must each be a whole path segment`,
                  ['rules', i, 'to', j, 'operation', field, k]
                );
              }
              if (p.includes('{**}') && !p.endsWith('{**}'))
                add(r, 'error', SecurityCodes.SCHEMA, `path template "${p}": {**} must be the last segment`, [
                  'rules',
                  i,
                  'to',
                  j,
                  'operation',
                  field,
                  k
                ]);
            });
          }
        });
      });
    }
    if (r.kind === 'RequestAuthentication') {
      (spec.jwtRules ?? []).forEach((j, i) => {
        if (j.jwks && j.jwksUri)
          add(r, 'error', SecurityCodes.SCHEMA, 'set either jwks or jwksUri, not both', ['jwtRules', i]);
        if (j.jwksUri && /^https?:\/\//.test(j.jwksUri))
          add(
            r,
            'warning',
            SecurityCodes.JWKS_UNAVAILABLE,
            `jwksUri ${j.jwksUri} is remote: localmesh reads JWKS only from local files or inline jwks, so tokens for this issuer are rejected`,
            ['jwtRules', i, 'jwksUri']
          );
      });
    }
  }
  return out;
}

/** `when` keys Istio's webhook accepts (security validation ValidateAttribute); the rest it rejects. */
const WHEN_KEYS = new Set([
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni'
]);
const WHEN_MAP_KEYS = ['request.headers', 'request.auth.claims', 'experimental.envoy.filters.'];

/** Why Istio rejects a `when` key, or undefined when it accepts it. */
export function whenKeyProblem(key: string): string | undefined {
  if (WHEN_KEYS.has(key)) return undefined;
  const map = WHEN_MAP_KEYS.find((k) => key.startsWith(k));
  if (map === undefined)
    return `unknown attribute "${key}": use request.headers[<name>], request.auth.claims[<name>], ${[...WHEN_KEYS].join(', ')} or experimental.envoy.filters.*`;
  if (map === 'experimental.envoy.filters.') return undefined;
  if (!/^\[[^\]]+\](\[[^\]]+\])*$/.test(key.slice(map.length)))
    return `"${key}": write ${map}[<name>] with a non-empty name in brackets`;
  return undefined;
}
