/**
 * AuthorizationPolicy at the server sidecar (istio-semantics §1.5): CUSTOM (no extension provider exists locally,
 * so, as istiod does for a provider it cannot find, the policy's rules deny), DENY, ALLOW and AUDIT evaluated in
 * Istio's order, allow-nothing vs allow-all shapes, every source,
 * operation and `when` field with their not* variants, path templates, and the dry-run annotation.
 */
import type { IstioResource } from '../../contract/istio-schema.js';
import { labelsMatch, type WorkloadInfo } from '../registry.js';
import { ROOT_NAMESPACE } from '../config/compile.js';

interface Source {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
  trustDomains?: string[];
  notTrustDomains?: string[];
}
interface Operation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}
interface Condition {
  key: string;
  values?: string[];
  notValues?: string[];
}
interface Rule {
  from?: { source?: Source }[];
  to?: { operation?: Operation }[];
  when?: Condition[];
}
export interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRefs?: { kind?: string; group?: string; name: string; namespace?: string }[];
  targetRef?: { kind?: string; group?: string; name: string; namespace?: string };
  action?: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  provider?: { name?: string };
  rules?: Rule[];
}

/** What a request looks like to the authorizer. */
export interface AuthzRequest {
  /** Peer principal without "spiffe://" (empty for plaintext). */
  principal: string;
  /** Source namespace from the principal ("" for plaintext). */
  sourceNamespace: string;
  sourceIp: string;
  remoteIp: string;
  /** The app's address (Istio's pod IP: the original destination), 127.0.0.1 when not given. */
  destinationIp?: string;
  /** `<iss>/<sub>` of a validated JWT, "" when none. */
  requestPrincipal: string;
  claims: Record<string, unknown> | null;
  host: string;
  port: number;
  method: string;
  /** Path without the query string. */
  path: string;
  header(name: string): string | undefined;
  sni: string;
  /**
   * A TCP connection, not a request: Istio evaluates L4 fields only. An ALLOW (or AUDIT) rule with an HTTP-only
   * field (hosts, methods, paths, requestPrincipals, a request.* condition) never matches; a DENY (or CUSTOM) rule
   * is evaluated without them, so it denies more (istio.io "Authorization for TCP traffic").
   */
  tcp?: boolean;
}

export interface AuthzDecision {
  allowed: boolean;
  /** e.g. `DENY policy default/deny-post matched`, `no ALLOW policy matched`. */
  reason: string;
  policy: string | null;
  /** A DENY: the Envoy RBAC policy that matched (envoyPolicyName), which the access log's details name. */
  envoyPolicy?: string;
  /** Dry-run policies that would have changed the decision, and AUDIT matches. */
  notes: string[];
}

/**
 * `abc*` prefix, `*abc` suffix, `*` any non-empty value, else exact. A leading `*` is read first, as Istio's matchers
 * do: `*abc*` is the suffix `abc*`.
 */
function strMatch(pattern: string, value: string, ci = false): boolean {
  const p = ci ? pattern.toLowerCase() : pattern;
  const v = ci ? value.toLowerCase() : value;
  if (p === '*') return v !== '';
  if (p.startsWith('*')) return v.endsWith(p.slice(1));
  if (p.endsWith('*')) return v.startsWith(p.slice(0, -1));
  return p === v;
}

/**
 * A `namespaces` value (or `source.namespace` condition value) against the peer's namespace: Istio turns every `*` into
 * `.*` (srcNamespaceGenerator), so `team-*-prod` is a glob; a plaintext peer has no namespace and matches nothing.
 */
function namespaceMatch(pattern: string, ns: string): boolean {
  const stars = pattern.split('*').length - 1;
  if (ns === '' || stars === 0 || (stars === 1 && (pattern.startsWith('*') || pattern.endsWith('*'))))
    return strMatch(pattern, ns);
  return new RegExp(
    `^${pattern
      .split('*')
      .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`
  ).test(ns);
}

