/**
 * One config version: the registry, the compiled VirtualServices and DestinationRules, and per-caller route
 * lookups cached lazily. Requests read the snapshot once when they start, so in-flight requests finish on the
 * config they started with.
 */
import type { MeshFile } from '../contract/mesh-schema.js';
import type { IstioResource } from '../contract/istio-schema.js';
import { buildRegistry, type Registry, type ServiceInfo, type WorkloadInfo } from './registry.js';
import {
  compileVirtualServices,
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
  /** Does this caller's sidecar know the service (ServiceEntry exportTo, the Sidecar's egress hosts)? */
  sees(service: ServiceInfo): boolean;
  /** The VS (first in creation order) that applies to `host` on service port `port` for this caller; cached. */
  routesFor(host: string, port: number): HostRoutes | undefined;
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
  callerView(workload: string | undefined): CallerView;
}

export function buildSnapshot(version: number, mesh: MeshFile, resources: IstioResource[]): Snapshot {
  const registry = buildRegistry(mesh, resources);
  const compat = compatFor(mesh.spec.compatibilityVersion);
  const virtualServices = compileVirtualServices(resources, compat).filter((v) => v.appliesToMesh);
  const destinationRules = mergeDestinationRules(resources);
  const views = new Map<string, CallerView>();

  function makeView(caller: WorkloadInfo | undefined): CallerView {
    const ns = caller?.namespace ?? mesh.spec.namespace;
    const cache = new Map<string, Map<number, HostRoutes | undefined>>();
    // exact host matches beat wildcards, as in Envoy's domain matching
    const visible = virtualServices.filter((v) => visibleTo(v.exportTo, v.namespace, ns));
    return {
      caller,
      outboundMode: outboundMode(resources, caller, mesh.spec.outboundTrafficPolicy.mode),
      sees: serviceVisibility(resources, caller, ns),
      routesFor(host, port) {
        let byPort = cache.get(host);
        if (!byPort) cache.set(host, (byPort = new Map()));
        else if (byPort.has(port)) return byPort.get(port);
        let found: HostRoutes | undefined;
        // the VirtualServices naming the host exactly, then the wildcards by the longest matching pattern (Envoy's
        // domain match); one that gives this caller no HTTP route makes no virtual host and the next one applies
        const exact = visible.filter((v) => v.hosts.includes(host));
        const longest = (v: CompiledVirtualService) =>
          Math.max(...v.hosts.filter((h) => h !== host && hostMatches(h, host)).map((h) => h.length), -1);
        const wildcards = visible
          .map((v) => ({ v, len: longest(v) }))
          .filter((w) => w.len >= 0 && !exact.includes(w.v))
          .sort((a, b) => b.len - a.len)
          .map((w) => w.v);
        for (const vs of [...exact, ...wildcards]) {
          const routes = routesForCaller(vs, caller, port);
          if (routes) {
            found = { vs, routes };
            break;
          }
        }
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
