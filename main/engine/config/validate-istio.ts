/**
 * Semantic checks of loaded Istio resources against each other and against the mesh file
 * (istio-semantics §1.1-§1.3, §1.6). Schema shape is checked at load (load-istio.ts); this file checks what Istio's
 * validation webhook and `istioctl analyze` would report, with the same codes where Istio has one.
 *
 * Codes IST0001-IST0100 are reserved by Istio for internal use; localmesh uses IST0010-IST0029 from that range for
 * its own notes (file problems, skipped kinds, gateway-only rules, delegation). Every code is in ISTIO_ISSUE_CODES.
 */
import { EVALUATED_COMMANDS, parseFormat } from '../sidecar/header-format.js';
import { isIP } from 'node:net';
import nodePath from 'node:path';
import { RE2JS } from 're2js';
import type { Severity, ValidationIssue } from '../../contract/api.js';
import type { SourcePos } from '../../contract/errors.js';
import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  CorsPolicy,
  Headers,
  Destination,
  DestinationRuleSpec,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRetry,
  HTTPRoute,
  IstioResource,
  LoadBalancerSettings,
  OutlierDetection,
  ServiceEntrySpec,
  SidecarSpec,
  StringMatch,
  TrafficPolicy,
  VirtualServiceSpec
} from '../../contract/istio-schema.js';
import type { MeshFile } from '../../contract/mesh-schema.js';
import { parseDuration } from '../util/duration.js';
import { hostMatches, parseServiceFqdn, qualifyHost } from './hosts.js';
import { formatPath, makeIssue, suggest, type PathSegment } from './yaml-source.js';
import { compatFor, FIELD_SINCE, type Compat } from './compat.js';
import { selectorProblems } from './validate-security.js';
import { ingressUses, ISTIO_PROTOCOLS, listenerProtocol, splitEndpoint, type IngressUse } from './sidecar-ingress.js';
import { buildRegistry } from '../registry.js';

/** Issue codes for Istio files, by meaning. */
export const IstioCodes = {
  // Istio analyzer codes (istio.io/latest/docs/reference/config/analysis)
  DEPRECATED: 'IST0002',
  REFERENCE_NOT_FOUND: 'IST0101',
  SCHEMA: 'IST0106',
  CONFLICTING_MESH_VS_HOSTS: 'IST0109',
  PORT_SELECTOR_REQUIRED: 'IST0112',
  INVALID_REGEX: 'IST0122',
  UNREACHABLE_RULE: 'IST0130',
  INEFFECTIVE_MATCH: 'IST0131',
  SUBSET_SELECTS_NO_WORKLOAD: 'IST0173',
  UNKNOWN_DR_HOST: 'IST0174',
  // localmesh notes (Istio's reserved internal range)
  YAML_SYNTAX: 'IST0010',
  FILE_UNREADABLE: 'IST0011',
  NOT_ISTIO: 'IST0012',
  UNSUPPORTED_KIND: 'IST0013',
  NOT_A_RESOURCE: 'IST0014',
  DUPLICATE_RESOURCE: 'IST0015',
  GATEWAY_ONLY: 'IST0020',
  INVALID_DELEGATE: 'IST0021',
  NOT_ENFORCED: 'IST0025',
  NEWER_THAN_COMPAT: 'IST0026'
} as const;
export type IstioCode = (typeof IstioCodes)[keyof typeof IstioCodes];

/** Every code an Istio file can produce → short title (the README lists these). */
export const ISTIO_ISSUE_CODES: Record<IstioCode, string> = {
  IST0002: 'Deprecated field that is ignored (e.g. outlierDetection.consecutiveErrors) (warning)',
  IST0101:
    'Referenced host, port, subset or delegate not found (error; warning for gateway-only VirtualServices and for a Sidecar ingress port no instance it applies to takes)',
  IST0106:
    "Schema validation error: the resource is invalid, as Istio's validation webhook (or kubectl, for an unknown kind, an unserved apiVersion or an unknown metadata field) would reject it (error)",
  IST0109: 'Several VirtualServices claim the same host for sidecars; only the first applies (warning)',
  IST0112: 'Destination needs a port: the service exposes several ports (error)',
  IST0122: 'Regular expression is not valid RE2 (error)',
  IST0130: 'VirtualService rule is never used: an earlier rule matches every request it would (warning)',
  IST0131: 'VirtualService match repeats a match of an earlier rule and never applies (info)',
  IST0173: 'DestinationRule subset selects no workload of its service (warning)',
  IST0174: 'DestinationRule host matches no service in the mesh (warning)',
  IST0010: 'YAML syntax error in an Istio file (error)',
  IST0011: 'Istio file or folder not found or unreadable (error)',
  IST0012: 'Not an Istio resource (Deployment, Service, …): skipped (info)',
  IST0013: 'Istio kind localmesh does not implement (Telemetry, EnvoyFilter, ...): ignored (warning)',
  IST0014:
    'Document is not a Kubernetes resource (no apiVersion/kind): ignored (warning; a note for a .json data file)',
  IST0015:
    'Same kind, namespace and name defined twice: the later copy replaces the earlier, as kubectl apply does (warning)',
  IST0020: 'VirtualService applies only to gateways, not to sidecars: no effect in localmesh (info)',
  IST0021: 'Invalid delegation: delegate has hosts or delegates again (error)',
  IST0025:
    'Field localmesh keeps but does not enforce yet: DestinationRule connectionPool / outlierDetection knobs (e.g. h2UpgradePolicy, tcpKeepalive), Sidecar ingress tls or a unix socket defaultEndpoint (warning)',
  IST0026:
    "Field added after the mesh's spec.compatibilityVersion: that release's istiod rejects it; localmesh applies it (warning)"
};

type PosOf = (r: IstioResource, path: (string | number)[]) => SourcePos;
type Path = PathSegment[];

/** Envoy retryOn conditions Istio accepts (istio-semantics §1.2, Retries). */
const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'refused-stream',
  'retriable-4xx',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable'
]);
const RETRY_ON_LIST = [...RETRY_ON];

const GRPC_STATUSES = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED'
]);

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);
const MAX_DIRECT_RESPONSE_BYTES = 1024 * 1024;
const MAX_REGEX_LENGTH = 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const WHITESPACE = /\s+/g;
const DIGITS = /^\d+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL_LENGTH = 63;
const FQDN = /^(?=.{1,253}\.?$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?$/i;
const UNIX_ADDRESS = 'unix://';
const STRING_MATCH_KINDS = ['exact', 'prefix', 'regex'] as const;

/** Port protocols Istio knows (protocol.Parse, case-insensitive); "" means sniffing. */
const PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'HTTP2',
  'GRPC',
  'GRPC-Web',
  'TCP',
  'TLS',
  'UDP',
  'Mongo',
  'Redis',
  'MySQL',
  'HTTP_PROXY'
];
const PROTOCOL_NAMES = new Set(PROTOCOLS.map((p) => p.toLowerCase()));

type VS = IstioResource<VirtualServiceSpec>;
type DR = IstioResource<DestinationRuleSpec>;

export function validateIstio(
  resources: IstioResource[],
  mesh: MeshFile,
  posOf: PosOf,
  opts: { unreadableServices?: Iterable<string> } = {}
): ValidationIssue[] {
  const ctx = new Ctx(resources, mesh, posOf, new Set(opts.unreadableServices ?? []));
  for (const vs of ctx.virtualServices) checkVirtualService(ctx, vs);
  checkMeshHostConflicts(ctx);
  for (const dr of ctx.destinationRules) checkDestinationRule(ctx, dr);
  for (const r of resources) {
    if (r.kind === 'ServiceEntry') checkServiceEntry(ctx, r as IstioResource<ServiceEntrySpec>);
    else if (r.kind === 'Sidecar') checkSidecar(ctx, r as IstioResource<SidecarSpec>);
    else if (r.kind === 'Gateway') checkGateway(ctx, r);
  }
  for (const r of resources) checkExportTo(ctx, r);
  return ctx.sortedIssues();
}

/**
 * Istio's ValidateGateway and validateServer, as far as they read what localmesh keeps of a Gateway (it runs no
 * gateway: the resource is kept as data, and the webhook's verdict tells whether the file would apply at all).
 */
function checkGateway(ctx: Ctx, gw: IstioResource): void {
  const spec = (gw.spec ?? {}) as {
    servers?: { port?: { protocol?: unknown }; hosts?: unknown[]; tls?: unknown }[];
  };
  const servers = Array.isArray(spec.servers) ? spec.servers : [];
  if (servers.length === 0) ctx.error(gw, ['spec', 'servers'], 'gateway must have at least one server');
  servers.forEach((server, i) => {
    const p: Path = ['spec', 'servers', i];
    if (!Array.isArray(server?.hosts) || server.hosts.length === 0)
      ctx.error(gw, p, 'server config must contain at least one host');
    if (!server?.port) {
      ctx.error(gw, p, 'port is required');
      return;
    }
    const protocol = String(server.port.protocol ?? '').toUpperCase();
    if ((protocol === 'HTTPS' || protocol === 'TLS') && server.tls == null)
      ctx.error(gw, [...p, 'port', 'protocol'], 'server must have TLS settings for HTTPS/TLS protocols');
  });
}

// ---------------------------------------------------------------------------------------------------------------
// context: registry of services, DR subsets, issue collection
// ---------------------------------------------------------------------------------------------------------------

interface ServiceInfo {
  fqdn: string;
  ports: number[];
  /** Labels of each workload/endpoint; undefined when unknown (a ServiceEntry without endpoints). */
  workloads: Record<string, string>[] | undefined;
}

function label(r: IstioResource): string {
  return `${r.kind} ${r.namespace}/${r.name}`;
}

function byOrder(a: IstioResource, b: IstioResource): number {
  return a.order - b.order;
}

class Ctx {
  readonly issues: ValidationIssue[] = [];
  readonly virtualServices: VS[];
  readonly destinationRules: DR[];
  private readonly services = new Map<string, ServiceInfo>();
  private readonly wildcardServices: ServiceInfo[] = [];
  /** The namespace of the ServiceEntry that declared a host first. */
  private readonly entryNamespace = new Map<ServiceInfo, string>();
  private readonly subsetCache = new Map<string, Set<string>>();
  private readonly vsByKey = new Map<string, VS>();
  readonly delegateTargets = new Set<VS>();
  /** The Istio release the mesh follows (spec.compatibilityVersion). */
  readonly compat: Compat;
  private ingress?: IngressUse[];

  constructor(
    private readonly resources: IstioResource[],
    private readonly mesh: MeshFile,
    private readonly posOf: PosOf,
    /** Services a mesh file with errors names but could not keep (LoadMeshFileResult.unreadableServices). */
    readonly unreadable: ReadonlySet<string> = new Set()
  ) {
    this.compat = compatFor(mesh.spec.compatibilityVersion);
    const sorted = [...resources].sort(byOrder);
    this.virtualServices = sorted.filter((r) => r.kind === 'VirtualService') as VS[];
    this.destinationRules = sorted.filter((r) => r.kind === 'DestinationRule') as DR[];
    this.addMeshServices(mesh);
    for (const r of sorted) if (r.kind === 'ServiceEntry') this.addServiceEntry(r as IstioResource<ServiceEntrySpec>);
    for (const vs of this.virtualServices) this.vsByKey.set(`${vs.namespace}/${vs.name}`, vs);
    for (const vs of this.virtualServices) {
      for (const rule of vs.spec.http ?? []) {
        const target =
          rule.delegate && this.findVirtualService(rule.delegate.namespace ?? vs.namespace, rule.delegate.name);
        if (target) this.delegateTargets.add(target);
      }
    }
  }

  private addMeshServices(mesh: MeshFile): void {
    for (const svc of mesh.spec.services) {
      const ns = svc.namespace ?? mesh.spec.namespace;
      const fqdn = `${svc.name}.${ns}.svc.cluster.local`;
      if (!this.services.has(fqdn)) {
        this.services.set(fqdn, { fqdn, ports: [svc.port], workloads: svc.workloads.map((w) => w.labels) });
      }
    }
  }