const templateCache = new Map<string, RegExp>();
function pathMatch(pattern: string, path: string): boolean {
  if (!pattern.includes('{')) return strMatch(pattern, path);
  let re = templateCache.get(pattern);
  if (!re) {
    const src = pattern
      .split('/')
      .map((seg) => (seg === '{**}' ? '.*' : seg === '{*}' ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    re = new RegExp(`^${src}$`);
    templateCache.set(pattern, re);
  }
  return re.test(path);
}

function ipv4ToInt(ip: string): number | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip.replace(/^::ffff:/, ''));
  if (!m) return null;
  return ((+m[1]! << 24) | (+m[2]! << 16) | (+m[3]! << 8) | +m[4]!) >>> 0;
}
function ipMatch(block: string, ip: string): boolean {
  const [net, bits] = block.split('/');
  const a = ipv4ToInt(net!);
  const b = ipv4ToInt(ip);
  if (a === null || b === null) return block === ip;
  const n = bits === undefined ? 32 : Number(bits);
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return (a & mask) === (b & mask);
}

/** `field` present ⇒ the value must match one; `notField` present ⇒ it must match none. */
function check(values: string[] | undefined, notValues: string[] | undefined, m: (p: string) => boolean): boolean {
  if (values && !values.some(m)) return false;
  if (notValues && notValues.some(m)) return false;
  return true;
}

/**
 * A `requestPrincipals` value against the validated token, as Istio's generator matches it on the JWT payload:
 * split at its last `/` into issuer and subject (an issuer may be a URL), each matched on its own claim, `*` being
 * any non-empty value; a prefix `*` applies to the issuer (or, without `/`, the subject), a suffix `*` to the subject
 * (or, without `/`, the issuer). No token, or a token without `iss` or `sub`, matches nothing.
 */
function requestPrincipalMatch(p: string, claims: Record<string, unknown> | null): boolean {
  const iss = typeof claims?.iss === 'string' ? claims.iss : undefined;
  const sub = typeof claims?.sub === 'string' ? claims.sub : undefined;
  if (iss === undefined || sub === undefined) return false;
  const any = (v: string) => v !== '';
  const idx = p.lastIndexOf('/');
  const found = idx >= 0;
  const pIss = found ? p.slice(0, idx) : p;
  const pSub = found ? p.slice(idx + 1) : '';
  if (p === '*') return any(iss) && any(sub);
  if (p.startsWith('*')) {
    if (!found) return any(iss) && sub.endsWith(p.slice(1));
    return (pIss === '*' ? any(iss) : iss.endsWith(pIss.slice(1))) && sub === pSub;
  }
  if (p.endsWith('*')) {
    if (!found) return iss.startsWith(p.slice(0, -1)) && any(sub);
    return iss === pIss && (pSub === '*' ? any(sub) : sub.startsWith(pSub.slice(0, -1)));
  }
  return iss === pIss && sub === pSub;
}

/** `<ns>/<sa>` of the peer's principal ("" for plaintext). */
const serviceAccountOf = (principal: string) =>
  principal ? principal.replace(/^[^/]+\/ns\/([^/]+)\/sa\/(.+)$/, '$1/$2') : '';
/**
 * A `serviceAccounts` value (or `source.serviceAccount` condition value) against the peer's `<ns>/<sa>`: `<sa>` alone
 * names a service account of the policy's namespace (Istio's serviceAccountRegex).
 */
const serviceAccountMatch = (p: string, sa: string, policyNamespace: string) =>
  strMatch(p.includes('/') ? p : `${policyNamespace}/${p}`, sa);

