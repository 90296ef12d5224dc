/**
 * Semantic checks of security.istio.io resources (the schema is checked on load): what Istio's webhook rejects
 * and what localmesh cannot do, each with a code and the place it came from.
 */
import { isIP } from 'node:net';
import type { ValidationIssue } from '../../contract/api.js';
import type { SourcePos } from '../../contract/errors.js';
import type { IstioResource } from '../../contract/istio-schema.js';
import { parseDuration } from '../util/duration.js';
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

/** The kinds whose `selector` is a WorkloadSelector, checked by Istio's validateWorkloadSelector. */
const SELECTOR_KINDS = new Set(['PeerAuthentication', 'RequestAuthentication', 'AuthorizationPolicy', 'Telemetry']);

type Add = (sev: ValidationIssue['severity'], code: string, msg: string, p: PathSegment[]) => void;

export function validateSecurity(resources: IstioResource[], posOf: PosOf): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const r of resources) {
    const add: Add = (sev, code, msg, p) =>
      out.push(
        makeIssue(sev, code, msg, ['spec', ...p], posOf(r, ['spec', ...p]), `${r.kind} ${r.namespace}/${r.name}`)
      );
    const spec = (r.spec ?? {}) as Record<string, unknown> & {
      selector?: { matchLabels?: Record<string, string> };
      portLevelMtls?: Record<string, unknown>;
      jwtRules?: JwtRule[];
    };
    const hasSelector = Object.keys(spec.selector?.matchLabels ?? {}).length > 0;
    // a WorkloadSelector ({matchLabels}) in the security kinds; a Gateway's selector is a plain label map, which
    // Istio's ValidateGateway does not check
    if (spec.selector && SELECTOR_KINDS.has(r.kind))
      for (const [sev, msg, p] of selectorProblems(spec.selector.matchLabels))
        add(sev, SecurityCodes.SCHEMA, msg, p.length ? ['selector', 'matchLabels', ...p] : ['selector']);
    if (r.kind === 'PeerAuthentication') {
      const ports = Object.keys(spec.portLevelMtls ?? {});
      if (spec.portLevelMtls && ports.length === 0)
        add(
          'error',
          SecurityCodes.SCHEMA,
          'port level mTLS, if defined, must have at least one element: name a port, or remove portLevelMtls',
          ['portLevelMtls']
        );
      if (ports.length > 0 && !hasSelector)
        add(
          'error',
          SecurityCodes.SCHEMA,
          'portLevelMtls needs a workload selector (Istio rejects it on a namespace- or mesh-wide policy)',
          ['portLevelMtls']
        );
      for (const port of ports) {
        const n = Number(port);
        if (!(Number.isInteger(n) && n >= 1 && n <= 65535))
          add('error', SecurityCodes.SCHEMA, `port must be in range 1..65535, found ${port}`, ['portLevelMtls', port]);
      }
      if (hasSelector && r.namespace === ROOT_NAMESPACE)
        add(
          'warning',
          SecurityCodes.NO_EFFECT,
          `a selector policy in the root namespace ${ROOT_NAMESPACE} is ignored`,
          ['selector']
        );
    }
    const refs = [
      ...(spec.targetRef ? [['targetRef', spec.targetRef] as const] : []),
      ...((spec.targetRefs as unknown[] | undefined) ?? []).map((t, k) => [['targetRefs', k], t] as const)
    ];
    if (r.kind === 'AuthorizationPolicy' || r.kind === 'RequestAuthentication') {
      if (spec.selector && refs.length > 0)
        add('error', SecurityCodes.SCHEMA, 'only one of targetRefs or selector can be set', ['selector']);
      if (spec.targetRef && (spec.targetRefs as unknown[] | undefined)?.length)
        add('error', SecurityCodes.SCHEMA, 'only one of targetRefs or targetRef can be set', ['targetRef']);
      for (const [where, ref] of refs)
        if ((ref as { namespace?: string } | undefined)?.namespace)
          add(
            'error',
            SecurityCodes.SCHEMA,
            'targetRef namespace must not be set; cross namespace referencing is not supported',
            [...(Array.isArray(where) ? where : [where]), 'namespace']
          );
    }
    if (
      (r.kind === 'AuthorizationPolicy' || r.kind === 'RequestAuthentication') &&
      ((spec.targetRefs as unknown[] | undefined)?.length || spec.targetRef)
    )
      add(
        'warning',
        SecurityCodes.NO_EFFECT,
        'targetRefs attach the policy to a waypoint or a Gateway; sidecars ignore it (use a selector for workloads with sidecars)',
        [spec.targetRefs ? 'targetRefs' : 'targetRef']
      );
    if (r.kind === 'AuthorizationPolicy') checkAuthorizationPolicy(spec as AuthorizationPolicySpec, add);
    if (r.kind === 'RequestAuthentication') {
      (spec.jwtRules ?? []).forEach((j, i) => {
        if (j.jwks && j.jwksUri)
          add('error', SecurityCodes.SCHEMA, 'set either jwks or jwksUri, not both', ['jwtRules', i]);
        const scheme = j.jwksUri ? URI_SCHEME.exec(j.jwksUri)?.[1]?.toLowerCase() : undefined;
        if (scheme !== undefined && !JWKS_SCHEMES.has(scheme))
          add(
            'error',
            SecurityCodes.SCHEMA,
            `jwksUri scheme "${scheme}" is not supported: Istio takes http:// and https:// URIs only (localmesh also reads file:// URLs and local paths)`,
            ['jwtRules', i, 'jwksUri']
          );
        checkJwtRule(j, ['jwtRules', i], add);
        if (j.jwksUri && /^https?:\/\//.test(j.jwksUri))
          add(
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

interface JwtRule {
  jwks?: string;
  jwksUri?: string;
  audiences?: string[];
  fromParams?: string[];
  fromCookies?: string[];
  spaceDelimitedClaims?: string[];
  outputClaimToHeaders?: { header?: string; claim?: string }[];
  timeout?: string;
}

/** Istio's ValidateStrictHTTPHeaderName (outputClaimToHeaders[].header; the CRD allows "_" too, the webhook not). */
const CLAIM_HEADER = /^[-A-Za-z0-9]+$/;

/**
 * Istio's validateJwtRule and the JWTRule CRD beyond the schema: no empty audience, query parameter, cookie or
 * space-delimited claim; an output header that is a plain header name; a timeout of at least 1ms.
 */
function checkJwtRule(j: JwtRule, p: PathSegment[], add: Add): void {
  const what = {
    audiences: 'audience',
    fromParams: 'location query',
    fromCookies: 'cookie name',
    spaceDelimitedClaims: 'space-delimited claim'
  } as const;
  for (const f of ['audiences', 'fromParams', 'fromCookies', 'spaceDelimitedClaims'] as const)
    j[f]?.forEach((v, k) => {
      if (v === '') add('error', SecurityCodes.SCHEMA, `${what[f]} must be non-empty string`, [...p, f, k]);
    });
  j.outputClaimToHeaders?.forEach((o, k) => {
    if (o?.header && !CLAIM_HEADER.test(o.header))
      add(
        'error',
        SecurityCodes.SCHEMA,
        `header "${o.header}" is not a valid header name: letters, digits and "-" only`,
        [...p, 'outputClaimToHeaders', k, 'header']
      );
  });
  if (j.timeout !== undefined) {
    const ms = DURATION.test(j.timeout) ? parseDuration(j.timeout) : NaN;
    if (!(ms >= 1))
      add(
        'error',
        SecurityCodes.SCHEMA,
        `timeout must be a valid duration greater than 1ms (such as "5s"), found "${j.timeout}"`,
        [...p, 'timeout']
      );
  }
}

/** A protobuf Duration as Istio's YAML takes it (a sum of number+unit parts). */
const DURATION = /^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/;

/**
 * Istio's validateWorkloadSelector (every kind with a workload selector): no empty label key, no "*" in a key or a
 * value (errors); a selector without labels selects every workload of the namespace (a warning).
 */
export function selectorProblems(
  labels: Record<string, string> | undefined
): [ValidationIssue['severity'], string, PathSegment[]][] {
  const out: [ValidationIssue['severity'], string, PathSegment[]][] = [];
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0)
    out.push(['warning', 'workload selector specified without labels: it selects every workload of the namespace', []]);
  for (const [k, v] of entries) {
    if (k === '') out.push(['error', `empty key is not supported in selector: "${k}=${v}"`, [k]]);
    if (k.includes('*') || v.includes('*'))
      out.push(['error', `wildcard is not supported in selector: "${k}=${v}" (labels match exactly)`, [k]]);
  }
  return out;
}

/** A URI's scheme (two characters at least, so that a Windows path "C:\\..." is a path). */
const URI_SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]+):/;
/** Istio's webhook takes http and https (security.ParseJwksURI); file is localmesh's own (a local JWKS file). */
const JWKS_SCHEMES = new Set(['http', 'https', 'file']);

type Strings = string[] | undefined;
interface Source {
  principals?: Strings;
  notPrincipals?: Strings;
  requestPrincipals?: Strings;
  notRequestPrincipals?: Strings;
  namespaces?: Strings;
  notNamespaces?: Strings;
  serviceAccounts?: Strings;
  notServiceAccounts?: Strings;
  ipBlocks?: Strings;
  notIpBlocks?: Strings;
  remoteIpBlocks?: Strings;
  notRemoteIpBlocks?: Strings;
  trustDomains?: Strings;
  notTrustDomains?: Strings;
}
interface Operation {
  hosts?: Strings;
  notHosts?: Strings;
  ports?: Strings;
  notPorts?: Strings;
  methods?: Strings;
  notMethods?: Strings;
  paths?: Strings;
  notPaths?: Strings;
}
interface AuthorizationPolicySpec {
  action?: string;
  rules?: {
    from?: { source?: Source }[];
    to?: { operation?: Operation }[];
    when?: { key?: string; values?: Strings; notValues?: Strings }[];
  }[];
}

const IP_FIELDS = ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const;
const IP_KEYS = new Set(['source.ip', 'remote.ip', 'destination.ip']);

/**
 * What Istio's webhook checks of an AuthorizationPolicy (ValidateAuthorizationPolicy) beyond the schema (which has
 * the rules about what is missing: rules of a DENY or CUSTOM policy, empty sources, operations and conditions,
 * provider), and what localmesh cannot do.
 */
function checkAuthorizationPolicy(spec: AuthorizationPolicySpec, add: Add): void {
  const rules = spec.rules ?? [];
  if (spec.action === 'CUSTOM')
    add(
      'warning',
      SecurityCodes.CUSTOM_UNSUPPORTED,
      'CUSTOM needs meshConfig extensionProviders, which localmesh has none of: as istiod does for a provider it cannot find, the requests this policy matches are denied (403)',
      ['action']
    );
  rules.forEach((rule, i) => {
    for (const f of ['from', 'to'] as const)
      if (rule?.[f] && rule[f].length === 0)
        add('error', SecurityCodes.SCHEMA, `\`${f}\` must not be empty, found at rule ${i}: remove it or add entries`, [
          'rules',
          i,
          f
        ]);
    if (spec.action === 'CUSTOM') checkCustomRule(rule, ['rules', i], add);
    if (spec.action === 'DENY' && deniesAllTcp(rule))
      add(
        'warning',
        SecurityCodes.SCHEMA,
        'configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port',
        ['rules', i]
      );
    (rule?.from ?? []).forEach((f, j) => checkSource(f?.source, ['rules', i, 'from', j], add));
    (rule?.to ?? []).forEach((t, j) => checkOperation(t?.operation, ['rules', i, 'to', j], add));
    (rule?.when ?? []).forEach((c, j) => checkCondition(c, ['rules', i, 'when', j], add));
  });
}

type Rule = NonNullable<AuthorizationPolicySpec['rules']>[number];

const TCP_SOURCE_FIELDS = [
  'principals',
  'notPrincipals',
  'ipBlocks',
  'notIpBlocks',
  'namespaces',
  'notNamespaces',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'serviceAccounts',
  'notServiceAccounts'
] as const;

/**
 * Istio's warning for a DENY rule whose sources or operations use only HTTP attributes (requestPrincipals, methods,
 * paths, hosts): on a TCP port such a rule matches every connection.
 */
function deniesAllTcp(rule: Rule | undefined): boolean {
  const sources = (rule?.from ?? []).flatMap((f) => (f?.source ? [f.source] : []));
  const ops = (rule?.to ?? []).flatMap((t) => (t?.operation ? [t.operation] : []));
  const tcpInFrom = sources.some((src) => TCP_SOURCE_FIELDS.some((f) => src[f] !== undefined));
  const tcpInTo = ops.some((op) => op.ports !== undefined || op.notPorts !== undefined);
  return (sources.length > 0 && ops.length === 0 && !tcpInFrom) || (ops.length > 0 && !tcpInTo);
}

const CUSTOM_UNSUPPORTED_SOURCE = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts'
] as const;

/** Istio: a CUSTOM rule cannot use identities (principals, namespaces, JWT) in sources or conditions. */
function checkCustomRule(rule: Rule | undefined, p: PathSegment[], add: Add): void {
  (rule?.from ?? []).forEach((f, j) => {
    for (const field of CUSTOM_UNSUPPORTED_SOURCE)
      if (isSet(f?.source?.[field]))
        add(
          'error',
          SecurityCodes.SCHEMA,
          `From.${field[0]!.toUpperCase()}${field.slice(1)} is currently not supported with CUSTOM action`,
          [...p, 'from', j, 'source', field]
        );
  });
  (rule?.when ?? []).forEach((c, j) => {
    const key = c?.key ?? '';
    if (
      ['source.namespace', 'source.serviceAccount', 'source.principal'].includes(key) ||
      key.startsWith('request.auth.')
    )
      add('error', SecurityCodes.SCHEMA, `${key} is currently not supported with CUSTOM action`, [
        ...p,
        'when',
        j,
        'key'
      ]);
  });
}

function isSet(list: Strings): boolean {
  return (list?.length ?? 0) > 0;
}

/** Istio: "empty value not allowed" in every list of a source, an operation and a condition. */
function checkEmptyValues(list: Strings, p: PathSegment[], add: Add): void {
  list?.forEach((v, k) => {
    if (v === '') add('error', SecurityCodes.SCHEMA, 'empty value not allowed; remove it or write a value', [...p, k]);
  });
}

function checkSource(src: Source | undefined, p: PathSegment[], add: Add): void {
  if (!src) return; // `from.source` must not be nil: the schema
  const sp = [...p, 'source'];
  const fields = Object.keys(src) as (keyof Source)[];
  for (const f of fields) checkEmptyValues(src[f], [...sp, f], add);
  for (const f of IP_FIELDS)
    src[f]?.forEach((v, k) => {
      const problem = v === '' ? undefined : ipProblem(v);
      if (problem) add('error', SecurityCodes.SCHEMA, problem, [...sp, f, k]);
    });
  const sa = isSet(src.serviceAccounts)
    ? 'serviceAccounts'
    : isSet(src.notServiceAccounts)
      ? 'notServiceAccounts'
      : undefined;
  const other = (['principals', 'notPrincipals', 'namespaces', 'notNamespaces'] as const).find((f) => isSet(src[f]));
  if (sa && other)
    add(
      'error',
      SecurityCodes.SCHEMA,
      `Cannot set serviceAccounts with namespaces or principals (this source also sets ${other}); put them in separate from entries`,
      [...sp, sa]
    );
}

function checkOperation(op: Operation | undefined, p: PathSegment[], add: Add): void {
  if (!op) return; // `to.operation` must not be nil: the schema
  const opPath = [...p, 'operation'];
  const fields = Object.keys(op) as (keyof Operation)[];
  for (const f of fields) checkEmptyValues(op[f], [...opPath, f], add);
  for (const f of ['ports', 'notPorts'] as const)
    op[f]?.forEach((v, k) => {
      const problem = v === '' ? undefined : portProblem(v);
      if (problem) add('error', SecurityCodes.SCHEMA, problem, [...opPath, f, k]);
    });
  for (const field of ['paths', 'notPaths'] as const) {
    (op[field] ?? []).forEach((path, k) => {
      if (path.includes('{') && !/^(\/(\{\*\}|\{\*\*\}|[^{}/]*))*$/.test(path))
        add('error', SecurityCodes.SCHEMA, `path template "${path}": {*} and {**} must each be a whole path segment`, [
          ...opPath,
          field,
          k
        ]);
      // Istio's CheckValidPathTemplate: no operator after {**}; literal segments may follow it (`/store/{**}/cart`)
      if (/\{\*\*\}.*\{\*\*?\}/.test(path))
        add('error', SecurityCodes.SCHEMA, `path template "${path}": {**} must be the last operator`, [
          ...opPath,
          field,
          k
        ]);
    });
  }
}

function checkCondition(
  c: { key?: string; values?: Strings; notValues?: Strings } | undefined,
  p: PathSegment[],
  add: Add
): void {
  if (c?.key === undefined) return;
  const problem = whenKeyProblem(c.key);
  if (problem) {
    add('error', SecurityCodes.SCHEMA, problem, [...p, 'key']);
    return;
  }
  for (const field of ['values', 'notValues'] as const) {
    checkEmptyValues(c[field], [...p, field], add);
    c[field]?.forEach((v, k) => {
      if (v === '') return;
      const bad = IP_KEYS.has(c.key!) ? ipProblem(v) : c.key === 'destination.port' ? portProblem(v) : undefined;
      if (bad) add('error', SecurityCodes.SCHEMA, `invalid value for key ${c.key}: ${bad}`, [...p, field, k]);
    });
  }
}

/** Why Istio rejects an IP or CIDR of an AuthorizationPolicy (security.ValidateIPs), or undefined. */
export function ipProblem(value: string): string | undefined {
  const slash = value.indexOf('/');
  if (slash < 0)
    return isIP(value) !== 0
      ? undefined
      : `bad IP address (${value}): write an IPv4 or IPv6 address such as "10.0.0.1", or a CIDR range such as "10.0.0.0/16"`;
  const family = isIP(value.slice(0, slash));
  const bits = value.slice(slash + 1);
  const max = family === 6 ? 128 : 32;
  if (family === 0 || value.includes('%') || !/^(0|[1-9]\d*)$/.test(bits) || Number(bits) > max)
    return `bad CIDR range (${value}): write an address and a prefix length of 0..32 (IPv4) or 0..128 (IPv6), e.g. "10.0.0.0/16"`;
  return undefined;
}

/** Why Istio rejects a port of an AuthorizationPolicy (security.ValidatePorts: a number 0..65535), or undefined. */
export function portProblem(value: string): string | undefined {
  return /^\d+$/.test(value) && Number(value) <= 65535
    ? undefined
    : `bad port (${value}): ports are numbers up to 65535 written as strings, e.g. "8080"`;
}

/** `when` keys Istio's webhook accepts (security validation ValidateAttribute); the rest it rejects. */
const WHEN_KEYS = new Set([
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.serviceAccount',
  'source.principal',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni'
]);
const WHEN_MAP_KEYS = [
  'request.headers',
  'request.experimental.inline.headers',
  'request.auth.claims',
  'experimental.envoy.filters.'
];

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