  private addServiceEntry(se: IstioResource<ServiceEntrySpec>): void {
    const spec = se.spec;
    const endpoints = spec.endpoints ?? [];
    const workloads =
      spec.workloadSelector || endpoints.length === 0 ? undefined : endpoints.map((e) => e.labels ?? {});
    const ports = (spec.ports ?? []).map((p) => p.number);
    for (const host of spec.hosts) {
      const fqdn = host.toLowerCase();
      const info: ServiceInfo = { fqdn, ports, workloads };
      const earlier = this.services.get(fqdn);
      if (fqdn.startsWith('*')) this.wildcardServices.push(info);
      else if (!earlier) this.services.set(fqdn, info);
      // a later entry for the host in the same namespace adds its ports (the registry merges such entries)
      else if (this.entryNamespace.get(earlier) === se.namespace)
        earlier.ports = [...earlier.ports, ...ports.filter((p) => !earlier.ports.includes(p))];
      if (!earlier) this.entryNamespace.set(info, se.namespace);
    }
  }

  lookupService(fqdn: string): ServiceInfo | undefined {
    return this.services.get(fqdn) ?? this.wildcardServices.find((s) => hostMatches(s.fqdn, fqdn));
  }

  /**
   * The known service host closest to `host` as written in namespace `ns` (a likely typo), in the form it was
   * written: a short name for a service of `ns`, else the FQDN or ServiceEntry host. undefined when none is close.
   */
  similarHost(host: string, ns: string): string | undefined {
    const written = host.toLowerCase();
    const candidates: string[] = [];
    for (const fqdn of this.services.keys()) {
      candidates.push(fqdn);
      const svc = parseServiceFqdn(fqdn);
      if (svc && svc.namespace === ns && !written.includes('.')) candidates.push(svc.name);
    }
    const hint = suggest(written, candidates);
    return hint === written ? undefined : hint;
  }

  /** For a wildcard DR host: does it cover any known service? */
  anyServiceMatching(pattern: string): boolean {
    for (const fqdn of this.services.keys()) if (hostMatches(pattern, fqdn)) return true;
    return this.wildcardServices.some((s) => s.fqdn === pattern || hostMatches(pattern, s.fqdn.slice(2)));
  }

  /** Subset names defined for `fqdn` across all DestinationRules (a DR host is qualified in the DR's namespace). */
  subsetsFor(fqdn: string): Set<string> {
    let names = this.subsetCache.get(fqdn);
    if (!names) {
      names = new Set();
      for (const dr of this.destinationRules) {
        if (!hostMatches(qualifyHost(dr.spec.host, dr.namespace), fqdn)) continue;
        for (const s of dr.spec.subsets ?? []) names.add(s.name);
      }
      this.subsetCache.set(fqdn, names);
    }
    return names;
  }

  hasDestinationRuleFor(fqdn: string): boolean {
    return this.destinationRules.some((dr) => hostMatches(qualifyHost(dr.spec.host, dr.namespace), fqdn));
  }

  /**
   * The instances Sidecar ingress listeners configure, with the listener each takes, as the sidecars enforce them
   * (sidecar-ingress.ts). The registry is the mesh file's alone: ServiceEntries add no workload or mesh service port.
   */
  ingressUses(): IngressUse[] {
    return (this.ingress ??= ingressUses(this.resources, buildRegistry(this.mesh, [])));
  }

  findVirtualService(ns: string, name: string): VS | undefined {
    return this.vsByKey.get(`${ns}/${name}`);
  }

  where(r: IstioResource, path: Path): SourcePos {
    return this.posOf(r, path);
  }

  report(r: IstioResource, severity: Severity, code: IstioCode, path: Path, message: string): void {
    this.issues.push(makeIssue(severity, code, message, path, this.posOf(r, path), label(r)));
  }

  error(r: IstioResource, path: Path, message: string): void {
    this.report(r, 'error', IstioCodes.SCHEMA, path, message);
  }

  sortedIssues(): ValidationIssue[] {
    return this.issues
      .map((issue, i) => ({ issue, i }))
      .sort((a, b) => {
        const x = a.issue.where;
        const y = b.issue.where;
        if (x.file !== y.file) return x.file < y.file ? -1 : 1;
        return x.line - y.line || x.column - y.column || a.i - b.i;
      })
      .map((e) => e.issue);
  }
}

/**
 * Where a field of another resource `r` is, for the message of an issue about `about`: its file relative to the
 * folder of `about`'s file (cwd-independent, as the issue's own place is printed relative), line and column.
 */
function at(r: IstioResource, ctx: Ctx, fieldPath: Path, about: IstioResource): string {
  const p = ctx.where(r, fieldPath);
  const file = nodePath.relative(nodePath.dirname(about.where.file), p.file) || nodePath.basename(p.file);
  return `${file}:${p.line}:${p.column}`;
}

// ---------------------------------------------------------------------------------------------------------------
// VirtualService
// ---------------------------------------------------------------------------------------------------------------

/** Does some rule of the VS apply to sidecars: by the top-level gateways, or by a match's own (which override them)? */
function appliesToMesh(vs: VS): boolean {
  const top = vs.spec.gateways;
  if (!top || top.length === 0 || top.includes('mesh')) return true;
  return (vs.spec.http ?? []).some((r) => (r.match ?? []).some((m) => m.gateways?.includes('mesh')));
}

function ruleName(rule: HTTPRoute, i: number): string {
  return rule.name ? `"${rule.name}" (spec.http[${i}])` : `spec.http[${i}]`;
}

function checkVirtualService(ctx: Ctx, vs: VS): void {
  checkGateways(ctx, vs);
  checkWildcardMeshHosts(ctx, vs);
  const isDelegate = ctx.delegateTargets.has(vs);
  (vs.spec.http ?? []).forEach((rule, i) => checkHttpRule(ctx, vs, rule, ['spec', 'http', i], isDelegate));
  checkUnreachableRules(ctx, vs);
  for (const kind of ['tcp', 'tls'] as const)
    (vs.spec[kind] ?? []).forEach((rule, i) =>
      rule.route?.forEach((rd, k) =>
        checkDestination(ctx, vs, rd.destination, ['spec', kind, i, 'route', k, 'destination'])
      )
    );
  checkSniHosts(ctx, vs);
}

/**
 * Istio's validateSniHost: a tls route's SNI name must be one of the VirtualService's hosts or within one of its
 * wildcards (host.Name.SubsetOf, on the names as written: the webhook does not qualify short names).
 */
function checkSniHosts(ctx: Ctx, vs: VS): void {
  const hosts = vs.spec.hosts ?? [];
  if (hosts.length === 0) return; // a delegate: its hosts come from the VirtualService that delegates to it
  (vs.spec.tls ?? []).forEach((rule, i) =>
    (rule.match ?? []).forEach((m, j) =>
      (m.sniHosts ?? []).forEach((sni, k) => {
        if (wildcardDomainProblem(sni) !== undefined) return; // that check reports it
        if (hosts.some((h) => hostSubsetOf(sni, h))) return;
        ctx.error(
          vs,
          ['spec', 'tls', i, 'match', j, 'sniHosts', k],
          `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`
        );
      })
    )
  );
}

/** Istio's host.Name.SubsetOf: equal (case-insensitively), or within a `*` / `*.suffix` wildcard. */
function hostSubsetOf(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (y === '*') return true;
  if (y.startsWith('*')) {
    const suffix = y.slice(1);
    return x.startsWith('*') ? x.slice(1).endsWith(suffix) : x.endsWith(suffix);
  }
  return !x.startsWith('*') && x === y;
}

function checkGateways(ctx: Ctx, vs: VS): void {
  if (appliesToMesh(vs)) return;
  const list = vs.spec.gateways!.join(', ');
  const msg = `applies only to gateway(s) ${list}: localmesh runs sidecars, not gateways, so this VirtualService has no effect here; add "mesh" to gateways to apply it to sidecars too`;
  ctx.report(vs, 'info', IstioCodes.GATEWAY_ONLY, ['spec', 'gateways'], msg);
}