function sourceMatches(s: Source, r: AuthzRequest, policyNamespace: string): boolean {
  const sa = serviceAccountOf(r.principal);
  const trustDomain = r.principal ? r.principal.slice(0, r.principal.indexOf('/')) : '';
  return (
    check(s.principals, s.notPrincipals, (p) => strMatch(p, r.principal)) &&
    check(s.requestPrincipals, s.notRequestPrincipals, (p) => requestPrincipalMatch(p, r.claims)) &&
    check(s.namespaces, s.notNamespaces, (p) => namespaceMatch(p, r.sourceNamespace)) &&
    check(s.serviceAccounts, s.notServiceAccounts, (p) => serviceAccountMatch(p, sa, policyNamespace)) &&
    check(s.trustDomains, s.notTrustDomains, (p) => strMatch(p, trustDomain)) &&
    check(s.ipBlocks, s.notIpBlocks, (p) => ipMatch(p, r.sourceIp)) &&
    check(s.remoteIpBlocks, s.notRemoteIpBlocks, (p) => ipMatch(p, r.remoteIp))
  );
}

function operationMatches(o: Operation, r: AuthzRequest): boolean {
  return (
    // the Host header as sent, port included (Istio's HostMatcher on :authority): `reviews` does not match
    // `reviews:9080`; write `reviews:9080` or `reviews*`
    check(o.hosts, o.notHosts, (p) => strMatch(p, r.host, true)) &&
    check(o.ports, o.notPorts, (p) => p === String(r.port)) &&
    check(o.methods, o.notMethods, (p) => strMatch(p, r.method)) &&
    check(o.paths, o.notPaths, (p) => pathMatch(p, r.path))
  );
}

function conditionValue(key: string, r: AuthzRequest): string | string[] | undefined {
  const h = /^request\.headers\[(.+)\]$/.exec(key);
  if (h) return r.header(h[1]!.toLowerCase());
  // Istio's InlineHeaderMatcher: each value of the comma-separated header on its own (a regex over the list)
  const inline = /^request\.experimental\.inline\.headers\[(.+)\]$/.exec(key);
  if (inline) return r.header(inline[1]!.toLowerCase())?.split(',');
  const c = /^request\.auth\.claims\[(.+)\]$/.exec(key);
  if (c) {
    let v: unknown = r.claims;
    for (const part of c[1]!.split(']['))
      v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    // Envoy matches the JWT payload metadata with a string matcher (one of a list, or the value): only string
    // values match; a number or a boolean claim never does
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
    return typeof v === 'string' ? v : undefined;
  }
  switch (key) {
    case 'source.ip':
      return r.sourceIp;
    case 'remote.ip':
      return r.remoteIp;
    case 'source.namespace':
      return r.sourceNamespace;
    case 'source.principal':
      return r.principal;
    case 'request.auth.principal':
      return r.requestPrincipal;
    case 'request.auth.audiences': {
      const aud = r.claims?.aud;
      return Array.isArray(aud) ? aud.map(String) : aud === undefined ? undefined : String(aud);
    }
    case 'request.auth.presenter':
      return r.claims?.azp === undefined ? undefined : String(r.claims.azp);
    case 'destination.port':
      return String(r.port);
    case 'destination.ip':
      return r.destinationIp ?? '127.0.0.1';
    case 'connection.sni':
      return r.sni;
    default:
      return undefined;
  }
}

function conditionMatches(c: Condition, r: AuthzRequest, policyNamespace: string): boolean {
  const v = conditionValue(c.key, r);
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
  const isIp = c.key === 'source.ip' || c.key === 'remote.ip' || c.key === 'destination.ip';
  const isHeader = c.key.startsWith('request.headers[') || c.key.startsWith('request.experimental.inline.headers[');
  const m =
    c.key === 'request.auth.principal'
      ? (p: string) => requestPrincipalMatch(p, r.claims)
      : c.key === 'source.namespace'
        ? (p: string) => namespaceMatch(p, r.sourceNamespace)
        : c.key === 'source.serviceAccount'
          ? (p: string) => r.principal !== '' && serviceAccountMatch(p, serviceAccountOf(r.principal), policyNamespace)
          : isHeader
            ? // `*` is Envoy's present_match (Istio's HeaderMatcher): a header sent empty is present
              (p: string) => (p === '*' ? v !== undefined : list.some((x) => strMatch(p, x)))
            : (p: string) => list.some((x) => (isIp ? ipMatch(p, x) : strMatch(p, x)));
  if (c.values && !c.values.some(m)) return false;
  if (c.notValues && c.notValues.some(m)) return false;
  return true;
}

