/**
 * One config version: the registry, the compiled VirtualServices and DestinationRules, and per-caller route
 * lookups cached lazily. Requests read the snapshot once when they start, so in-flight requests finish on the
 * config they started with.
 */
import type { MeshFile } from '../contract/mesh-schema.js';
import type { IstioResource } from '../contract/istio-schema.js';
import { inboundIngress, type InboundIngress } from './config/sidecar-ingress.js';
import { buildRegistry, type Registry, type ServiceInfo, type WorkloadInfo } from './registry.js';
import {
  compileVirtualServices,
  hostsOverlap,
  virtualServiceImports,
  mergeDestinationRules,
  outboundMode,
  routesForCaller,
  serviceVisibility,
  visibleTo,
  type CompiledRoute,
  type CompiledVirtualService,
  type MergedDestinationRule
} from './config/compile.js';
import { hostMatches } from './config/hosts.js';
import { compatFor, type Compat } from './config/compat.js';

export interface HostRoutes {
  vs: CompiledVirtualService;
  routes: CompiledRoute[];
}

export interface CallerView {
  caller: WorkloadInfo | undefined;
  outboundMode: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /**
   * Does this caller's sidecar know the service (ServiceEntry exportTo, the Sidecar's egress hosts): on `port`, by
   * the egress listener for that port (else the catch-all one); without a port, on any of them?
   */
  sees(service: ServiceInfo, port?: number): boolean;
  /**
   * The variant of a host this caller knows (ServiceEntries for one host that do not merge, ServiceInfo.alternates):
   * as Istio lists a namespace's services, those exported to its namespace only first, then those exported to it by
   * name, then the public ones, each in creation order; undefined when it knows none.
   */
  variantOf(service: ServiceInfo): ServiceInfo | undefined;
  /** The VS (first in creation order) that applies to `host` on service port `port` for this caller; cached. */
  routesFor(host: string, port: number): HostRoutes | undefined;
  /**
   * The VS that applies to a request's host `host` on `port` by a host of its that names no service this caller
   * knows (`exactOnly`: written as is, no wildcard): Istio makes such hosts virtual hosts of their own, on the HTTP
   * ports of the services the VirtualService names, or on port 80 when it names none. Cached per host and port.
   */
  aliasRoutesFor(host: string, port: number, exactOnly?: boolean): HostRoutes | undefined;
  /** Is `host` a host of that kind, written as is, in some VirtualService of this caller (aliasRoutesFor)? */
  isAliasHost(host: string): boolean;
  /** Does this caller's Sidecar import a VirtualService of this namespace and these (qualified) hosts? */
  importsVirtualService(vs: { namespace: string; hosts: string[] }): boolean;
}

export interface Snapshot {
  version: number;
  mesh: MeshFile;
  /** The Istio release's behaviours the sidecars follow (spec.compatibilityVersion). */
  compat: Compat;
  resources: IstioResource[];
  registry: Registry;
  virtualServices: CompiledVirtualService[];
  destinationRules: MergedDestinationRule[];
  /** Instances whose Sidecar has ingress listeners, by instance key (config/sidecar-ingress.ts); most have none. */
  inboundIngress: Map<string, InboundIngress>;
  callerView(workload: string | undefined): CallerView;
}

/**
 * Envoy's domain match over VirtualServices for `host`: those naming it exactly (`isExact`) in their order, then those
 * with a wildcard pattern matching it, the longest pattern first.
 */
function domainOrder(
  vss: CompiledVirtualService[],
  host: string,
  isExact: (v: CompiledVirtualService) => boolean,
  patterns: (v: CompiledVirtualService) => string[]
): CompiledVirtualService[] {
  const exact = vss.filter(isExact);
  const longest = (v: CompiledVirtualService) =>
    Math.max(
      ...patterns(v)
        .filter((h) => h !== host && hostMatches(h, host))
        .map((h) => h.length),
      -1
    );
  const wildcards = vss
    .map((v) => ({ v, len: longest(v) }))
    .filter((w) => w.len >= 0 && !exact.includes(w.v))
    .sort((a, b) => b.len - a.len)
    .map((w) => w.v);
  return [...exact, ...wildcards];
}

/** A VirtualService's hosts that name no service a caller knows, and the ports they are virtual hosts on. */
interface AliasHosts {
  exact: Set<string>;
  wildcards: string[];
  ports: Set<number>;
}

/**
 * Istio's separateVSHostsAndServices for one caller: a host naming a service it knows (a wildcard: matching one)
 * routes that service; the others are virtual hosts of their own on the services' HTTP ports (a declared `tcp`
 * service has none), or on port 80 when the VirtualService names no service (pilot's "port 80 hack").
 */
