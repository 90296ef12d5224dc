/**
 * The service registry built from the mesh file and ServiceEntries: which hosts exist, which workloads and
 * instances serve them, and where every sidecar listens. Immutable per config version.
 */
import type { MeshFile } from '../contract/mesh-schema.js';
import type { IstioResource, ServiceEntrySpec } from '../contract/istio-schema.js';
import { isIP } from 'node:net';
import { CLUSTER_DOMAIN, authorityHostToFqdn, hostMatches, splitAuthority } from './config/hosts.js';

export interface InstanceInfo {
  /** As written: "127.0.0.1:19081". */
  address: string;
  host: string;
  port: number;
  /** Stable key: "<workload>#<index>". */
  key: string;
}

export interface WorkloadInfo {
  name: string;
  service: string;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  sidecar: boolean;
  instances: InstanceInfo[];
}

export interface ServiceEndpoint {
  /** Where a client sidecar connects to reach it (resolved against listener ports at request time). */
  host: string;
  port: number;
  labels: Record<string, string>;
  /** Workload + instance for mesh endpoints; undefined for ServiceEntry endpoints. */
  workload?: WorkloadInfo;
  instance?: InstanceInfo;
  /**
   * The ServiceEntry port this endpoint serves (an entry's `endpoints` are listed once per port, at that port's
   * target): Istio's cluster `outbound|<port>||<host>` holds only that port's endpoints. Unset: every port.
   */
  servicePort?: number;
}

export interface ServiceInfo {
  /** FQDN: reviews.default.svc.cluster.local, or a ServiceEntry host. */
  fqdn: string;
  /** Short name for metrics/env (`reviews`), or the SE host. */
  name: string;
  namespace: string;
  ports: number[];
  kind: 'mesh' | 'service-entry';
  /** MESH_EXTERNAL service entries never get mTLS; kept for the security issue. */
  external: boolean;
  resolution: 'STATIC' | 'DNS' | 'NONE' | 'MESH';
  endpoints: ServiceEndpoint[];
  /** For DNS ServiceEntries without endpoints: connect to the host itself. */
  dnsHost?: string;
  /** A ServiceEntry's `targetPort` per port number, where it sets one (where a DNS entry's host is reached). */
  targetPorts?: Map<number, number>;
  /**
   * A ServiceEntry's ports declared with a protocol that is not HTTP (TCP, TLS, HTTPS, ...): Istio builds no HTTP
   * routes for them, so a VirtualService's http rules do not apply there.
   */
  opaquePorts?: Set<number>;
  /**
   * A ServiceEntry's ports declared TLS or HTTPS: Istio routes a connection there by the VirtualService's `tls` routes
   * (the SNI of its ClientHello) and not by its `tcp` routes (pilot's buildSidecarOutboundTLSFilterChainOpts).
   */
  tlsPorts?: Set<number>;
  /** A ServiceEntry's ports declared HTTP, HTTP2, GRPC...: HTTP routing only (no `tcp` or `tls` routes there). */
  httpPorts?: Set<number>;
  /** A ServiceEntry's `addresses` that are single IPs (what the app's DNS would answer for it). */
  addresses?: string[];
  /**
   * Later ServiceEntries for the same host that could not be merged into this one (another namespace, exportTo,
   * resolution or labels), in creation order: a caller that does not see this one may see one of them.
   */
  alternates?: ServiceInfo[];
  /** A ServiceEntry's exportTo (namespaces that see it; "*" all, "." its own); mesh services are visible to all. */
  exportTo?: string[];
  /** A mesh service's port protocol (spec.services[].protocol): auto-detected, HTTP, or a byte stream. */
  protocol?: 'auto' | 'http' | 'tcp';
  /**
   * A ServiceEntry's subjectAltNames: the names a client sidecar verifies in the server's certificate when it
   * originates TLS to it and the DestinationRule names none (Istio counts them among the service's accounts).
   */
  subjectAltNames?: string[];
}

export interface Registry {
  services: ServiceInfo[];
  workloads: WorkloadInfo[];
  workloadByName: Map<string, WorkloadInfo>;
  serviceByFqdn: Map<string, ServiceInfo>;
  /**
   * Envoy's inbound cluster of a flow a Sidecar's ingress listener delivered, by `<workload> <endpoint>`
   * (`inbound|<port.number>||`, InboundPassthroughCluster); set by buildSnapshot only when some Sidecar has ingress.
   */
  inboundClusters?: Map<string, string>;
  /** Find the service a request authority names, as seen from a caller in `callerNs`. */
  resolveAuthority(authority: string, callerNs: string): { service: ServiceInfo; port: number } | undefined;
}