function ruleMatches(rule: Rule, r: AuthzRequest, policyNamespace: string): boolean {
  if (rule.from && rule.from.length > 0 && !rule.from.some((f) => sourceMatches(f.source ?? {}, r, policyNamespace)))
    return false;
  if (rule.to && rule.to.length > 0 && !rule.to.some((t) => operationMatches(t.operation ?? {}, r))) return false;
  return (rule.when ?? []).every((c) => conditionMatches(c, r, policyNamespace));
}

function policyMatches(p: ApplicablePolicy, r: AuthzRequest): boolean {
  return matchedRule(p, r) >= 0;
}

/** The index of the policy's first rule the request matches, else -1. */
function matchedRule(p: ApplicablePolicy, r: AuthzRequest): number {
  return (p.spec.rules ?? []).findIndex((rule) => ruleMatchesFor(p, rule, r));
}

/** One of the policy's rules against the request (a TCP connection: the rule as it applies to TCP, see tcpRule). */
function ruleMatchesFor(p: ApplicablePolicy, rule: Rule | undefined, r: AuthzRequest): boolean {
  if (!r.tcp) return ruleMatches(rule ?? {}, r, p.namespace);
  const l4 = tcpRule(rule ?? {}, p.action === 'DENY' || p.action === 'CUSTOM');
  return l4 !== null && ruleMatches(l4, r, p.namespace);
}

/**
 * The name istiod gives the Envoy RBAC policy of a policy's rule (builder.go policyName): the RBAC filter's
 * response code details name it for a request a DENY rule denied, `rbac_access_denied_matched_policy[<this>]`.
 */
export function envoyPolicyName(p: ApplicablePolicy, rule: number): string {
  const base = `ns[${p.namespace}]-policy[${p.name.slice(p.name.indexOf('/') + 1)}]-rule[${rule}]`;
  // a CUSTOM policy whose provider istiod cannot build becomes a DENY policy of the same rules, named after the
  // provider (1.30, builder.go policyName and getBadCustomDenyRules)
  return p.action === 'CUSTOM'
    ? `istio-ext-authz-${p.spec.provider?.name ?? ''}-${base}-deny-due-to-bad-CUSTOM-action`
    : base;
}

/**
 * The Envoy RBAC policy of an `action` policy that denies `r`, or null. The policies of one RBAC
 * filter are a std::map in Envoy, tried in order of name, so the details name the matching rule whose name sorts
 * first (not the first in file order); CUSTOM policies are one filter per provider, in order of provider name.
 */
function denyingPolicy(
  policies: ApplicablePolicy[],
  action: 'DENY' | 'CUSTOM',
  r: AuthzRequest
): { policy: ApplicablePolicy; envoyPolicy: string } | null {
  let best: { policy: ApplicablePolicy; envoyPolicy: string; provider: string } | null = null;
  for (const p of policies) {
    if (p.action !== action) continue;
    const provider = p.action === 'CUSTOM' ? (p.spec.provider?.name ?? '') : '';
    if (best && provider > best.provider) continue;
    const rules = p.spec.rules ?? [];
    for (let i = 0; i < rules.length; i++) {
      if (!ruleMatchesFor(p, rules[i], r)) continue;
      const envoyPolicy = envoyPolicyName(p, i);
      if (!best || provider < best.provider || envoyPolicy < best.envoyPolicy)
        best = { policy: p, envoyPolicy, provider };
    }
  }
  return best;
}

const HTTP_SOURCE_FIELDS = ['requestPrincipals', 'notRequestPrincipals'] as const;
const HTTP_OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const isHttpCondition = (c: Condition) => c.key.startsWith('request.');