/** Istio's DNS-1123 label (letters of either case, as its labels package), and a first label that may start with "*". */
const ISTIO_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const ISTIO_WILDCARD_LABEL = /^(\*|(\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;

/**
 * Why Istio's ValidateWildcardDomain rejects a host, or undefined: "*" only in the first label, DNS-1123 labels of at
 * most 63 characters, no all-numeric top-level label, a trailing dot allowed.
 */
function wildcardDomainProblem(host: string): string | undefined {
  if (host.length === 0) return 'empty domain name not allowed';
  if (host.length > 255) return `domain name "${host}" too long (max 255)`;
  const [first, rest] = [host.split('.', 1)[0]!, host.includes('.') ? host.slice(host.indexOf('.') + 1) : undefined];
  const bad = (label: string) => `domain name "${host}" invalid (label "${label}" invalid)`;
  if (first.length > MAX_LABEL_LENGTH || !ISTIO_WILDCARD_LABEL.test(first)) return bad(first);
  if (rest === undefined) return undefined;
  const parts = rest.split('.');
  const tld = parts[parts.length - 1]!;
  if (DIGITS.test(tld)) return `domain name "${host}" invalid (top level domain "${tld}" cannot be all-numeric)`;
  for (let i = 0; i < parts.length; i++) {
    const label = parts[i]!;
    if (i === parts.length - 1 && label === '') break;
    if (label.length > MAX_LABEL_LENGTH || !ISTIO_LABEL.test(label)) return bad(label);
  }
  return undefined;
}

function checkWildcardMeshHosts(ctx: Ctx, vs: VS): void {
  if (!appliesToMesh(vs)) return;
  (vs.spec.hosts ?? []).forEach((h, k) => {
    const problem = isIP(h) ? undefined : wildcardDomainProblem(h);
    if (problem)
      ctx.error(vs, ['spec', 'hosts', k], `${problem}; a host is a service name or FQDN, "*." only in front`);
    else if (h === '*')
      ctx.error(
        vs,
        ['spec', 'hosts', k],
        'host "*" is not allowed for a VirtualService that applies to sidecars (mesh); name the service host'
      );
  });
}

/** IST0109: for sidecars one VirtualService per host wins (the oldest); later ones are ignored for that host. */
function checkMeshHostConflicts(ctx: Ctx): void {
  const owner = new Map<string, { vs: VS; index: number }>();
  for (const vs of ctx.virtualServices) {
    if (!appliesToMesh(vs)) continue;
    (vs.spec.hosts ?? []).forEach((host, k) => {
      const fqdn = qualifyHost(host, vs.namespace);
      const first = owner.get(fqdn);
      if (!first) {
        owner.set(fqdn, { vs, index: k });
        return;
      }
      const path = ['spec', 'hosts', k];
      if (first.vs === vs) {
        ctx.error(vs, path, `host "${host}" is listed twice (also spec.hosts[${first.index}]); remove the duplicate`);
        return;
      }
      const msg = `host "${host}" (${fqdn}) is also claimed by VirtualService ${first.vs.namespace}/${first.vs.name} at ${at(first.vs, ctx, ['spec', 'hosts', first.index], vs)}, which was loaded first; for sidecars only the first VirtualService for a host applies, so this one is ignored for that host. Merge them into one VirtualService`;
      ctx.report(vs, 'warning', IstioCodes.CONFLICTING_MESH_VS_HOSTS, path, msg);
    });
  }
}

function checkHttpRule(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path, isDelegate: boolean): void {
  checkActions(ctx, vs, rule, p, isDelegate);
  checkFieldVersions(ctx, vs, rule, p);
  checkRewrite(ctx, vs, rule, p);
  checkAuthorityRewrite(ctx, vs, rule, p);
  checkMirrors(ctx, vs, rule, p);
  (rule.match ?? []).forEach((m, j) => checkMatch(ctx, vs, m, [...p, 'match', j]));
  checkDestinations(ctx, vs, rule, p);
  if (rule.fault) checkFault(ctx, vs, rule.fault, [...p, 'fault']);
  checkRedirect(ctx, vs, rule, p);
  checkDirectResponse(ctx, vs, rule, p);
  if (rule.retries) checkRetries(ctx, vs, rule.retries, [...p, 'retries']);
  if (rule.timeout !== undefined) checkDuration(ctx, vs, rule.timeout, [...p, 'timeout'], 'timeout');
  if (rule.corsPolicy) checkCors(ctx, vs, rule.corsPolicy, [...p, 'corsPolicy']);
  checkHeaderOps(ctx, vs, rule.headers, [...p, 'headers']);
  rule.route?.forEach((rd, k) => checkHeaderOps(ctx, vs, rd.headers, [...p, 'route', k, 'headers']));
  rule.corsPolicy?.allowOrigins?.forEach((o, k) =>
    checkStringMatch(ctx, vs, o, [...p, 'corsPolicy', 'allowOrigins', k], {
      allowEmpty: false,
      allowEmptyPrefix: false,
      allowStar: false
    })
  );
  if (rule.delegate) checkDelegate(ctx, vs, rule, p, isDelegate);
}

/** RFC 7230 token characters: Istio's validHeaderNameRegex. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;
/** The pseudo-headers a header match may name (Istio's ValidateHTTPHeaderNameOrJwtClaimRoute). */
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);
const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', '*']);

/** Istio's validateCORSPolicy: methods it knows, header names (or "*"), a maxAge in whole seconds. */
function checkCors(ctx: Ctx, vs: VS, cors: CorsPolicy, p: Path): void {
  cors.allowMethods?.forEach((m, k) => {
    if (!CORS_METHODS.has(m)) {
      const hint = suggest(m, [...CORS_METHODS]);
      ctx.error(
        vs,
        [...p, 'allowMethods', k],
        `"${m}" is not a supported HTTP method${hint ? ` (did you mean "${hint}"?)` : ''}`
      );
    }
  });
  for (const field of ['allowHeaders', 'exposeHeaders'] as const)
    cors[field]?.forEach((h, k) => {
      if (h !== '*' && !HEADER_NAME.test(h))
        ctx.error(
          vs,
          [...p, field, k],
          h === '' ? 'header name cannot be empty' : `header name "${h}" is not a valid header name`
        );
    });
  if (cors.maxAge !== undefined) {
    const ms = parseDuration(cors.maxAge);
    if (!Number.isNaN(ms) && ms % 1000 !== 0)
      ctx.error(
        vs,
        [...p, 'maxAge'],
        `max_age duration is accurate only to seconds precision, found "${cors.maxAge}"; use whole seconds`
      );
  }
}

/**
 * Istio's header operation names: not empty, no ":" pseudo-header; Host/:authority only in request set/add (the
 * authority rewrite).
 */
function checkHeaderOps(ctx: Ctx, vs: VS, headers: Headers | undefined, p: Path): void {
  for (const dir of ['request', 'response'] as const) {
    const ops = headers?.[dir];
    if (!ops) continue;
    const check = (name: string, path: Path, authorityOk: boolean) => {
      let problem: string | undefined;
      if (name === '') problem = 'header name cannot be empty';
      else if (authorityOk && isAuthorityHeader(name)) problem = undefined;
      else if (name.toLowerCase() === 'host')
        problem = `invalid header "${name}": cannot set Host header here (only request set/add rewrite the authority)`;
      else if (name.startsWith(':')) problem = `invalid header "${name}": header cannot have ":" prefix`;
      if (problem) ctx.error(vs, path, problem);
    };
    for (const op of ['set', 'add'] as const)
      for (const [name, value] of Object.entries(ops[op] ?? {})) {
        check(name, [...p, dir, op, name], dir === 'request');
        checkHeaderValue(ctx, vs, value, [...p, dir, op, name], dir === 'request' && isAuthorityHeader(name));
      }
    ops.remove?.forEach((name, k) => check(name, [...p, dir, 'remove', k], false));
  }
}

/**
 * A header op's value is an Envoy format string (sidecar/header-format.ts): Istio's ValidateHTTPHeaderValue rejects
 * an odd number of `%`; a command localmesh does not evaluate is empty here (a warning). The authority (`literal`) is
 * the route's host_rewrite_literal, sent as written.
 */
function checkHeaderValue(ctx: Ctx, vs: VS, value: unknown, p: Path, literal: boolean): void {
  if (typeof value !== 'string' || value.indexOf('%') < 0) return;
  if ((value.match(/%/g) ?? []).length % 2 !== 0) {
    ctx.error(vs, p, 'single % not allowed.  Escape by doubling to %% or encase Envoy variable name in pair of %');
    return;
  }
  if (literal) return;
  const pieces = parseFormat(value);
  if (!Array.isArray(pieces)) {
    ctx.error(vs, p, `not an Envoy format string: ${pieces.error}`);
    return;
  }
  const others = pieces.filter((x) => x.command !== undefined && !EVALUATED_COMMANDS.has(x.command));
  if (others.length > 0)
    ctx.report(
      vs,
      'warning',
      IstioCodes.NOT_ENFORCED,
      p,
      `${others.map((x) => `%${x.command}%`).join(', ')} in a header value: localmesh gives it an empty value (it evaluates ${[...EVALUATED_COMMANDS].map((c) => `%${c}%`).join(', ')})`
    );
}

type Action = 'route' | 'redirect' | 'directResponse' | 'delegate';

function actionsOf(rule: HTTPRoute): Action[] {
  const actions: Action[] = [];
  if (rule.route && rule.route.length > 0) actions.push('route');
  if (rule.redirect) actions.push('redirect');
  if (rule.directResponse) actions.push('directResponse');
  if (rule.delegate) actions.push('delegate');
  return actions;
}

function checkActions(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path, isDelegate: boolean): void {
  const actions = actionsOf(rule);
  if (actions.length === 0) {
    ctx.error(vs, p, 'rule has no action: add a route (destinations), a redirect, a directResponse or a delegate');
  } else if (actions.length > 1) {
    const msg = `rule has both ${actions[0]} and ${actions[1]}; a rule takes exactly one of route, redirect, directResponse or delegate: split it into separate rules`;
    ctx.error(vs, [...p, actions[1]!], msg);
  }
  const local = rule.redirect ? 'redirect' : rule.directResponse ? 'directResponse' : undefined;
  if (local) {
    const why = `${local} answers locally and forwards nothing`;
    if (rule.rewrite)
      ctx.error(vs, [...p, 'rewrite'], `rewrite cannot be combined with ${local} (${why}); remove rewrite`);
    if (rule.fault)
      ctx.error(
        vs,
        [...p, 'fault'],
        `fault cannot be combined with ${local} (${why}); move the fault to a rule with a route`
      );
  }
  if (isDelegate && rule.delegate) {
    const msg =
      'delegation is only one level deep: this VirtualService is itself a delegate, so its rules cannot delegate again; use route instead';
    ctx.report(vs, 'error', IstioCodes.INVALID_DELEGATE, [...p, 'delegate'], msg);
  }
}

function checkRewrite(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path): void {
  const rw = rule.rewrite;
  if (!rw) return;
  const rp = [...p, 'rewrite'];
  if (rw.uri !== undefined && rw.uriRegexRewrite) {
    ctx.error(vs, [...rp, 'uriRegexRewrite'], 'rewrite takes only one of uri and uriRegexRewrite; remove one of them');
  }
  if (!rw.uri && !rw.uriRegexRewrite && !rw.authority) {
    ctx.error(vs, rp, 'rewrite must set uri, uriRegexRewrite or authority');
  }
  const rr = rw.uriRegexRewrite;
  if (rr) {
    if (!rr.match || !rr.rewrite)
      ctx.error(vs, [...rp, 'uriRegexRewrite'], 'uriRegexRewrite needs both match and rewrite');
    if (rr.match) checkRegex(ctx, vs, rr.match, [...rp, 'uriRegexRewrite', 'match']);
  }
}

function isAuthorityHeader(name: string): boolean {
  const n = name.toLowerCase();
  return n === 'host' || n === ':authority';
}

/** The authority may be rewritten in one place only: rewrite.authority or one host/:authority request header op. */
function checkAuthorityRewrite(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path): void {
  const writes: Path[] = [];
  if (rule.rewrite?.authority) writes.push([...p, 'rewrite', 'authority']);
  for (const op of ['set', 'add'] as const) {
    for (const name of Object.keys(rule.headers?.request?.[op] ?? {})) {
      if (isAuthorityHeader(name)) writes.push([...p, 'headers', 'request', op, name]);
    }
  }
  if (writes.length < 2) return;
  const msg = `the authority (Host) is rewritten more than once (also at ${formatPath(writes[0]!)}); keep only one of rewrite.authority and a host/:authority header op`;
  ctx.error(vs, writes[1]!, msg);
}

function checkMirrors(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path): void {
  if (rule.mirror && rule.mirrors && rule.mirrors.length > 0) {
    ctx.error(
      vs,
      [...p, 'mirrors'],
      'a rule takes only one of mirror and mirrors; move the mirror into the mirrors list'
    );
  }
  if (rule.mirrorPercentage) checkPercent(ctx, vs, rule.mirrorPercentage.value, [...p, 'mirrorPercentage', 'value']);
  if (rule.mirrorPercent !== undefined) checkPercent(ctx, vs, rule.mirrorPercent, [...p, 'mirrorPercent']);
  rule.mirrors?.forEach((m, k) => {
    if (m.percentage) checkPercent(ctx, vs, m.percentage.value, [...p, 'mirrors', k, 'percentage', 'value']);
  });
}

// ----- match ----------------------------------------------------------------------------------------------------

interface StringMatchRules {
  /** `{}` is allowed (header/query parameter present). */
  allowEmpty: boolean;
  /** prefix "" is allowed. Istio's webhook allows it nowhere ("prefix string match should not be empty"). */
  allowEmptyPrefix: boolean;
  /** regex "*" is allowed (headers, withoutHeaders: not RE2, translated to "present"). */
  allowStar: boolean;
}

const STRICT: StringMatchRules = { allowEmpty: false, allowEmptyPrefix: false, allowStar: false };
const URI: StringMatchRules = { allowEmpty: false, allowEmptyPrefix: false, allowStar: false };
const QUERY_PARAM: StringMatchRules = { allowEmpty: true, allowEmptyPrefix: false, allowStar: false };
const HEADER: StringMatchRules = { allowEmpty: true, allowEmptyPrefix: false, allowStar: true };

/** Kubernetes label keys (an optional DNS prefix and "/") and values (may be empty), as Istio's labels.Validate. */
const QUALIFIED_NAME = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const DNS_PREFIX = '[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)*/';
const LABEL_KEY = new RegExp(`^(?:${DNS_PREFIX})?${QUALIFIED_NAME}$`);
const LABEL_VALUE = new RegExp(`^(?:${QUALIFIED_NAME})?$`);

/** Istio's labels.Instance.Validate (subset labels, sourceLabels): Kubernetes label keys and values. */
function checkLabels(ctx: Ctx, r: IstioResource, labels: Record<string, string> | undefined, p: Path): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (!LABEL_KEY.test(k)) ctx.error(r, [...p, k], `invalid tag key: "${k}"`);
    if (!LABEL_VALUE.test(v))
      ctx.error(
        r,
        [...p, k],
        `invalid tag value: "${v}" (a label value: letters, digits, "-", "_", "."; no wildcards)`
      );
  }
}

function checkMatch(ctx: Ctx, vs: VS, m: HTTPMatchRequest, p: Path): void {
  if (m.port !== undefined && !(m.port >= 1 && m.port <= 65535))
    ctx.error(vs, [...p, 'port'], `port must be between 1 and 65535, found ${m.port}`);
  if (m.sourceNamespace !== undefined && !DNS_LABEL.test(m.sourceNamespace)) {
    ctx.error(vs, [...p, 'sourceNamespace'], `sourceNamespace "${m.sourceNamespace}" is not a namespace name`);
  }
  checkLabels(ctx, vs, m.sourceLabels, [...p, 'sourceLabels']);
  if (m.uri) checkStringMatch(ctx, vs, m.uri, [...p, 'uri'], URI);
  for (const field of ['scheme', 'method', 'authority'] as const) {
    const sm = m[field];
    if (sm) checkStringMatch(ctx, vs, sm, [...p, field], STRICT);
  }
  for (const field of ['headers', 'withoutHeaders'] as const)
    for (const name of Object.keys(m[field] ?? {}))
      if (
        !HEADER_NAME.test(name) &&
        !PSEUDO_HEADERS.has(name) &&
        !name.toLowerCase().startsWith('@request.auth.claims')
      )
        ctx.error(
          vs,
          [...p, field, name],
          name === '' ? 'header name cannot be empty' : `header name ${name} is not a valid header name`
        );
  for (const [name, sm] of Object.entries(m.headers ?? {}))
    checkStringMatch(ctx, vs, sm, [...p, 'headers', name], HEADER);
  for (const [name, sm] of Object.entries(m.queryParams ?? {}))
    checkStringMatch(ctx, vs, sm, [...p, 'queryParams', name], QUERY_PARAM);
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    checkStringMatch(ctx, vs, sm, [...p, 'withoutHeaders', name], HEADER);
  }
}

