/**
 * Istio's standard metrics (istio-semantics §3) from the flows the sidecars finish: istio_requests_total and the
 * duration / request-bytes / response-bytes histograms, one sample per reporting proxy, with Istio's label names in
 * the order its stats filter emits them and its value rules (unknown / latest / "-" / connection_security_policy).
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { FlowRecord } from '../../contract/api.js';
import type { Registry as MeshRegistry, WorkloadInfo } from '../registry.js';
import { parseServiceFqdn } from '../config/hosts.js';

export const LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy'
] as const;

type Labels = Record<(typeof LABELS)[number], string>;

/** Envoy's default histogram buckets (ms for durations, bytes for sizes). */
export const BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

const CLUSTER = 'Kubernetes';

function headerBytes(h: Record<string, string | string[]>): number {
  let n = 0;
  for (const [k, v] of Object.entries(h)) for (const x of Array.isArray(v) ? v : [v]) n += k.length + x.length + 4;
  return n;
}

export class MeshMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly requestBytes: Histogram<string>;
  private readonly responseBytes: Histogram<string>;

  constructor() {
    const labelNames = [...LABELS];
    const registers = [this.registry];
    this.requests = new Counter({ name: 'istio_requests_total', help: 'Requests reported by a sidecar', labelNames, registers });
    this.duration = new Histogram({ name: 'istio_request_duration_milliseconds', help: 'Request duration seen by a sidecar', labelNames, buckets: BUCKETS, registers });
    this.requestBytes = new Histogram({ name: 'istio_request_bytes', help: 'Request size (headers and body)', labelNames, buckets: BUCKETS, registers });
    this.responseBytes = new Histogram({ name: 'istio_response_bytes', help: 'Response size (headers and body)', labelNames, buckets: BUCKETS, registers });
  }

  record(f: FlowRecord, reg: MeshRegistry, sizes: { request: number; response: number }): void {
    const l = labelsFor(f, reg);
    this.requests.inc(l);
    this.duration.observe(l, f.durationMs);
    this.requestBytes.observe(l, sizes.request);
    this.responseBytes.observe(l, sizes.response);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function side(w: WorkloadInfo | undefined, principal: string | null | undefined) {
  const app = w?.labels.app ?? 'unknown';
  return {
    workload: w?.name ?? 'unknown',
    namespace: w?.namespace ?? 'unknown',
    principal: principal ?? 'unknown',
    app,
    version: w?.labels.version ?? 'unknown',
    canonicalService: w?.labels['service.istio.io/canonical-name'] ?? w?.labels.app ?? 'unknown',
    canonicalRevision: w?.labels['service.istio.io/canonical-revision'] ?? w?.labels.version ?? 'latest'
  };
}

export function labelsFor(f: FlowRecord, reg: MeshRegistry): Labels {
  const src = side(f.source ? reg.workloadByName.get(f.source) : undefined, f.sourcePrincipal);
  const dst = side(f.destination ? reg.workloadByName.get(f.destination) : undefined, f.destinationPrincipal);
  const fqdn = f.destinationService ?? 'unknown';
  const parsed = parseServiceFqdn(fqdn);
  const svc = reg.serviceByFqdn.get(fqdn);
  const special = fqdn === 'PassthroughCluster' || fqdn === 'BlackHoleCluster';
  const ct = f.requestHeaders['content-type'];
  const grpc = typeof ct === 'string' && ct.startsWith('application/grpc');
  const grpcStatus = f.responseHeaders['grpc-status'];
  return {
    reporter: f.reporter,
    source_workload: src.workload,
    source_canonical_service: src.canonicalService,
    source_canonical_revision: src.canonicalRevision,
    source_workload_namespace: src.namespace,
    source_principal: src.principal,
    source_app: src.app,
    source_version: src.version,
    source_cluster: f.source ? CLUSTER : 'unknown',
    destination_workload: dst.workload,
    destination_workload_namespace: dst.namespace,
    destination_principal: dst.principal,
    destination_app: dst.app,
    destination_version: dst.version,
    destination_service: special ? 'unknown' : fqdn,
    destination_canonical_service: dst.canonicalService,
    destination_canonical_revision: dst.canonicalRevision,
    destination_service_name: special ? fqdn : (parsed?.name ?? svc?.name ?? fqdn),
    destination_service_namespace: parsed?.namespace ?? svc?.namespace ?? 'unknown',
    destination_cluster: f.destination ? CLUSTER : 'unknown',
    request_protocol: grpc ? 'grpc' : 'http',
    response_code: String(f.status ?? 0),
    grpc_response_status: grpc && typeof grpcStatus === 'string' ? grpcStatus : '',
    response_flags: f.flags || '-',
    connection_security_policy: f.reporter === 'source' ? 'unknown' : f.connectionSecurity === 'mutual_tls' ? 'mutual_tls' : 'none'
  };
}

export function wireSizes(f: FlowRecord): { request: number; response: number } {
  return {
    request: headerBytes(f.requestHeaders) + (f.requestBody?.size ?? 0),
    response: headerBytes(f.responseHeaders) + (f.responseBody?.size ?? 0)
  };
}