/**
 * A rule as it applies to TCP: null when it has HTTP-only fields and `strict` is false (ALLOW: the rule is
 * ignored), else without those fields (DENY: they are dropped).
 */
function tcpRule(rule: Rule, strict: boolean): Rule | null {
  const http =
    (rule.from ?? []).some((f) => HTTP_SOURCE_FIELDS.some((k) => f.source?.[k] !== undefined)) ||
    (rule.to ?? []).some((t) => HTTP_OPERATION_FIELDS.some((k) => t.operation?.[k] !== undefined)) ||
    (rule.when ?? []).some(isHttpCondition);
  if (!http) return rule;
  if (!strict) return null;
  const drop = <T extends object>(o: T | undefined, keys: readonly string[]): T | undefined =>
    o && (Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as T);
  return {
    ...rule,
    from: rule.from?.map((f) => ({ ...f, source: drop(f.source, HTTP_SOURCE_FIELDS) })),
    to: rule.to?.map((t) => ({ ...t, operation: drop(t.operation, HTTP_OPERATION_FIELDS) })),
    when: rule.when?.filter((c) => !isHttpCondition(c))
  };
}

export interface ApplicablePolicy {
  name: string;
  namespace: string;
  action: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  dryRun: boolean;
  spec: AuthorizationPolicySpec;
}

/** Istio's trust domain that stands for the local one (and its aliases) in a policy's principals. */
const CLUSTER_LOCAL = 'cluster.local';

/**
 * istiod's trust domain migration of a principal list (trustdomain.Bundle.ReplaceTrustDomainAliases), `domains` being
 * the mesh's trust domain then its aliases: a `<td>/ns/<ns>/sa/<sa>` principal whose trust domain is one of them
 * (a prefix or suffix wildcard in it matching one counts), or `cluster.local`, becomes that principal in each of
 * them; `*` trust domains, other shapes and other trust domains stay as written.
 */
export function migrateTrustDomain(principals: string[], domains: string[]): string[] {
  const out: string[] = [];
  for (const p of principals) {
    const parts = p.split('/');
    const td = parts[0]!;
    // trustdomain.stringMatch: a wildcard on either side, so `old*` or `*ld-td` in a policy names the alias old-td
    const known = domains.some((d) => strMatch(d, td) || strMatch(td, d)) || td === CLUSTER_LOCAL;
    if (parts.length !== 5 || td === '*' || !known) {
      out.push(p);
      continue;
    }
    const rest = parts.slice(1).join('/');
    for (const d of domains) {
      // a trust domain written with a leading * (`*-td`) that covers this one stays as it is
      const np = td.startsWith('*') && d.endsWith(td.slice(1)) ? p : `${d}/${rest}`;
      if (!out.includes(np)) out.push(np);
    }
  }
  return out;
}

/** A policy's rules with their principals and `source.principal` conditions migrated (see migrateTrustDomain). */
function migrateSpec(spec: AuthorizationPolicySpec, domains: string[]): AuthorizationPolicySpec {
  if (!spec.rules) return spec;
  const m = (v: string[] | undefined) => (v?.length ? migrateTrustDomain(v, domains) : v);
  return {
    ...spec,
    rules: spec.rules.map((rule) =>
      rule
        ? {
            ...rule,
            from: rule.from?.map((f) =>
              f?.source
                ? {
                    ...f,
                    source: {
                      ...f.source,
                      principals: m(f.source.principals),
                      notPrincipals: m(f.source.notPrincipals)
                    }
                  }
                : f
            ),
            when: rule.when?.map((c) =>
              c?.key === 'source.principal' ? { ...c, values: m(c.values), notValues: m(c.notValues) } : c
            )
          }
        : rule
    )
  };
}

/**
 * The policies that select this workload (own namespace by selector, or root namespace mesh-wide), their
 * principals migrated to the mesh's trust domains (`[trustDomain, ...trustDomainAliases]`).
 */