export function buildRegistry(mesh: MeshFile, resources: IstioResource[]): Registry {
  const services: ServiceInfo[] = [];
  const workloads: WorkloadInfo[] = [];
  for (const svc of mesh.spec.services) {
    const namespace = svc.namespace ?? mesh.spec.namespace;
    const fqdn = `${svc.name}.${namespace}.${CLUSTER_DOMAIN}`;
    const endpoints: ServiceEndpoint[] = [];
    for (const w of svc.workloads) {
      const info: WorkloadInfo = {
        name: w.name,
        service: svc.name,
        namespace,
        labels: w.labels,
        serviceAccount: w.serviceAccount,
        sidecar: w.sidecar,
        instances: w.instances.map((address, i) => {
          const { host, port } = splitAuthority(address);
          return {
            address,
            host: host === 'localhost' ? '127.0.0.1' : host.replace(/^\[|\]$/g, ''),
            port: port!,
            key: `${w.name}#${i}`
          };
        })
      };
      workloads.push(info);
      for (const inst of info.instances) {
        endpoints.push({ host: inst.host, port: inst.port, labels: w.labels, workload: info, instance: inst });
      }
    }
    services.push({
      fqdn,
      name: svc.name,
      namespace,
      ports: [svc.port],
      protocol: svc.protocol,
      kind: 'mesh',
      external: false,
      resolution: 'MESH',
      endpoints
    });
  }
  const entryOf = new Map<ServiceInfo, IstioResource>();
  for (const r of resources) {
    if (r.kind !== 'ServiceEntry') continue;
    const spec = r.spec as ServiceEntrySpec;
    const ports = (spec.ports ?? []).map((p) => p.number);
    // NONE when unset, as in Istio's API (the original destination)
    const resolution =
      spec.resolution === 'STATIC'
        ? 'STATIC'
        : spec.resolution === 'DNS' || spec.resolution === 'DNS_ROUND_ROBIN'
          ? 'DNS'
          : 'NONE';
    for (const h of spec.hosts) {
      const host = h.toLowerCase();
      const earlier = services.find((s) => s.fqdn === host);
      const endpoints: ServiceEndpoint[] = [];
      const selector = spec.workloadSelector?.labels;
      if (selector) {
        // the mesh's workloads in the entry's namespace whose labels match, at their own instances (ports map by
        // the instance: a localmesh instance is one address)
        for (const w of workloads) {
          if (w.namespace !== r.namespace || !labelsMatch(selector, w.labels)) continue;
          for (const inst of w.instances)
            endpoints.push({ host: inst.host, port: inst.port, labels: w.labels, workload: w, instance: inst });
        }
      }
      for (const ep of spec.endpoints ?? []) {
        for (const sp of spec.ports ?? []) {
          const portName = sp.name ?? '';
          const port = ep.ports?.[portName] ?? sp.targetPort ?? sp.number;
          endpoints.push({ host: ep.address ?? host, port, labels: ep.labels ?? {}, servicePort: sp.number });
        }
      }
      // another entry for the host: Istio's sidecar scope merges entries of one namespace with the same resolution,
      // exportTo and labels (canMergeServices) -- each port its own cluster with that entry's endpoints; one it
      // cannot merge is another variant of the host, which a caller sees in place of the first when only it is
      // exported there (a mesh service's name is never shared)
      const variants = earlier ? [earlier, ...(earlier.alternates ?? [])] : [];
      const into = variants.find((v) => {
        const first = entryOf.get(v);
        return first !== undefined && canMergeEntries(first, r, v.resolution, resolution);
      });
      if (into) {
        const added = (spec.ports ?? []).map((p) => p.number).filter((n) => !into.ports.includes(n));
        const targets = new Map(
          (spec.ports ?? []).flatMap((p) => (p.targetPort !== undefined ? [[p.number, p.targetPort] as const] : []))
        );
        // from now on every endpoint names its port: each entry's endpoints serve only that entry's ports
        into.endpoints = [
          ...endpointsPerPort(into.endpoints, into.ports, into.dnsHost, into.targetPorts),
          ...endpointsPerPort(endpoints, added, resolution === 'DNS' ? host : undefined, targets)
        ];
        into.ports.push(...added);
        for (const p of opaquePortsOf(spec) ?? []) if (added.includes(p)) (into.opaquePorts ??= new Set()).add(p);
        for (const p of tlsPortsOf(spec) ?? []) if (added.includes(p)) (into.tlsPorts ??= new Set()).add(p);
        for (const p of httpPortsOf(spec) ?? []) if (added.includes(p)) (into.httpPorts ??= new Set()).add(p);
        // still the DNS name itself for subsets (which then take every endpoint, as before the merge)
        into.dnsHost ??= resolution === 'DNS' && endpoints.length === 0 ? host : undefined;
        continue;
      }
      if (earlier && earlier.kind === 'mesh') continue;
      const svc: ServiceInfo = {
        fqdn: host,
        name: host,
        namespace: r.namespace,
        ports,
        kind: 'service-entry',
        external: (spec.location ?? 'MESH_EXTERNAL') === 'MESH_EXTERNAL',
        resolution,
        endpoints,
        dnsHost: resolution === 'DNS' && endpoints.length === 0 ? host : undefined,
        targetPorts: new Map(
          (spec.ports ?? []).flatMap((p) => (p.targetPort !== undefined ? [[p.number, p.targetPort] as const] : []))
        ),
        exportTo: spec.exportTo,
        opaquePorts: opaquePortsOf(spec),
        tlsPorts: tlsPortsOf(spec),
        httpPorts: httpPortsOf(spec),
        addresses: spec.addresses?.filter((a) => !a.includes('/')),
        subjectAltNames: spec.subjectAltNames?.length ? spec.subjectAltNames : undefined
      };
      entryOf.set(svc, r);
      if (earlier) (earlier.alternates ??= []).push(svc);
      else services.push(svc);
    }
  }
  const serviceByFqdn = new Map(services.map((s) => [s.fqdn, s]));
  // a ServiceEntry's addresses (VIPs; CIDR ranges are left out) name it as its hosts do
  const serviceByAddress = new Map<string, ServiceInfo>();
  for (const r of resources) {
    if (r.kind !== 'ServiceEntry') continue;
    const spec = r.spec as ServiceEntrySpec;
    const svc = serviceByFqdn.get(spec.hosts[0]!.toLowerCase());
    if (!svc) continue;
    for (const a of spec.addresses ?? [])
      if (!a.includes('/') && !serviceByAddress.has(a)) serviceByAddress.set(a, svc);
  }
  const workloadByName = new Map(workloads.map((w) => [w.name, w]));
  const wildcardEntries = services.filter((s) => s.fqdn.startsWith('*.'));

  function resolveAuthority(authority: string, callerNs: string) {
    const { host, port } = splitAuthority(authority);
    const fqdn = authorityHostToFqdn(host, callerNs);
    let service = serviceByFqdn.get(fqdn) ?? serviceByFqdn.get(host);
    if (!service) service = wildcardEntries.find((s) => hostMatches(s.fqdn, host));
    if (!service && serviceByAddress.size > 0) service = serviceByAddress.get(host.replace(/^\[|\]$/g, ''));
    if (!service) return undefined;
    if (port === undefined) return { service, port: service.ports[0] ?? 80 };
    if (service.ports.length === 0 || service.ports.includes(port)) return { service, port };
    // another variant of the host may declare the port (CallerView.variantOf picks the one a caller sees)
    if (service.alternates?.some((a) => a.ports.includes(port))) return { service, port };
    return undefined;
  }
  return { services, workloads, workloadByName, serviceByFqdn, resolveAuthority };
}

