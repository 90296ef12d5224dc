/**
 * A Sidecar resource's `ingress` listeners (istio-semantics §1.6: explicit inbound listeners), resolved per instance
 * once per config version. As istiod builds them (pilot's listener_inbound.go buildInboundChainConfigs and
 * cluster_builder.go buildInboundClustersFromSidecar):
 * - a Sidecar with ingress listeners replaces the inbound chains the Service's ports would give the workload: a
 *   listener takes the traffic addressed to its `port.number` (the target port: here the instance's port, or else
 *   the service's port, see ingressOf) into
 *   cluster `inbound|<number>||`, whose endpoint is `defaultEndpoint` (`127.0.0.1:<p>` / `[::1]:<p>`: localhost;
 *   `0.0.0.0:<p>` / `[::]:<p>`: the instance's own address; unset or `:<p>`: the original destination, the
 *   instance), handled as HTTP or TCP as `port.protocol` says;
 * - a port no listener names goes by the virtual inbound listener's passthrough chains (InboundPassthroughCluster:
 *   the original destination, the protocol detected);
 * - a listener's `connectionPool` replaces the Sidecar's `inboundConnectionPool` for its port.
 */
import type { IstioIngressListener, IstioResource, SidecarSpec } from '../../contract/istio-schema.js';
import type { InstanceInfo, Registry, WorkloadInfo } from '../registry.js';
import { sidecarFor } from './compile.js';

/** How an inbound sidecar treats one instance's port under a Sidecar with ingress listeners. */
export interface InboundIngress {
  /** Where the app is reached (the defaultEndpoint, or the instance itself). */
  host: string;
  port: number;
  /** `host:port` as flows and the access log show it (`[::1]:8080` for IPv6). */
  address: string;
  /** The listener's protocol: HTTP chains, TCP chains, or detected (passthrough, or a protocol Istio leaves to it). */
  protocol: 'http' | 'tcp' | 'auto';
  /** Envoy's cluster: `inbound|<port.number>||`, or `InboundPassthroughCluster` for a port no listener names. */
  cluster: string;
  /** The listener's own connectionPool (replacing inboundConnectionPool for this port); undefined: none. */
  connectionPool?: unknown;
  /** The Sidecar (`<ns>/<name>`) and its listener index, for decision notes. */
  source: string;
}

/** Istio's protocol.Parse, folded to what decides the inbound filter chains (ModelProtocolToListenerProtocol). */
export function listenerProtocol(p: string | undefined): 'http' | 'tcp' | 'auto' {
  switch ((p ?? '').toLowerCase()) {
    case 'http':
    case 'http2':
    case 'grpc':
    case 'grpc-web':
    case 'http_proxy':
      return 'http';
    case 'tcp':
    case 'https':
    case 'tls':
    case 'mongo':
    case 'redis':
    case 'mysql':
      return 'tcp';
    default:
      return 'auto';
  }
}

/** The protocol names Istio's webhook accepts (protocol.Parse other than Unsupported). */
export const ISTIO_PROTOCOLS = new Set([
  'http',
  'http2',
  'grpc',
  'grpc-web',
  'http_proxy',
  'tcp',
  'https',
  'tls',
  'mongo',
  'redis',
  'mysql',
  'udp'
]);

/** `host:port` of a defaultEndpoint that is an IP address (`[::1]:8080` → {host: '::1', port: 8080}); else null. */
export function splitEndpoint(ep: string): { host: string; port: string } | null {
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(ep) ?? /^([^:[\]]*):([^:]*)$/.exec(ep);
  return m ? { host: m[1]!, port: m[2]! } : null;
}

const bracket = (host: string) => (host.includes(':') ? `[${host}]` : host);

/**
 * Where a listener's defaultEndpoint delivers for `instance`: localhost, the instance's own address (0.0.0.0, [::]),
 * or the original destination (unset, `:<port>`, or what localmesh cannot reach: a unix socket).
 */