function aliasHostsOf(
  vs: CompiledVirtualService,
  registry: Registry,
  sees: (s: ServiceInfo) => boolean,
  variantOf: (s: ServiceInfo) => ServiceInfo | undefined
): AliasHosts {
  const out: AliasHosts = { exact: new Set(), wildcards: [], ports: new Set() };
  let named = false;
  for (const h of vs.hosts) {
    const wild = h.startsWith('*');
    const direct = wild ? undefined : registry.serviceByFqdn.get(h);
    const variant = direct && variantOf(direct);
    const services = wild
      ? registry.services.filter((s) => sees(s) && hostsOverlap(h, s.fqdn))
      : variant
        ? [variant]
        : [];
    if (services.length === 0) {
      if (wild) out.wildcards.push(h);
      else out.exact.add(h);
      continue;
    }
    named = true;
    for (const s of services)
      if (s.protocol !== 'tcp') for (const p of s.ports) if (!s.opaquePorts?.has(p)) out.ports.add(p);
  }
  if (!named || out.ports.size === 0) out.ports.add(80);
  return out;
}

export function buildSnapshot(version: number, mesh: MeshFile, resources: IstioResource[]): Snapshot {
  const registry = buildRegistry(mesh, resources);
  const compat = compatFor(mesh.spec.compatibilityVersion);
  const virtualServices = compileVirtualServices(resources, compat).filter((v) => v.appliesToMesh);
  const destinationRules = mergeDestinationRules(resources);
  const ingress = inboundIngress(resources, registry);
  // the access log names the inbound cluster of a flow delivered by an ingress listener (access-log.ts)
  if (ingress.size > 0) {
    registry.inboundClusters = new Map();
    for (const w of registry.workloads)
      for (const inst of w.instances) {
        const i = ingress.get(inst.key);
        const key = `${w.name} ${i?.address ?? ''}`;
        if (i && !registry.inboundClusters.has(key)) registry.inboundClusters.set(key, i.cluster);
      }
  }
  const views = new Map<string, CallerView>();

  function makeView(caller: WorkloadInfo | undefined): CallerView {
    const ns = caller?.namespace ?? mesh.spec.namespace;
    const cache = new Map<string, Map<number, HostRoutes | undefined>>();
    const aliasCache = new Map<string, HostRoutes | undefined>();
    const imported = virtualServiceImports(resources, caller, ns);
    const visible = virtualServices.filter((v) => visibleTo(v.exportTo, v.namespace, ns) && imported(v));
    const sees = serviceVisibility(resources, caller, ns);
    const variants = new Map<ServiceInfo, ServiceInfo | undefined>();
    const variantOf = (service: ServiceInfo): ServiceInfo | undefined => {
      if (!service.alternates) return sees(service) ? service : undefined;
      if (variants.has(service)) return variants.get(service);
      const rank = (v: ServiceInfo) => {
        const to = v.exportTo ?? ['*'];
        if (v.namespace === ns && to.some((e) => e === '.' || e === ns)) return 0;
        return to.includes(ns) ? 1 : 2;
      };
      const seen = [service, ...service.alternates].filter((s) => sees(s));
      const found = seen.sort((a, b) => rank(a) - rank(b))[0];
      variants.set(service, found);
      return found;
    };
    const aliases = new Map(visible.map((v) => [v, aliasHostsOf(v, registry, sees, variantOf)]));
    const aliasExact = new Set([...aliases.values()].flatMap((a) => [...a.exact]));
    const firstRoutes = (candidates: CompiledVirtualService[], port: number): HostRoutes | undefined => {
      for (const vs of candidates) {
        const routes = routesForCaller(vs, caller, port);
        if (routes) return { vs, routes };
      }
      return undefined;
    };
    return {
      caller,
      outboundMode: outboundMode(resources, caller, mesh.spec.outboundTrafficPolicy.mode),
      sees,
      variantOf,
      importsVirtualService: imported,
      isAliasHost: (host) => aliasExact.has(host),
      aliasRoutesFor(host, port, exactOnly = false) {
        const key = `${exactOnly ? '=' : ''}${port} ${host}`;
        if (aliasCache.has(key)) return aliasCache.get(key);
        const on = visible.filter((v) => aliases.get(v)!.ports.has(port));
        const ordered = domainOrder(
          on,
          host,
          (v) => aliases.get(v)!.exact.has(host),
          (v) => (exactOnly ? [] : aliases.get(v)!.wildcards)
        );
        const found = firstRoutes(ordered, port);
        aliasCache.set(key, found);
        return found;
      },
      routesFor(host, port) {
        let byPort = cache.get(host);
        if (!byPort) cache.set(host, (byPort = new Map()));
        else if (byPort.has(port)) return byPort.get(port);
        // one that gives this caller no HTTP route makes no virtual host and the next one applies
        const ordered = domainOrder(
          visible,
          host,
          (v) => v.hosts.includes(host),
          (v) => v.hosts
        );
        const found = firstRoutes(ordered, port);
        byPort.set(port, found);
        return found;
      }
    };
  }

  return {
    version,
    mesh,
    compat,
    resources,
    registry,
    virtualServices,
    destinationRules,
    inboundIngress: ingress,
    callerView(workload) {
      const key = workload ?? '';
      let v = views.get(key);
      if (!v) {
        v = makeView(workload ? registry.workloadByName.get(workload) : undefined);
        views.set(key, v);
      }
      return v;
    }
  };
}