/**
 * The endpoints of `svc` behind its port `port`, as in Istio's cluster `outbound|<port>||<host>`: a ServiceEntry
 * lists each endpoint once per port (at that port's target), and a request to one port never goes to another's.
 * A DNS entry without endpoints is its host itself, at the port's `targetPort` if it sets one.
 */
export function endpointsOn(svc: ServiceInfo, port: number): ServiceEndpoint[] {
  if (svc.kind === 'mesh') return svc.endpoints;
  if (svc.endpoints.length === 0 && svc.dnsHost)
    return [{ host: svc.dnsHost, port: svc.targetPorts?.get(port) ?? port, labels: {}, servicePort: port }];
  if (svc.ports.length <= 1) return svc.endpoints;
  return svc.endpoints.filter((e) => e.servicePort === undefined || e.servicePort === port);
}

/**
 * The endpoint of `svc` (of those `accept` takes) a flow names by its upstream address `at` (`host:port`): the one
 * written so, else, in a DNS entry, one given by name on that port, as the flow records the address its name resolved
 * to (Envoy's STRICT_DNS cluster makes each resolved address a host, with its endpoint's metadata).
 */
export function entryEndpointAt(
  svc: ServiceInfo,
  at: string,
  accept: (e: ServiceEndpoint) => boolean
): ServiceEndpoint | undefined {
  let named: ServiceEndpoint | undefined;
  const port = svc.resolution === 'DNS' ? Number(at.slice(at.lastIndexOf(':') + 1)) : NaN;
  for (const e of svc.endpoints) {
    if (!accept(e)) continue;
    if (`${e.host}:${e.port}` === at) return e;
    if (named === undefined && e.port === port && isIP(e.host) === 0) named = e;
  }
  return named;
}