function checkStringMatch(ctx: Ctx, vs: IstioResource, sm: StringMatch, p: Path, rules: StringMatchRules): void {
  const kinds = STRING_MATCH_KINDS.filter((k) => sm[k] !== undefined);
  if (kinds.length === 0) {
    if (!rules.allowEmpty) ctx.error(vs, p, 'string match needs exactly one of exact, prefix or regex');
    return;
  }
  if (kinds.length > 1) {
    ctx.error(
      vs,
      [...p, kinds[1]!],
      `string match takes exactly one of exact, prefix or regex, found ${kinds.join(' and ')}`
    );
    return;
  }
  if (sm.prefix === '' && !rules.allowEmptyPrefix) {
    ctx.error(vs, [...p, 'prefix'], 'prefix must not be empty; remove the condition or write the prefix to match');
  }
  if (sm.regex === undefined || (rules.allowStar && sm.regex === '*')) return;
  if (sm.regex === '')
    ctx.error(vs, [...p, 'regex'], 'regex must not be empty; remove the condition or write the pattern to match');
  else checkRegex(ctx, vs, sm.regex, [...p, 'regex']);
}

/** Compile results by pattern: null = valid RE2, string = the syntax error. */
const regexVerdicts = new Map<string, string | null>();

function re2Error(pattern: string): string | null {
  let verdict = regexVerdicts.get(pattern);
  if (verdict === undefined) {
    try {
      RE2JS.compile(pattern);
      verdict = null;
    } catch (e) {
      verdict = (e as Error).message;
    }
    if (regexVerdicts.size > 10_000) regexVerdicts.clear();
    regexVerdicts.set(pattern, verdict);
  }
  return verdict;
}

function checkRegex(ctx: Ctx, r: IstioResource, pattern: string, p: Path): void {
  if (pattern.length > MAX_REGEX_LENGTH) {
    ctx.error(r, p, `regex is too long (${pattern.length} characters; Istio allows ${MAX_REGEX_LENGTH})`);
    return;
  }
  const err = re2Error(pattern);
  if (err !== null) {
    const msg = `regex ${JSON.stringify(pattern)} is not valid RE2 (${err}); Istio uses RE2 syntax: no lookahead/lookbehind or backreferences (https://github.com/google/re2/wiki/Syntax)`;
    ctx.report(r, 'error', IstioCodes.INVALID_REGEX, p, msg);
  }
}

// ----- destinations ---------------------------------------------------------------------------------------------

/** A field the mesh's compatibilityVersion predates (an istiod of that release rejects the resource). */
function checkFieldVersions(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path): void {
  const v = ctx.compat.version;
  if (v === null) return;
  for (const f of FIELD_SINCE) {
    if (ctx.compat.minor >= f.minor) continue;
    const [a, b] = f.path.split('.') as [string, string | undefined];
    const parent = (rule as Record<string, unknown>)[a];
    const present =
      b === undefined ? parent !== undefined : (parent as Record<string, unknown> | undefined)?.[b] !== undefined;
    if (!present) continue;
    const msg = `${f.what} is new in Istio 1.${f.minor}; the mesh follows Istio ${v} (spec.compatibilityVersion), whose istiod rejects this VirtualService. localmesh applies it anyway`;
    ctx.report(vs, 'warning', IstioCodes.NEWER_THAN_COMPAT, [...p, ...f.path.split('.')], msg);
  }
}

function checkDestinations(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path): void {
  const route = rule.route ?? [];
  route.forEach((rd, k) => checkDestination(ctx, vs, rd.destination, [...p, 'route', k, 'destination']));
  if (route.length > 1 && route.every((rd) => (rd.weight ?? 0) === 0)) {
    const msg = `all ${route.length} destinations have weight 0 (or no weight), so no request could be routed; give at least one destination a weight above 0`;
    ctx.error(vs, [...p, 'route'], msg);
  } else if (ctx.compat.weightsSumTo100 && route.length > 1) {
    const total = route.reduce((n, rd) => n + (rd.weight ?? 0), 0);
    if (total !== 100) {
      const msg = `total destination weight ${total} != 100: before Istio 1.15 the weights must add up to 100 (the mesh follows Istio ${ctx.compat.version}, spec.compatibilityVersion); since then they are relative`;
      ctx.error(vs, [...p, 'route'], msg);
    }
  }
  if (rule.mirror) checkDestination(ctx, vs, rule.mirror, [...p, 'mirror']);
  rule.mirrors?.forEach((m, k) => checkDestination(ctx, vs, m.destination, [...p, 'mirrors', k, 'destination']));
}

function unknownHostHint(fqdn: string): string {
  const svc = parseServiceFqdn(fqdn);
  return svc
    ? `add a service "${svc.name}" in namespace "${svc.namespace}" to localmesh.yaml, or declare the host in a ServiceEntry`
    : 'declare the host in a ServiceEntry, or add the service to localmesh.yaml';
}

function checkDestination(ctx: Ctx, vs: VS, dest: Destination, p: Path): void {
  const severity: Severity = appliesToMesh(vs) ? 'error' : 'warning';
  const fqdn = qualifyHost(dest.host, vs.namespace);
  if (dest.host === '*') {
    ctx.error(vs, [...p, 'host'], 'destination host "*" is not allowed; name the service to route to');
    return;
  }
  const validSubset =
    dest.subset === undefined || dest.subset === '' || checkSubsetName(ctx, vs, dest.subset, [...p, 'subset']);
  const svc = ctx.lookupService(fqdn);
  // a service the mesh file names but could not be read (its own error says why): not an unknown host
  if (!svc && ctx.unreadable.has(fqdn)) return;
  if (!svc) {
    const similar = ctx.similarHost(dest.host, vs.namespace);
    const msg = similar
      ? `destination host "${dest.host}" (${fqdn}) is not a service in the mesh; did you mean "${similar}"? If not, ${unknownHostHint(fqdn)}`
      : `destination host "${dest.host}" (${fqdn}) is not a service in the mesh: ${unknownHostHint(fqdn)}`;
    ctx.report(vs, severity, IstioCodes.REFERENCE_NOT_FOUND, [...p, 'host'], msg);
    return;
  }
  checkDestinationPort(ctx, vs, svc, dest, p, severity);
  if (dest.subset !== undefined && validSubset) checkSubsetReference(ctx, vs, fqdn, dest.subset, p, severity);
}

function isDnsLabel(name: string): boolean {
  return name.length <= MAX_LABEL_LENGTH && DNS_LABEL.test(name);
}

/** Istio's webhook: a subset name (in a DestinationRule or a destination) must be a DNS-1123 label. */
function checkSubsetName(ctx: Ctx, r: IstioResource, name: string, p: Path): boolean {
  if (isDnsLabel(name)) return true;
  const fixed = name
    .toLowerCase()
    .replace(/[^-a-z0-9]/g, '-')
    .replace(/^-+|-+$/g, '');
  const example = isDnsLabel(fixed) ? `, e.g. "${fixed}"` : '';
  ctx.error(
    r,
    p,
    `subset name "${name}" is invalid: it must be a DNS-1123 label (lower-case letters, digits and "-", starting and ending with a letter or digit, at most ${MAX_LABEL_LENGTH} characters)${example}`
  );
  return false;
}

function checkDestinationPort(
  ctx: Ctx,
  vs: VS,
  svc: ServiceInfo,
  dest: Destination,
  p: Path,
  severity: Severity
): void {
  const port = dest.port?.number;
  if (port === undefined) {
    if (svc.ports.length > 1) {
      const msg = `${svc.fqdn} exposes several ports (${svc.ports.join(', ')}); set destination.port.number to pick one`;
      ctx.report(vs, 'error', IstioCodes.PORT_SELECTOR_REQUIRED, p, msg);
    }
    return;
  }
  if (svc.ports.length > 0 && !svc.ports.includes(port)) {
    const msg = `port ${port} is not a port of ${svc.fqdn} (ports: ${svc.ports.join(', ')}); fix destination.port.number`;
    ctx.report(vs, severity, IstioCodes.REFERENCE_NOT_FOUND, [...p, 'port', 'number'], msg);
  }
}

function checkSubsetReference(ctx: Ctx, vs: VS, fqdn: string, subset: string, p: Path, severity: Severity): void {
  const names = ctx.subsetsFor(fqdn);
  if (names.has(subset)) return;
  const known = [...names];
  const detail = ctx.hasDestinationRuleFor(fqdn)
    ? `defined subsets: ${known.length ? known.join(', ') : 'none'}`
    : 'no DestinationRule has this host';
  const hint = suggest(subset, known);
  const msg = `subset "${subset}" of host ${fqdn} is not defined in any DestinationRule (${detail})${hint ? `; did you mean "${hint}"?` : '; add it to the subsets of a DestinationRule for this host'}`;
  ctx.report(vs, severity, IstioCodes.REFERENCE_NOT_FOUND, [...p, 'subset'], msg);
}

// ----- fault, redirect, direct response, retries ----------------------------------------------------------------

function checkPercent(ctx: Ctx, r: IstioResource, value: number | undefined, p: Path): void {
  if (value !== undefined && !(value >= 0 && value <= 100))
    ctx.error(r, p, `percentage must be between 0 and 100, found ${value}`);
}

function checkFault(ctx: Ctx, vs: VS, fault: HTTPFaultInjection, p: Path): void {
  const { delay, abort } = fault;
  if (!delay && !abort) ctx.error(vs, p, 'fault needs a delay, an abort or both');
  if (delay) {
    const dp = [...p, 'delay'];
    if (delay.exponentialDelay !== undefined) {
      ctx.error(vs, [...dp, 'exponentialDelay'], 'exponentialDelay is not supported by Istio; use fixedDelay');
    } else if (delay.fixedDelay === undefined) {
      ctx.error(vs, dp, 'delay needs fixedDelay (e.g. fixedDelay: 5s)');
    }
    if (delay.fixedDelay !== undefined) checkDuration(ctx, vs, delay.fixedDelay, [...dp, 'fixedDelay'], 'fixedDelay');
    if (delay.percentage) checkPercent(ctx, vs, delay.percentage.value, [...dp, 'percentage', 'value']);
    if (delay.percent !== undefined) checkPercent(ctx, vs, delay.percent, [...dp, 'percent']);
  }
  if (abort) checkAbort(ctx, vs, abort, [...p, 'abort']);
}

function checkAbort(ctx: Ctx, vs: VS, abort: NonNullable<HTTPFaultInjection['abort']>, p: Path): void {
  const kinds = (['httpStatus', 'grpcStatus', 'http2Error'] as const).filter((k) => abort[k] !== undefined);
  if (kinds.length === 0) ctx.error(vs, p, 'abort needs httpStatus (e.g. httpStatus: 503) or grpcStatus');
  if (kinds.length > 1)
    ctx.error(vs, [...p, kinds[1]!], `abort takes only one of httpStatus and grpcStatus, found ${kinds.join(' and ')}`);
  if (abort.http2Error !== undefined)
    ctx.error(vs, [...p, 'http2Error'], 'http2Error aborts are not supported by Istio; use httpStatus');
  if (abort.httpStatus !== undefined && !(abort.httpStatus >= 200 && abort.httpStatus <= 599)) {
    ctx.error(vs, [...p, 'httpStatus'], `abort httpStatus must be between 200 and 599, found ${abort.httpStatus}`);
  }
  if (abort.grpcStatus !== undefined && !GRPC_STATUSES.has(abort.grpcStatus)) {
    const hint = suggest(abort.grpcStatus, [...GRPC_STATUSES]);
    ctx.error(
      vs,
      [...p, 'grpcStatus'],
      `grpcStatus "${abort.grpcStatus}" is not a gRPC status name${hint ? ` (did you mean "${hint}"?)` : ' such as UNAVAILABLE'}`
    );
  }
  if (abort.percentage) checkPercent(ctx, vs, abort.percentage.value, [...p, 'percentage', 'value']);
}

function checkRedirect(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path): void {
  const r = rule.redirect;
  if (!r) return;
  const rp = [...p, 'redirect'];
  // an empty uri is the proto's unset string (Istio ignores it)
  if (
    (r.uri === undefined || r.uri === '') &&
    r.authority === undefined &&
    r.port === undefined &&
    r.derivePort === undefined &&
    r.scheme === undefined &&
    r.prefixRewrite === undefined
  ) {
    ctx.error(vs, rp, 'redirect must set uri, authority, scheme or port');
  }
  if (r.redirectCode !== undefined && !REDIRECT_CODES.has(r.redirectCode)) {
    ctx.error(
      vs,
      [...rp, 'redirectCode'],
      `redirectCode must be one of 301, 302, 303, 307, 308, found ${r.redirectCode}`
    );
  }
  if (r.port !== undefined && r.derivePort !== undefined)
    ctx.error(vs, [...rp, 'derivePort'], 'redirect takes only one of port and derivePort');
  if (r.uri !== undefined && r.prefixRewrite !== undefined)
    ctx.error(vs, [...rp, 'prefixRewrite'], 'redirect takes only one of uri and prefixRewrite');
  if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https') {
    ctx.error(vs, [...rp, 'scheme'], `redirect scheme must be "http" or "https", found "${r.scheme}"`);
  }
}