function endpointOf(l: IstioIngressListener, instance: InstanceInfo): { host: string; port: number } {
  const original = { host: instance.host, port: instance.port };
  const ep = l.defaultEndpoint;
  if (!ep || ep.startsWith('unix://')) return original;
  const parts = splitEndpoint(ep);
  const port = parts ? Number(parts.port) : NaN;
  if (!parts || !Number.isInteger(port) || port < 1 || port > 65535) return original;
  const v6 = instance.host.includes(':');
  switch (parts.host) {
    case '127.0.0.1':
      return { host: '127.0.0.1', port };
    case '::1':
      return { host: '::1', port };
    // the pod's IPv4 address, else localhost; the pod's IPv6 address, else the IPv4 one
    case '0.0.0.0':
      return { host: v6 ? '127.0.0.1' : instance.host, port };
    case '::':
      return { host: instance.host, port };
    default:
      return original;
  }
}

/**
 * The listener (index) for an instance: the one whose port is the instance's port (the port the app receives on),
 * or else the first one on its service's port: a Sidecar written for the cluster names the container port, which a
 * service's port usually equals there (9080 in bookinfo), while here the app listens on a local port of its own
 * (19080) behind the service port. The first listener for a port wins, as istiod keeps the first chain for a target
 * port. -1: none (the passthrough chain).
 */
export function listenerFor(listeners: IstioIngressListener[], instancePort: number, servicePorts: number[]): number {
  const k = listeners.findIndex((l) => l.port.number === instancePort);
  return k >= 0 ? k : listeners.findIndex((l) => servicePorts.includes(l.port.number));
}

/** An instance a Sidecar's ingress listeners configure, and the listener it takes (-1: none, passthrough). */
export interface IngressUse {
  sidecar: IstioResource<SidecarSpec>;
  workload: WorkloadInfo;
  instance: InstanceInfo;
  /** The ports of the workload's service (a listener on one of them takes an instance no listener names). */
  servicePorts: number[];
  listener: number;
}

/**
 * Every instance (of a workload with a sidecar) whose Sidecar has ingress listeners, with the listener it takes:
 * what inboundIngress enforces, and what validate reads to warn of a listener no instance takes.
 */
export function ingressUses(resources: IstioResource[], registry: Registry): IngressUse[] {
  const out: IngressUse[] = [];
  if (!resources.some((r) => r.kind === 'Sidecar' && (r.spec as SidecarSpec).ingress?.length)) return out;
  for (const workload of registry.workloads) {
    if (!workload.sidecar) continue;
    const sidecar = sidecarFor(resources, workload) as IstioResource<SidecarSpec> | undefined;
    const listeners = sidecar?.spec.ingress ?? [];
    if (!sidecar || listeners.length === 0) continue;
    const servicePorts =
      registry.serviceByFqdn.get(`${workload.service}.${workload.namespace}.svc.cluster.local`)?.ports ?? [];
    for (const instance of workload.instances)
      out.push({
        sidecar,
        workload,
        instance,
        servicePorts,
        listener: listenerFor(listeners, instance.port, servicePorts)
      });
  }
  return out;
}

/** How one instance is served under its Sidecar's ingress listeners. */
function ingressOf({ sidecar: sc, instance: inst, listener: k }: IngressUse): InboundIngress {
  const l = sc.spec.ingress![k];
  if (!l)
    return {
      host: inst.host,
      port: inst.port,
      address: `${bracket(inst.host)}:${inst.port}`,
      protocol: 'auto',
      cluster: 'InboundPassthroughCluster',
      source: `${sc.namespace}/${sc.name} (no ingress listener for port ${inst.port}: passthrough)`
    };
  const to = endpointOf(l, inst);
  return {
    ...to,
    address: `${bracket(to.host)}:${to.port}`,
    protocol: listenerProtocol(l.port.protocol),
    cluster: `inbound|${l.port.number}||`,
    connectionPool: l.connectionPool,
    source: `${sc.namespace}/${sc.name} ingress[${k}]`
  };
}

/** Every instance a Sidecar's ingress listeners configure, by instance key (none: the default inbound chain). */
export function inboundIngress(resources: IstioResource[], registry: Registry): Map<string, InboundIngress> {
  return new Map(ingressUses(resources, registry).map((u) => [u.instance.key, ingressOf(u)]));
}