/** Protocols Istio routes as HTTP (IsHTTPOrSniffed; unset is detected, so HTTP too). */
const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY']);

/** The ports of an entry declared with a protocol that is not HTTP; undefined when there are none. */
function opaquePortsOf(spec: ServiceEntrySpec): Set<number> | undefined {
  const out = (spec.ports ?? []).filter((p) => p.protocol && !HTTP_PROTOCOLS.has(p.protocol.toUpperCase()));
  return out.length > 0 ? new Set(out.map((p) => p.number)) : undefined;
}

/** The ports of an entry declared TLS or HTTPS (Istio's Protocol.IsTLS); undefined when there are none. */
function tlsPortsOf(spec: ServiceEntrySpec): Set<number> | undefined {
  const out = (spec.ports ?? []).filter((p) => ['TLS', 'HTTPS'].includes((p.protocol ?? '').toUpperCase()));
  return out.length > 0 ? new Set(out.map((p) => p.number)) : undefined;
}

/** The ports of an entry declared with an HTTP protocol; undefined when there are none. */
function httpPortsOf(spec: ServiceEntrySpec): Set<number> | undefined {
  const out = (spec.ports ?? []).filter((p) => p.protocol && HTTP_PROTOCOLS.has(p.protocol.toUpperCase()));
  return out.length > 0 ? new Set(out.map((p) => p.number)) : undefined;
}

/**
 * May a later ServiceEntry for a host extend the first one's ports (Istio's canMergeServices): same namespace,
 * resolution, labels and exportTo.
 */
function canMergeEntries(
  first: IstioResource,
  later: IstioResource,
  firstResolution: ServiceInfo['resolution'],
  laterResolution: ServiceInfo['resolution']
): boolean {
  const exportTo = (r: IstioResource) => [...new Set((r.spec as ServiceEntrySpec).exportTo ?? ['*'])].sort().join();
  const labels = (r: IstioResource) =>
    Object.keys(r.labels)
      .sort()
      .map((k) => `${k}=${r.labels[k]}`)
      .join();
  return (
    first.namespace === later.namespace &&
    firstResolution === laterResolution &&
    exportTo(first) === exportTo(later) &&
    labels(first) === labels(later)
  );
}

/**
 * `endpoints` on each of `ports`, each naming its port (as endpointsOn reads them); a DNS entry without endpoints is
 * its host itself, at the port's target.
 */
function endpointsPerPort(
  endpoints: ServiceEndpoint[],
  ports: number[],
  dnsHost: string | undefined,
  targetPorts: Map<number, number> | undefined
): ServiceEndpoint[] {
  if (endpoints.length === 0 && dnsHost)
    return ports.map((port) => ({
      host: dnsHost,
      port: targetPorts?.get(port) ?? port,
      labels: {},
      servicePort: port
    }));
  return ports.flatMap((port) =>
    endpoints
      .filter((e) => e.servicePort === undefined || e.servicePort === port)
      .map((e) => (e.servicePort === port ? e : { ...e, servicePort: port }))
  );
}

/** Do `labels` carry every key/value of `selector`? */
export function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}