function checkDirectResponse(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path): void {
  const dr = rule.directResponse;
  if (!dr) return;
  const dp = [...p, 'directResponse'];
  if (!(dr.status >= 200 && dr.status <= 599))
    ctx.error(vs, [...dp, 'status'], `directResponse status must be between 200 and 599, found ${dr.status}`);
  const body = dr.body;
  if (!body) return;
  if (body.string !== undefined && body.bytes !== undefined) {
    ctx.error(vs, [...dp, 'body'], 'directResponse body takes only one of string and bytes');
    return;
  }
  if (body.bytes !== undefined && !BASE64.test(body.bytes.replace(WHITESPACE, ''))) {
    ctx.error(
      vs,
      [...dp, 'body', 'bytes'],
      'directResponse body.bytes must be base64 (e.g. "aGVsbG8="); use body.string for plain text'
    );
    return;
  }
  const size =
    body.string !== undefined
      ? Buffer.byteLength(body.string)
      : body.bytes !== undefined
        ? Buffer.from(body.bytes, 'base64').length
        : 0;
  if (size > MAX_DIRECT_RESPONSE_BYTES)
    ctx.error(vs, [...dp, 'body'], `directResponse body is ${size} bytes; Istio allows at most 1 MB`);
}

function checkRetries(ctx: Ctx, vs: VS, retries: HTTPRetry, p: Path): void {
  const attempts = retries.attempts ?? 0;
  if (attempts < 0) ctx.error(vs, [...p, 'attempts'], `attempts must be 0 or more, found ${attempts}`);
  if (
    attempts === 0 &&
    (retries.perTryTimeout !== undefined ||
      (retries.retryOn !== undefined && retries.retryOn !== '') ||
      retries.retryRemoteLocalities !== undefined)
  ) {
    const msg = `attempts is ${retries.attempts === undefined ? 'missing' : '0'}, which disables retries, yet retryOn/perTryTimeout is set; set attempts (e.g. attempts: 3)`;
    ctx.error(vs, retries.attempts === undefined ? p : [...p, 'attempts'], msg);
  }
  // an empty retryOn is no retryOn (Istio checks and converts it only when non-empty)
  if (retries.retryOn) checkRetryOn(ctx, vs, retries.retryOn, [...p, 'retryOn']);
  if (retries.perTryTimeout !== undefined)
    checkDuration(ctx, vs, retries.perTryTimeout, [...p, 'perTryTimeout'], 'perTryTimeout');
  if (retries.backoff !== undefined) checkDuration(ctx, vs, retries.backoff, [...p, 'backoff'], 'backoff');
}

/** The status codes Go's net/http names (http.StatusText): the numbers Istio accepts in retryOn. */
const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400,
  401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425,
  426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511
]);

function checkRetryOn(ctx: Ctx, vs: VS, retryOn: string, p: Path): void {
  for (const entry of retryOn.split(',')) {
    if (entry !== entry.trim()) {
      ctx.error(
        vs,
        p,
        `retryOn entry "${entry}" has spaces, which Istio rejects; write the list without spaces, e.g. "5xx,reset"`
      );
      continue;
    }
    if (DIGITS.test(entry)) {
      // Istio's webhook: a number must be a status code Go's http.StatusText knows
      if (!KNOWN_STATUS.has(Number(entry)))
        ctx.error(vs, p, `retryOn status code ${entry} is not a valid HTTP status code, which Istio rejects`);
      continue;
    }
    if (RETRY_ON.has(entry)) continue;
    const hint = suggest(entry, RETRY_ON_LIST);
    const msg = `"${entry}" is not a valid retryOn condition${hint ? ` (did you mean "${hint}"?)` : ''}; use Envoy conditions (${RETRY_ON_LIST.join(', ')}) or HTTP status codes`;
    ctx.error(vs, p, msg);
  }
}

function checkDuration(ctx: Ctx, r: IstioResource, text: string, p: Path, what: string): void {
  const ms = parseDuration(text);
  if (Number.isNaN(ms)) ctx.error(r, p, `${what} "${text}" is not a duration; write e.g. "1.5s" or "250ms"`);
  else if (ms < 1) ctx.error(r, p, `${what} must be at least 1ms, found "${text}"`);
  else if (Math.abs(ms - Math.round(ms)) > 1e-6)
    ctx.error(r, p, `${what} "${text}" has sub-millisecond precision; Istio supports whole milliseconds only`);
}

// ----- delegation -----------------------------------------------------------------------------------------------

function checkDelegate(ctx: Ctx, vs: VS, rule: HTTPRoute, p: Path, isDelegate: boolean): void {
  const d = rule.delegate!;
  if (isDelegate) return; // reported by checkActions
  const ns = d.namespace ?? vs.namespace;
  const target = ctx.findVirtualService(ns, d.name);
  const dp = [...p, 'delegate'];
  if (!target) {
    ctx.report(
      vs,
      'error',
      IstioCodes.REFERENCE_NOT_FOUND,
      dp,
      `delegate VirtualService ${ns}/${d.name} not found; create it (without hosts) or fix delegate.name/namespace`
    );
    return;
  }
  if (target.spec.hosts && target.spec.hosts.length > 0) {
    const msg = `delegate VirtualService ${ns}/${d.name} (${at(target, ctx, ['spec', 'hosts'], vs)}) has hosts; a delegate must have no hosts, its rules are merged under this rule: remove its hosts`;
    ctx.report(vs, 'error', IstioCodes.INVALID_DELEGATE, dp, msg);
  }
}

// ----- unreachable rules ----------------------------------------------------------------------------------------

const NON_CONDITION_FIELDS = new Set([
  'name',
  'statPrefix',
  'ignoreUriCase',
  'gateways',
  'sourceLabels',
  'sourceNamespace'
]);

function isEmptyMap(v: Record<string, unknown> | undefined): boolean {
  return v === undefined || Object.keys(v).length === 0;
}

/** A match block that every request (from every caller, on every gateway of the VS) satisfies. */
function isUnconditional(m: HTTPMatchRequest, vsGateways: string[]): boolean {
  for (const [key, value] of Object.entries(m)) {
    if (value === undefined || NON_CONDITION_FIELDS.has(key)) continue;
    if (
      (key === 'headers' || key === 'queryParams' || key === 'withoutHeaders') &&
      isEmptyMap(value as Record<string, unknown>)
    )
      continue;
    if (key === 'uri' && isRootPrefix(value as StringMatch)) continue;
    return false;
  }
  if (!isEmptyMap(m.sourceLabels) || m.sourceNamespace !== undefined) return false;
  return !m.gateways || vsGateways.every((g) => m.gateways!.includes(g));
}

function isRootPrefix(sm: StringMatch): boolean {
  return sm.exact === undefined && sm.regex === undefined && (sm.prefix === '' || sm.prefix === '/');
}