export function policiesFor(
  resources: IstioResource[],
  w: WorkloadInfo,
  trustDomains: string[] = [CLUSTER_LOCAL]
): ApplicablePolicy[] {
  const out: ApplicablePolicy[] = [];
  const aps = (
    resources.filter((r) => r.kind === 'AuthorizationPolicy') as IstioResource<AuthorizationPolicySpec>[]
  ).sort((a, b) => a.order - b.order);
  for (const r of aps) {
    const spec = r.spec ?? {};
    const inScope = r.namespace === w.namespace || r.namespace === ROOT_NAMESPACE;
    if (!inScope) continue;
    // a policy with targetRefs attaches to a waypoint or a Gateway; istiod never gives it to a sidecar
    // (WorkloadPolicyMatcher.ShouldAttachPolicy: "if targetRef is specified, ignore the policy altogether")
    if ((spec.targetRefs ?? []).length > 0 || spec.targetRef) continue;
    if (!labelsMatch(spec.selector?.matchLabels, w.labels)) continue;
    out.push({
      name: `${r.namespace}/${r.name}`,
      namespace: r.namespace,
      action: spec.action ?? 'ALLOW',
      dryRun: r.annotations['istio.io/dry-run'] === 'true',
      spec: migrateSpec(spec, trustDomains)
    });
  }
  return out;
}

/**
 * Which of Istio's inbound authorization filters to run: `custom` (the CUSTOM policies, whose filters come before
 * jwt_authn in the chain, so they see no token), `rbac` (AUDIT, DENY, ALLOW, after jwt_authn), or `all` in order.
 */
export type AuthzPhase = 'custom' | 'rbac' | 'all';

export function authorize(policies: ApplicablePolicy[], r: AuthzRequest, phase: AuthzPhase = 'all'): AuthzDecision {
  const notes: string[] = [];
  const inPhase = (p: ApplicablePolicy) => phase === 'all' || (p.action === 'CUSTOM') === (phase === 'custom');
  const enforced = policies.filter((p) => !p.dryRun && inPhase(p));
  for (const p of policies.filter((x) => x.dryRun && inPhase(x)))
    notes.push(
      `dry-run ${p.action} policy ${p.name} ${policyMatches(p, r) ? 'matched' : 'did not match'} (not enforced)`
    );
  for (const p of enforced)
    if (p.action === 'AUDIT' && policyMatches(p, r)) notes.push(`AUDIT policy ${p.name} matched`);
  // CUSTOM first. localmesh has no meshConfig extensionProviders, so every provider is unknown, and istiod, failing
  // to build the ext_authz filter, turns the policy's rules into a deny (builder.go: "will generate deny configs")
  const custom = denyingPolicy(enforced, 'CUSTOM', r);
  if (custom)
    return {
      allowed: false,
      reason: `CUSTOM policy ${custom.policy.name} matched (provider ${custom.policy.spec.provider?.name ?? '?'} is not defined: denied, as istiod does)`,
      policy: custom.policy.name,
      envoyPolicy: custom.envoyPolicy,
      notes
    };
  if (phase === 'custom') return { allowed: true, reason: 'no CUSTOM policy matched', policy: null, notes };
  const deny = denyingPolicy(enforced, 'DENY', r);
  if (deny)
    return {
      allowed: false,
      reason: `DENY policy ${deny.policy.name} matched`,
      policy: deny.policy.name,
      envoyPolicy: deny.envoyPolicy,
      notes
    };
  const allows = enforced.filter((p) => p.action === 'ALLOW');
  if (allows.length === 0)
    return { allowed: true, reason: 'no ALLOW policy selects this workload', policy: null, notes };
  const allow = allows.find((p) => policyMatches(p, r));
  if (allow) return { allowed: true, reason: `ALLOW policy ${allow.name} matched`, policy: allow.name, notes };
  return {
    allowed: false,
    reason: `no ALLOW policy matched (${allows.map((p) => p.name).join(', ')})`,
    policy: null,
    notes
  };
}