/** Stable serialization of a match block without its name, to spot repeated matches. */
function matchKey(m: HTTPMatchRequest): string {
  const rest: Record<string, unknown> = { ...m };
  delete rest.name;
  return stableJson(rest);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function checkUnreachableRules(ctx: Ctx, vs: VS): void {
  const rules = vs.spec.http ?? [];
  const gateways = vs.spec.gateways && vs.spec.gateways.length > 0 ? vs.spec.gateways : ['mesh'];
  const seen = new Map<string, { rule: number; match: number }>();
  let catchAll: { rule: number; reason: string } | undefined;
  rules.forEach((rule, i) => {
    const p: Path = ['spec', 'http', i];
    if (catchAll) {
      const msg = `rule ${ruleName(rule, i)} is never used: rule ${ruleName(rules[catchAll.rule]!, catchAll.rule)} before it ${catchAll.reason}, and the first matching rule wins. Move this rule above it, or add a match to the earlier rule`;
      ctx.report(vs, 'warning', IstioCodes.UNREACHABLE_RULE, p, msg);
      return;
    }
    const matches = rule.match ?? [];
    const unconditional = matches.findIndex((m) => isUnconditional(m, gateways));
    if (matches.length === 0) catchAll = { rule: i, reason: 'has no match, so it matches every request' };
    else if (unconditional >= 0)
      catchAll = {
        rule: i,
        reason: `has a match (match[${unconditional}]) with no request conditions, so it matches every request`
      };
    checkRepeatedMatches(ctx, vs, rule, i, seen);
  });
}

function checkRepeatedMatches(
  ctx: Ctx,
  vs: VS,
  rule: HTTPRoute,
  i: number,
  seen: Map<string, { rule: number; match: number }>
): void {
  const matches = rule.match ?? [];
  let repeated = 0;
  matches.forEach((m, j) => {
    const key = matchKey(m);
    const first = seen.get(key);
    if (!first) {
      seen.set(key, { rule: i, match: j });
      return;
    }
    if (first.rule === i) return;
    repeated++;
    const msg = `match[${j}] of rule spec.http[${i}] repeats spec.http[${first.rule}].match[${first.match}], which comes first, so it never applies; remove it or make it more specific`;
    ctx.report(vs, 'info', IstioCodes.INEFFECTIVE_MATCH, ['spec', 'http', i, 'match', j], msg);
  });
  if (matches.length > 0 && repeated === matches.length) {
    const msg = `rule ${ruleName(rule, i)} is never used: every one of its matches is already matched by an earlier rule. Remove it or change its matches`;
    ctx.report(vs, 'warning', IstioCodes.UNREACHABLE_RULE, ['spec', 'http', i], msg);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// DestinationRule
// ---------------------------------------------------------------------------------------------------------------

function checkDestinationRule(ctx: Ctx, dr: DR): void {
  const fqdn = qualifyHost(dr.spec.host, dr.namespace);
  const ws = (dr.spec as { workloadSelector?: { matchLabels?: Record<string, string> } }).workloadSelector;
  if (ws) checkSelector(ctx, dr, ws.matchLabels, ['spec', 'workloadSelector', 'matchLabels']);
  const svc = checkDestinationRuleHost(ctx, dr, fqdn);
  checkSubsets(ctx, dr, svc);
  if (dr.spec.trafficPolicy) checkTrafficPolicy(ctx, dr, dr.spec.trafficPolicy, ['spec', 'trafficPolicy']);
}

/** Istio's validateWorkloadSelector: errors for an empty key or a "*", a warning for a selector without labels. */
function checkSelector(ctx: Ctx, r: IstioResource, labels: Record<string, string> | undefined, p: Path): void {
  for (const [severity, msg, sub] of selectorProblems(labels))
    if (severity === 'error') ctx.error(r, [...p, ...sub], msg);
    else ctx.report(r, severity, IstioCodes.SCHEMA, p.slice(0, -1), msg);
}

function checkDestinationRuleHost(ctx: Ctx, dr: DR, fqdn: string): ServiceInfo | undefined {
  const problem = wildcardDomainProblem(dr.spec.host);
  if (problem) {
    ctx.error(dr, ['spec', 'host'], problem);
    return undefined;
  }
  const wildcard = fqdn.startsWith('*');
  const svc = wildcard ? undefined : ctx.lookupService(fqdn);
  const known = wildcard ? ctx.anyServiceMatching(fqdn) : svc !== undefined || ctx.unreadable.has(fqdn);
  if (!known) {
    const similar = wildcard ? undefined : ctx.similarHost(dr.spec.host, dr.namespace);
    const msg = similar
      ? `host "${dr.spec.host}" (${fqdn}) matches no service in the mesh, so this DestinationRule has no effect; did you mean "${similar}"? If not, ${unknownHostHint(fqdn)}`
      : `host "${dr.spec.host}" (${fqdn}) matches no service in the mesh, so this DestinationRule has no effect: ${unknownHostHint(fqdn)}, or fix the host`;
    ctx.report(dr, 'warning', IstioCodes.UNKNOWN_DR_HOST, ['spec', 'host'], msg);
  }
  return svc;
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([k, v]) => `${k}: ${v}`).join(', ')}}` : '{}';
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

function checkSubsets(ctx: Ctx, dr: DR, svc: ServiceInfo | undefined): void {
  const names = new Map<string, number>();
  (dr.spec.subsets ?? []).forEach((subset, j) => {
    const p: Path = ['spec', 'subsets', j];
    checkSubsetName(ctx, dr, subset.name, [...p, 'name']);
    const first = names.get(subset.name);
    if (first !== undefined) {
      ctx.error(
        dr,
        [...p, 'name'],
        `subset name "${subset.name}" is used twice (also spec.subsets[${first}]); subset names must be unique`
      );
    } else names.set(subset.name, j);
    if (subset.trafficPolicy) checkTrafficPolicy(ctx, dr, subset.trafficPolicy, [...p, 'trafficPolicy']);
    checkLabels(ctx, dr, subset.labels, [...p, 'labels']);
    if (!svc?.workloads) return;
    const selector = subset.labels ?? {};
    if (svc.workloads.some((w) => selects(selector, w))) return;
    const have = svc.workloads.length
      ? `workload labels: ${svc.workloads.map(formatLabels).join(', ')}`
      : 'the service has no workloads';
    const msg = `subset "${subset.name}" selects no workload of ${svc.fqdn} (labels ${formatLabels(selector)}; ${have}); requests routed to it fail with 503 "no healthy upstream"`;
    ctx.report(dr, 'warning', IstioCodes.SUBSET_SELECTS_NO_WORKLOAD, subset.labels ? [...p, 'labels'] : p, msg);
  });
}

type PortTrafficPolicy = NonNullable<TrafficPolicy['portLevelSettings']>[number];

/** The connectionPool and outlierDetection fields the sidecars enforce (sidecar/circuit.ts, connect timeouts). */
const ENFORCED = {
  tcp: new Set(['maxConnections', 'connectTimeout', 'maxConnectionDuration', 'idleTimeout']),
  http: new Set([
    'http1MaxPendingRequests',
    'http2MaxRequests',
    'maxRetries',
    'maxRequestsPerConnection',
    'idleTimeout'
  ]),
  // consecutiveErrors is ignored by Istio itself (IST0002 says so)
  outlier: new Set([
    'consecutive5xxErrors',
    'consecutiveGatewayErrors',
    'interval',
    'baseEjectionTime',
    'maxEjectionPercent',
    'minHealthPercent',
    'splitExternalLocalOriginErrors',
    'consecutiveLocalOriginFailures',
    'consecutiveErrors'
  ])
};

/**
 * Istio's ValidateTLS of a DestinationRule: insecureSkipVerify excludes caCertificates and subjectAltNames; with a
 * credentialName (SIMPLE, MUTUAL) no certificate files; MUTUAL needs clientCertificate and privateKey otherwise.
 */
function checkClientTls(ctx: Ctx, dr: DR, tls: ClientTLSSettings, p: Path): void {
  const simpleOrMutual = tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL';
  if (tls.insecureSkipVerify && simpleOrMutual && (tls.caCertificates || tls.subjectAltNames?.length))
    ctx.error(
      dr,
      [...p, 'insecureSkipVerify'],
      'cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true'
    );
  if (simpleOrMutual && tls.credentialName) {
    if (tls.clientCertificate || tls.caCertificates || tls.privateKey || tls.caCrl)
      ctx.error(
        dr,
        [...p, 'credentialName'],
        'cannot specify client certificates or CA certificate or CA CRL If credentialName is set'
      );
    return;
  }
  if (tls.mode !== 'MUTUAL') return;
  if (!tls.clientCertificate)
    ctx.error(
      dr,
      [...p, 'mode'],
      'client certificate required for mutual tls: set clientCertificate (or credentialName)'
    );
  if (!tls.privateKey)
    ctx.error(dr, [...p, 'mode'], 'private key required for mutual tls: set privateKey (or credentialName)');
}

function checkTrafficPolicy(ctx: Ctx, dr: DR, tp: TrafficPolicy | PortTrafficPolicy, p: Path): void {
  if (tp.loadBalancer) checkLoadBalancer(ctx, dr, tp.loadBalancer, [...p, 'loadBalancer']);
  // kept as data only: no PROXY protocol header upstream, no HTTP CONNECT tunnel, no retry budget
  for (const k of ['proxyProtocol', 'tunnel', 'retryBudget'] as const)
    if (k in tp && (tp as TrafficPolicy)[k] !== undefined)
      ctx.report(
        dr,
        'warning',
        IstioCodes.NOT_ENFORCED,
        [...p, k],
        `trafficPolicy.${k} is kept but not enforced by localmesh`
      );
  if (tp.tls) checkClientTls(ctx, dr, tp.tls, [...p, 'tls']);
  if (tp.connectionPool) checkConnectionPool(ctx, dr, tp.connectionPool, [...p, 'connectionPool']);
  if (tp.outlierDetection) checkOutlierDetection(ctx, dr, tp.outlierDetection, [...p, 'outlierDetection']);
  const od = tp.outlierDetection;
  if (od && od.consecutiveErrors !== undefined && !ctx.compat.consecutiveErrorsAsGateway) {
    const msg =
      'outlierDetection.consecutiveErrors is ignored since Istio 1.7 (the defaults apply instead); use consecutive5xxErrors or consecutiveGatewayErrors';
    ctx.report(dr, 'warning', IstioCodes.DEPRECATED, [...p, 'outlierDetection', 'consecutiveErrors'], msg);
  }
  // what localmesh enforces of connectionPool and outlierDetection (sidecar/circuit.ts); any other knob is reported
  const cp = tp.connectionPool;
  const unenforced = [
    ...Object.keys(cp?.tcp ?? {})
      .filter((k) => !ENFORCED.tcp.has(k))
      .map((k) => `connectionPool.tcp.${k}`),
    ...Object.keys(cp?.http ?? {})
      .filter((k) => !ENFORCED.http.has(k))
      .map((k) => `connectionPool.http.${k}`),
    ...Object.keys(tp.outlierDetection ?? {})
      .filter((k) => !ENFORCED.outlier.has(k))
      .map((k) => `outlierDetection.${k}`)
  ];
  if (unenforced.length > 0) {
    const field = unenforced[0]!.startsWith('connectionPool') ? 'connectionPool' : 'outlierDetection';
    const msg = `kept but not enforced by localmesh yet: ${unenforced.join(', ')} (enforced: tcp.maxConnections, tcp.connectTimeout, tcp.maxConnectionDuration, tcp.idleTimeout, http.http1MaxPendingRequests, http.http2MaxRequests, http.maxRetries, http.maxRequestsPerConnection, http.idleTimeout; consecutive5xxErrors, consecutiveGatewayErrors, interval, baseEjectionTime, maxEjectionPercent, minHealthPercent, splitExternalLocalOriginErrors, consecutiveLocalOriginFailures)`;
    ctx.report(dr, 'warning', IstioCodes.NOT_ENFORCED, [...p, field], msg);
  }
  if ('portLevelSettings' in tp) {
    tp.portLevelSettings?.forEach((pl, k) => checkTrafficPolicy(ctx, dr, pl, [...p, 'portLevelSettings', k]));
  }
}

/**
 * Istio's webhook on ConnectionPoolSettings (a DestinationRule's connectionPool, a Sidecar's inboundConnectionPool):
 * durations and the h2 upgrade; limits are ranged, and "at least one field" checked, by the schema.
 */
function checkConnectionPool(ctx: Ctx, r: IstioResource, cp: ConnectionPoolSettings, p: Path): void {
  const tcp = cp.tcp ?? {};
  const tcpPath = [...p, 'tcp'];
  for (const k of ['connectTimeout', 'maxConnectionDuration', 'idleTimeout'] as const) {
    const v = tcp[k];
    // Istio skips a tcp.idleTimeout of 0s: it disables the timeout
    if (k === 'idleTimeout' && v !== undefined && parseDuration(v) === 0) continue;
    if (v !== undefined) checkDuration(ctx, r, v, [...tcpPath, k], `tcp.${k}`);
  }
  for (const k of ['time', 'interval'] as const) {
    const v = tcp.tcpKeepalive?.[k];
    if (v !== undefined) checkDuration(ctx, r, v, [...tcpPath, 'tcpKeepalive', k], `tcp.tcpKeepalive.${k}`);
  }
  const http = cp.http;
  if (!http) return;
  if (http.idleTimeout !== undefined)
    checkDuration(ctx, r, http.idleTimeout, [...p, 'http', 'idleTimeout'], 'http.idleTimeout');
  if (http.h2UpgradePolicy === 'UPGRADE' && http.useClientProtocol === true)
    ctx.error(
      r,
      [...p, 'http', 'useClientProtocol'],
      'useClientProtocol must not be true when h2UpgradePolicy is UPGRADE; keep one of them'
    );
}

/** Istio's webhook on OutlierDetection's durations (counts, percentages and the local-origin rule: the schema). */
function checkOutlierDetection(ctx: Ctx, r: IstioResource, od: OutlierDetection, p: Path): void {
  for (const k of ['interval', 'baseEjectionTime'] as const) {
    const v = od[k];
    if (v !== undefined) checkDuration(ctx, r, v, [...p, k], k);
  }
}

/** The WarmupConfiguration CRD: duration required, minimumPercent 0-100, aggression at least 1. */
function checkWarmup(ctx: Ctx, dr: DR, w: Record<string, unknown>, p: Path): void {
  if (w.duration === undefined) ctx.error(dr, p, 'warmup.duration is required (such as "300s")');
  else if (typeof w.duration !== 'string')
    ctx.error(dr, [...p, 'duration'], 'warmup.duration must be a duration such as "300s"');
  else checkDuration(ctx, dr, w.duration, [...p, 'duration'], 'duration');
  const ranges = { minimumPercent: [0, 100, 'between 0 and 100'], aggression: [1, Infinity, 'at least 1'] } as const;
  for (const [k, [min, max, what]] of Object.entries(ranges)) {
    const v = w[k];
    if (v !== undefined && !(typeof v === 'number' && v >= min && v <= max))
      ctx.error(dr, [...p, k], `warmup.${k} must be a number ${what}, found ${JSON.stringify(v)}`);
  }
}

function checkLoadBalancer(ctx: Ctx, dr: DR, lb: LoadBalancerSettings, p: Path): void {
  const ch = lb.consistentHash;
  // on one machine there are no localities and no original destination to pass through to: said, not hidden
  const kept = lb as { simple?: string; localityLbSetting?: unknown; warmupDurationSecs?: unknown; warmup?: unknown };
  if (kept.simple === 'PASSTHROUGH')
    ctx.report(
      dr,
      'warning',
      IstioCodes.NOT_ENFORCED,
      [...p, 'simple'],
      'loadBalancer PASSTHROUGH (to the original destination address) has no meaning locally: endpoints are picked at random'
    );
  for (const k of ['localityLbSetting', 'warmupDurationSecs', 'warmup'] as const)
    if (kept[k] !== undefined)
      ctx.report(
        dr,
        'warning',
        IstioCodes.NOT_ENFORCED,
        [...p, k],
        `loadBalancer.${k} is kept but not enforced by localmesh (every endpoint is local and in one locality)`
      );
  if (kept.warmup !== undefined) checkWarmup(ctx, dr, kept.warmup as Record<string, unknown>, [...p, 'warmup']);
  if (lb.simple !== undefined && ch) {
    ctx.error(
      dr,
      [...p, 'consistentHash'],
      'loadBalancer takes only one of simple and consistentHash; remove one of them'
    );
  }
  if (!ch) return;
  const keys = (['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const).filter(
    (k) => ch[k] !== undefined
  );
  if (keys.length > 1) {
    ctx.error(dr, [...p, 'consistentHash', keys[1]!], `consistentHash takes one hash key, found ${keys.join(' and ')}`);
  }
  if (ch.ringHash && ch.maglev)
    ctx.error(dr, [...p, 'consistentHash', 'maglev'], 'consistentHash takes only one of ringHash and maglev');
}

// ---------------------------------------------------------------------------------------------------------------
// ServiceEntry, Sidecar
// ---------------------------------------------------------------------------------------------------------------

function checkServiceEntry(ctx: Ctx, se: IstioResource<ServiceEntrySpec>): void {
  const spec = se.spec;
  const resolution = spec.resolution ?? 'NONE';
  const endpoints = spec.endpoints ?? [];
  spec.hosts.forEach((h, k) => {
    const problem = h === '*' ? undefined : wildcardDomainProblem(h);
    if (h === '*') ctx.error(se, ['spec', 'hosts', k], 'host "*" is not allowed in a ServiceEntry; name the host');
    else if (problem) ctx.error(se, ['spec', 'hosts', k], problem);
  });
  if (spec.workloadSelector)
    checkSelector(ctx, se, spec.workloadSelector.labels, ['spec', 'workloadSelector', 'labels']);
  if (spec.workloadSelector && endpoints.length > 0) {
    ctx.error(se, ['spec', 'endpoints'], 'a ServiceEntry takes only one of workloadSelector and endpoints');
  }
  if (resolution === 'NONE' && endpoints.length > 0) {
    ctx.error(
      se,
      ['spec', 'endpoints'],
      'resolution NONE (the default) takes no endpoints; set resolution: STATIC for IP endpoints or DNS for host names'
    );
  }
  if (resolution === 'STATIC' && endpoints.length === 0 && !spec.workloadSelector) {
    // Istio's webhook accepts it (the entry then has no endpoints): a warning, not an error
    ctx.report(
      se,
      'warning',
      IstioCodes.SCHEMA,
      spec.resolution ? ['spec', 'resolution'] : ['spec'],
      'resolution STATIC without endpoints or a workloadSelector: the entry has no endpoints, so requests to it get 503 "no healthy upstream"; add endpoints or use resolution: DNS'
    );
  }
  (spec.addresses ?? []).forEach((a, k) => {
    const slash = a.indexOf('/');
    const ip = slash < 0 ? a : a.slice(0, slash);
    const bits = slash < 0 ? undefined : a.slice(slash + 1);
    const max = isIP(ip) === 4 ? 32 : 128;
    if (!isIP(ip) || (bits !== undefined && !(DIGITS.test(bits) && Number(bits) <= max)))
      ctx.error(se, ['spec', 'addresses', k], `${a} is not a valid IP${bits !== undefined ? ' or CIDR block' : ''}`);
  });
  if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpoints.length === 0)
    spec.hosts.forEach((h, k) => {
      if (h.includes('*'))
        ctx.error(
          se,
          ['spec', 'hosts', k],
          `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}: "${h}" is a wildcard; add endpoints or use resolution: NONE`
        );
    });
  if (resolution !== 'NONE' && spec.hosts.length > 1) {
    const k = (spec.ports ?? []).findIndex(
      (port) => !['http', 'http2', 'grpc', 'grpc-web', 'https', 'tls'].includes((port.protocol ?? '').toLowerCase())
    );
    if (k >= 0)
      ctx.error(
        se,
        ['spec', 'ports', k],
        `multiple hosts provided with non-HTTP, non-TLS ports (${spec.ports![k]!.protocol ?? 'no protocol'}): with resolution ${resolution} a TCP connection cannot tell the hosts apart; use one host per ServiceEntry`
      );
  }
  if (resolution !== 'NONE' && resolution !== 'STATIC') {
    const cidr = (spec.addresses ?? []).findIndex((a) => a.includes('/'));
    if (cidr >= 0)
      ctx.error(
        se,
        ['spec', 'addresses', cidr],
        `CIDR addresses are allowed only for NONE/STATIC resolution types, not ${resolution}: use a single IP, or resolution: STATIC or NONE`
      );
  }
  if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1)
    ctx.error(
      se,
      ['spec', 'endpoints', 1],
      'DNS_ROUND_ROBIN mode cannot have multiple endpoints (it connects to the first address its one endpoint resolves to): keep one endpoint, or use resolution: DNS'
    );
  checkServicePorts(ctx, se);
  if (resolution === 'NONE') return;
  const portNames = (spec.ports ?? []).flatMap((p) => (p.name ? [p.name] : []));
  endpoints.forEach((ep, k) => {
    const p: Path = ['spec', 'endpoints', k];
    checkEndpointAddress(ctx, se, ep.address, resolution, p);
    for (const [name, number] of Object.entries(ep.ports ?? {})) {
      const pp = [...p, 'ports', name];
      if (!portNames.includes(name)) {
        const hint = suggest(name, portNames);
        const have = portNames.length ? `its ports are named ${portNames.join(', ')}` : 'its ports have no names';
        ctx.error(
          se,
          pp,
          `endpoint port "${name}" (${number}) is not defined by the service entry: the keys of an endpoint's ports are ServiceEntry port names, and ${have}${hint ? `; did you mean "${hint}"?` : ''}`
        );
      }
      if (!(number >= 1 && number <= 65535)) ctx.error(se, pp, `endpoint port ${number} must be between 1 and 65535`);
    }
  });
}

/** Istio's webhook: port numbers and names unique within a ServiceEntry, protocols it knows. */
function checkServicePorts(ctx: Ctx, se: IstioResource<ServiceEntrySpec>): void {
  const numbers = new Map<number, number>();
  const names = new Map<string, number>();
  (se.spec.ports ?? []).forEach((port, k) => {
    const p: Path = ['spec', 'ports', k];
    const sameNumber = numbers.get(port.number);
    if (sameNumber !== undefined)
      ctx.error(
        se,
        [...p, 'number'],
        `service entry port ${port.number} already defined (spec.ports[${sameNumber}]); port numbers must be unique`
      );
    else numbers.set(port.number, k);
    if (port.name === undefined || !ISTIO_LABEL.test(port.name) || port.name.length > MAX_LABEL_LENGTH)
      ctx.error(
        se,
        port.name === undefined ? p : [...p, 'name'],
        port.name === undefined
          ? 'invalid port name: a ServiceEntry port needs a name (a DNS-1123 label, e.g. "https")'
          : `invalid port name: ${port.name} (a DNS-1123 label: letters, digits and "-")`
      );
    if (port.name !== undefined) {
      const sameName = names.get(port.name);
      if (sameName !== undefined)
        ctx.error(
          se,
          [...p, 'name'],
          `service entry port name "${port.name}" already defined (spec.ports[${sameName}]); port names must be unique`
        );
      else names.set(port.name, k);
    }
    if (port.targetPort !== undefined && port.targetPort !== 0 && !(port.targetPort >= 1 && port.targetPort <= 65535))
      ctx.error(se, [...p, 'targetPort'], `port must be between 1-65535, found targetPort ${port.targetPort}`);
    const protocol = port.protocol;
    if (protocol !== undefined && protocol !== '' && !PROTOCOL_NAMES.has(protocol.toLowerCase())) {
      const hint = suggest(protocol, PROTOCOLS);
      ctx.error(
        se,
        [...p, 'protocol'],
        `unsupported protocol "${protocol}"${hint ? ` (did you mean "${hint}"?)` : ''}; use one of ${PROTOCOLS.join(', ')}`
      );
    }
  });
}

/** The kinds with an exportTo (their schemas make it a list of strings). */
const EXPORTED_KINDS = new Set(['VirtualService', 'DestinationRule', 'ServiceEntry']);

/**
 * exportTo as Istio's webhook checks it (validateExportTo): ".", "*" or namespace names, no duplicates, "*" alone;
 * "~" (no one) only for a ServiceEntry and alone; a DestinationRule with a workloadSelector exports to its own
 * namespace only.
 */
function checkExportTo(ctx: Ctx, r: IstioResource): void {
  if (!EXPORTED_KINDS.has(r.kind)) return;
  const spec = r.spec as { exportTo?: string[]; workloadSelector?: unknown };
  const exportTo = spec.exportTo;
  if (!exportTo || exportTo.length === 0) return;
  const isServiceEntry = r.kind === 'ServiceEntry';
  const seen = new Map<string, number>();
  exportTo.forEach((e, k) => {
    const p: Path = ['spec', 'exportTo', k];
    const key = e === '.' ? r.namespace : e;
    const first = seen.get(key);
    if (first !== undefined) {
      const msg =
        key !== e || exportTo[first] !== e
          ? `duplicate entries in exportTo: "." and the namespace ${r.namespace} (spec.exportTo[${first}]) are the same`
          : `duplicate entry "${e}" in exportTo (also spec.exportTo[${first}])`;
      ctx.error(r, p, msg);
      return;
    }
    if (e === '~' && !isServiceEntry) {
      ctx.error(r, p, 'exportTo "~" (no one) is allowed only for a ServiceEntry; use "." for this namespace only');
      return;
    }
    if (e !== '.' && e !== '*' && e !== '~' && !isDnsLabel(e)) {
      ctx.error(
        r,
        p,
        `exportTo entry "${e}" is invalid: only ".", "*" or a namespace name (a DNS-1123 label) is allowed`
      );
      return;
    }
    seen.set(key, k);
  });
  const star = seen.get('*');
  if (star !== undefined && exportTo.length > 1)
    ctx.error(
      r,
      ['spec', 'exportTo', star],
      'cannot have both public (*) and non-public exportTo values for a resource: "*" already exports to every namespace; use "*" alone or list the namespaces'
    );
  const none = seen.get('~');
  if (none !== undefined && exportTo.length > 1)
    ctx.error(
      r,
      ['spec', 'exportTo', none],
      'cannot export service entry to no one (~) and someone: use "~" alone or list the namespaces'
    );
  if (r.kind === 'DestinationRule' && spec.workloadSelector !== undefined && seen.size > 0) {
    if (!seen.has(r.namespace))
      ctx.error(
        r,
        ['spec', 'exportTo'],
        `destination rule with workload selector cannot have exportTo beyond current namespace: use exportTo: ["."] (or "${r.namespace}")`
      );
    else if (seen.size > 1)
      ctx.error(
        r,
        ['spec', 'exportTo'],
        'destination rule with workload selector cannot have multiple entries in exportTo: use exportTo: ["."]'
      );
  }
}

function checkEndpointAddress(
  ctx: Ctx,
  se: IstioResource,
  address: string | undefined,
  resolution: string,
  p: Path
): void {
  if (address === undefined || address === '') {
    ctx.error(se, p, 'endpoint address is required');
    return;
  }
  if (isIP(address) !== 0) return;
  const ap = [...p, 'address'];
  if (resolution === 'STATIC') {
    if (address.startsWith(UNIX_ADDRESS)) return;
    ctx.error(
      se,
      ap,
      `endpoint address "${address}" is not an IP address; with resolution STATIC every endpoint must be an IP (use resolution: DNS for host names)`
    );
  } else if (!FQDN.test(address)) {
    ctx.error(se, ap, `endpoint address "${address}" is neither an IP address nor a host name`);
  }
}

function isEgressNamespace(ns: string): boolean {
  return ns === '*' || ns === '.' || ns === '~' || DNS_LABEL.test(ns);
}

function isEgressHost(host: string): boolean {
  if (host === '*') return true;
  return FQDN.test(host.startsWith('*.') ? host.slice(2) : host);
}

/** What an inbound sidecar enforces of a Sidecar's inboundConnectionPool (inbound.ts, admitToApp). */
const INBOUND_ENFORCED = {
  tcp: new Set(['maxConnections', 'maxConnectionDuration', 'idleTimeout']),
  http: new Set(['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'idleTimeout'])
};

/**
 * Istio's ValidateSidecar: the port numbers of a Sidecar's egress listeners, and those of its ingress listeners, are
 * unique within their list. `seen` maps each number met so far in `list` to its listener's index.
 */
function checkUniquePort(
  ctx: Ctx,
  sc: IstioResource<SidecarSpec>,
  seen: Map<number, number>,
  list: 'egress' | 'ingress',
  k: number,
  number: number
): void {
  const first = seen.get(number);
  if (first === undefined) seen.set(number, k);
  else
    ctx.error(
      sc,
      ['spec', list, k, 'port', 'number'],
      `sidecar: ports on IP bound listeners must be unique (port ${number} also in spec.${list}[${first}])`
    );
}

/**
 * Istio's ValidateSidecar on the shape of a Sidecar: some configuration, one catch-all egress listener (no port) and
 * last, unique egress ports, an egressProxy only with ALLOW_ANY; a repeated egress host (or anything beside
 * `*\/*`) warns.
 */
function checkSidecarShape(ctx: Ctx, sc: IstioResource<SidecarSpec>): void {
  const spec = sc.spec;
  if (!spec.egress?.length && !spec.ingress?.length && !spec.outboundTrafficPolicy && !spec.inboundConnectionPool) {
    ctx.error(
      sc,
      ['spec'],
      'sidecar: empty configuration provided: set egress, ingress, outboundTrafficPolicy or inboundConnectionPool'
    );
    return;
  }
  const egress = spec.egress ?? [];
  let catchAll = false;
  const ports = new Map<number, number>();
  egress.forEach((eg, k) => {
    const p: Path = ['spec', 'egress', k];
    const number = (eg.port as { number?: unknown } | undefined)?.number;
    if (eg.port === undefined) {
      if (catchAll) ctx.error(sc, p, 'sidecar: egress can have only one listener with empty port');
      else if (k === egress.length - 1) catchAll = true;
      else ctx.error(sc, p, 'sidecar: the egress listener with empty port should be the last listener in the list');
    } else if (typeof number === 'number' && number !== 0) checkUniquePort(ctx, sc, ports, 'egress', k, number);
    const byNs = new Map<string, Set<string>>();
    eg.hosts.forEach((h, m) => {
      const slash = h.indexOf('/');
      if (slash < 0) return;
      const ns = h.slice(0, slash) === '.' ? sc.namespace : h.slice(0, slash);
      const host = h.slice(slash + 1);
      const seen = byNs.get(ns) ?? new Set<string>();
      byNs.set(ns, seen);
      if (host !== '*' ? seen.has(host) || seen.has('*') : seen.size > 0)
        ctx.report(sc, 'warning', IstioCodes.SCHEMA, [...p, 'hosts', m], `duplicated egress host: ${h}`);
      seen.add(host);
    });
    if (byNs.get('*')?.has('*') && byNs.size !== 1)
      ctx.report(
        sc,
        'warning',
        IstioCodes.SCHEMA,
        [...p, 'hosts'],
        '`*/*` host select all resources, no other hosts can be added'
      );
  });
  const otp = spec.outboundTrafficPolicy;
  if (otp?.egressProxy !== undefined && otp.mode !== 'ALLOW_ANY')
    ctx.error(
      sc,
      ['spec', 'outboundTrafficPolicy', 'egressProxy'],
      'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode'
    );
}

/** The inboundConnectionPool knobs an inbound sidecar does not enforce, as `tcp.x` / `http.y`. */
function unenforcedInbound(pool: ConnectionPoolSettings | undefined): string[] {
  return [
    ...Object.keys(pool?.tcp ?? {})
      .filter((k) => !INBOUND_ENFORCED.tcp.has(k))
      .map((k) => `tcp.${k}`),
    ...Object.keys(pool?.http ?? {})
      .filter((k) => !INBOUND_ENFORCED.http.has(k))
      .map((k) => `http.${k}`)
  ];
}

const DEFAULT_ENDPOINT_FORM =
  'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset';

/**
 * Istio's ValidateSidecar on `ingress` listeners (a port, a protocol Istio knows, a DNS-1123 port name, unique port
 * numbers, a defaultEndpoint on localhost, the pod's address or a unix socket, tls only on TLS/HTTPS ports and not
 * ISTIO_MUTUAL/AUTO_PASSTHROUGH, a per-port connectionPool); what localmesh cannot do (a unix socket endpoint, TLS
 * termination, bind and captureMode NONE) is IST0025.
 */
function checkSidecarIngress(ctx: Ctx, sc: IstioResource<SidecarSpec>): void {
  const seen = new Map<number, number>();
  sc.spec.ingress?.forEach((l, k) => {
    const p: Path = ['spec', 'ingress', k];
    const { number, protocol, name, targetPort } = l.port;
    if (targetPort !== undefined && targetPort > 0)
      ctx.error(sc, [...p, 'port', 'targetPort'], 'targetPort has no impact on Sidecars');
    if (name !== undefined && name !== '' && !DNS_LABEL.test(name.toLowerCase()))
      ctx.error(sc, [...p, 'port', 'name'], `invalid port name: ${name}`);
    if (protocol !== undefined && protocol !== '' && !ISTIO_PROTOCOLS.has(protocol.toLowerCase()))
      ctx.error(sc, [...p, 'port', 'protocol'], `unsupported protocol: ${protocol}`);
    if (number < 1 || number > 65535)
      ctx.error(sc, [...p, 'port', 'number'], `port number ${number} must be in the range 1..65535`);
    checkUniquePort(ctx, sc, seen, 'ingress', k, number);
    if (l.bind !== undefined && l.bind !== '') {
      if (isIP(l.bind) === 0) ctx.error(sc, [...p, 'bind'], `${l.bind} is not a valid IP`);
      else
        ctx.report(
          sc,
          'warning',
          IstioCodes.NOT_ENFORCED,
          [...p, 'bind'],
          "ingress bind is kept but not enforced by localmesh: the instance's inbound sidecar listens on its own local port"
        );
    }
    if (l.captureMode === 'NONE')
      ctx.report(
        sc,
        'warning',
        IstioCodes.NOT_ENFORCED,
        [...p, 'captureMode'],
        "ingress captureMode NONE is kept but not enforced by localmesh: the instance's inbound sidecar listens on its own local port, not on port " +
          number
      );
    const ep = l.defaultEndpoint;
    if (ep !== undefined && ep !== '') {
      const ePath = [...p, 'defaultEndpoint'];
      if (ep.startsWith('unix://')) {
        const file = ep.slice('unix://'.length);
        if (file === '') ctx.error(sc, ePath, 'unix address must not be empty');
        else if (!file.startsWith('@') && (!file.startsWith('/') || file.endsWith('/')))
          ctx.error(sc, ePath, `${file} is not an absolute path to a file`);
        else
          ctx.report(
            sc,
            'warning',
            IstioCodes.NOT_ENFORCED,
            ePath,
            `a unix socket defaultEndpoint is kept but not enforced by localmesh: port ${number}'s traffic goes to the instance's address`
          );
      } else {
        const parts = splitEndpoint(ep);
        if (!parts) ctx.error(sc, ePath, `address ${ep}: missing port in address; ${DEFAULT_ENDPOINT_FORM}`);
        else {
          if (!['', '127.0.0.1', '0.0.0.0', '::1', '::'].includes(parts.host))
            ctx.error(sc, ePath, DEFAULT_ENDPOINT_FORM);
          const port = /^[0-9]+$/.test(parts.port) ? Number(parts.port) : NaN;
          if (Number.isNaN(port)) ctx.error(sc, ePath, `sidecar: defaultEndpoint port (${parts.port}) is not a number`);
          else if (port < 1 || port > 65535) ctx.error(sc, ePath, `port number ${port} must be in the range 1..65535`);
        }
      }
    }
    const tls = l.tls as
      { mode?: unknown; subjectAltNames?: unknown[]; httpsRedirect?: unknown; credentialName?: unknown } | undefined;
    if (tls) {
      const tPath = [...p, 'tls'];
      if (tls.subjectAltNames?.length)
        ctx.error(sc, [...tPath, 'subjectAltNames'], 'sidecar: subjectAltNames is not supported in ingress tls');
      if (tls.httpsRedirect === true)
        ctx.error(sc, [...tPath, 'httpsRedirect'], 'sidecar: httpsRedirect is not supported');
      if (tls.credentialName !== undefined && tls.credentialName !== '')
        ctx.error(sc, [...tPath, 'credentialName'], 'sidecar: credentialName is not currently supported');
      if (tls.mode === 'ISTIO_MUTUAL' || tls.mode === 'AUTO_PASSTHROUGH')
        ctx.error(
          sc,
          [...tPath, 'mode'],
          `configuration is invalid: cannot set mode to ${tls.mode} in sidecar ingress tls`
        );
      if (!['https', 'tls'].includes((protocol ?? '').toLowerCase()))
        ctx.error(sc, tPath, 'server cannot have TLS settings for non HTTPS/TLS ports');
      ctx.report(
        sc,
        'warning',
        IstioCodes.NOT_ENFORCED,
        tPath,
        `ingress tls (TLS termination in the sidecar) is kept but not enforced by localmesh: port ${number}'s bytes go to the app as TCP, still encrypted`
      );
    }
    const pool = l.connectionPool;
    if (pool) {
      const cPath = [...p, 'connectionPool'];
      checkConnectionPool(ctx, sc, pool, cPath);
      if (pool.http && listenerProtocol(protocol) !== 'http')
        ctx.report(
          sc,
          'warning',
          IstioCodes.SCHEMA,
          [...cPath, 'http'],
          `sidecar: HTTP connection pool settings are configured for port ${number} (${JSON.stringify(name ?? '')}) but its protocol is not HTTP (${protocol ?? ''}); only TCP settings will apply`
        );
      const unenforced = unenforcedInbound(pool);
      if (unenforced.length > 0)
        ctx.report(
          sc,
          'warning',
          IstioCodes.NOT_ENFORCED,
          cPath,
          `kept but not enforced by localmesh yet: ingress connectionPool ${unenforced.join(', ')}`
        );
    }
  });
}

/**
 * A Sidecar ingress listener no instance takes configures nothing: its port is neither the port of an instance of a
 * workload (with a sidecar) the Sidecar applies to nor, for an instance no listener names by its own port, the
 * service's port (sidecar-ingress.ts, listenerFor). IST0101 as a warning: the port it names is not found there, and
 * istiod would accept it. Left out: a port already used by an earlier listener (an error of its own), and a mesh file
 * that lost services to errors (their workloads are unknown).
 */
function checkSidecarIngressUse(ctx: Ctx, sc: IstioResource<SidecarSpec>): void {
  const listeners = sc.spec.ingress ?? [];
  if (listeners.length === 0 || ctx.unreadable.size > 0) return;
  const uses = ctx.ingressUses().filter((u) => u.sidecar === sc);
  const taken = new Set(uses.map((u) => u.listener));
  const instancePorts = [...new Set(uses.map((u) => u.instance.port))].sort((a, b) => a - b);
  const servicePorts = [...new Set(uses.flatMap((u) => u.servicePorts))].sort((a, b) => a - b);
  listeners.forEach((l, k) => {
    const number = l.port.number;
    if (taken.has(k) || listeners.findIndex((o) => o.port.number === number) !== k) return;
    const why =
      uses.length === 0
        ? 'this Sidecar applies to no workload of the mesh that has a sidecar'
        : servicePorts.includes(number)
          ? `it is the service's port, but each instance's own port (${instancePorts.join(', ')}) has a listener, which comes first`
          : `it is neither the port of an instance this Sidecar applies to (${instancePorts.join(', ')}) nor their service's port (${servicePorts.join(', ')})`;
    ctx.report(
      sc,
      'warning',
      IstioCodes.REFERENCE_NOT_FOUND,
      ['spec', 'ingress', k, 'port', 'number'],
      `ingress listener port ${number} matches no instance: ${why}, so the listener configures nothing`
    );
  });
}

function checkSidecar(ctx: Ctx, sc: IstioResource<SidecarSpec>): void {
  checkSidecarShape(ctx, sc);
  const ws = (sc.spec as { workloadSelector?: { labels?: Record<string, string> } }).workloadSelector;
  if (ws) checkSelector(ctx, sc, ws.labels, ['spec', 'workloadSelector', 'labels']);
  const pool = sc.spec.inboundConnectionPool;
  if (pool) checkConnectionPool(ctx, sc, pool, ['spec', 'inboundConnectionPool']);
  const unenforced = unenforcedInbound(pool);
  if (unenforced.length > 0)
    ctx.report(
      sc,
      'warning',
      IstioCodes.NOT_ENFORCED,
      ['spec', 'inboundConnectionPool'],
      `kept but not enforced by localmesh yet: inboundConnectionPool ${unenforced.join(', ')} (enforced: tcp.maxConnections, tcp.maxConnectionDuration, tcp.idleTimeout, http.http1MaxPendingRequests, http.http2MaxRequests, http.maxRequestsPerConnection, http.idleTimeout)`
    );
  checkSidecarIngress(ctx, sc);
  checkSidecarIngressUse(ctx, sc);
  sc.spec.egress?.forEach((eg, k) =>
    eg.hosts.forEach((h, m) => {
      const p = ['spec', 'egress', k, 'hosts', m];
      const slash = h.indexOf('/');
      if (slash < 0 || h.indexOf('/', slash + 1) >= 0) {
        ctx.error(
          sc,
          p,
          `egress host "${h}" must be written "namespace/host", e.g. "./${h}" (this namespace) or "*/${h}" (any namespace)`
        );
        return;
      }
      const ns = h.slice(0, slash);
      const host = h.slice(slash + 1);
      if (!isEgressNamespace(ns))
        ctx.error(sc, p, `egress host "${h}": "${ns}" is not a namespace; use a namespace name, ".", "~" or "*"`);
      else if (!isEgressHost(host))
        ctx.error(sc, p, `egress host "${h}": "${host}" is not a host name; use a DNS name, "*.suffix" or "*"`);
    })
  );
}
