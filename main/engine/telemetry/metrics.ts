/**
 * Istio's standard metrics (istio-semantics §3) from the flows the sidecars finish: istio_requests_total and the
 * duration / request-bytes / response-bytes histograms, one sample per reporting proxy, with Istio's label names in
 * the order its stats filter emits them and its value rules (unknown / latest / "-" / connection_security_policy).
 */
import { Registry, type Metric } from 'prom-client';
import type { FlowRecord } from '../../contract/api.js';
import { entryEndpointAt, type Registry as MeshRegistry, type ServiceInfo, type WorkloadInfo } from '../registry.js';
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

/** The TCP metrics' labels: the request labels without the response code and gRPC status (istio_stats on tcp_proxy). */
export const TCP_LABELS = LABELS.filter((l) => l !== 'response_code' && l !== 'grpc_response_status');
type TcpLabels = Omit<Labels, 'response_code' | 'grpc_response_status'>;

/** One opaque TCP connection as a sidecar reports it (sidecar/tcp.ts). */
export interface TcpConnectionReport {
  reporter: 'source' | 'destination';
  source: string | null;
  sourcePrincipal: string | null;
  destination: string | null;
  destinationPrincipal: string | null;
  /** Service FQDN (or PassthroughCluster). */
  destinationService: string;
  connectionSecurity: 'mutual_tls' | 'none';
  /** Envoy's flags for the connection, "-" when none (UF: the upstream connection failed). */
  flags: string;
  /**
   * The `host:port` of the endpoint a client-side connection went to when no workload serves it (a ServiceEntry
   * endpoint): its metadata stands for the peer, as for a request (peerEndpointOf).
   */
  peerEndpoint?: string | null;
}

/** The four TCP counters of one label set. */
export interface TcpSeries {
  opened: { value: number };
  closed: { value: number };
  sent: { value: number };
  received: { value: number };
}

/** Envoy's default histogram buckets (ms for durations, bytes for sizes). */
export const BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000
];

const CLUSTER = 'Kubernetes';

function headerBytes(h: Record<string, string | string[]>): number {
  let n = 0;
  for (const k in h) {
    const v = h[k]!;
    if (Array.isArray(v)) for (const x of v) n += k.length + x.length + 4;
    else n += k.length + v.length + 4;
  }
  return n;
}

/**
 * The series key prom-client gives a label set (`name:value,` over the sorted label names): equal label sets share
 * one series, listed in the order they first appeared.
 */
const SORTED_LABELS = [...LABELS].sort();
function seriesHash(l: Labels): string {
  let h = '';
  for (const k of SORTED_LABELS) h += `${k}:${l[k]},`;
  return h;
}

/** One sample the way prom-client's Registry reads it to write a line of the exposition. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  sharedLabels?: Labels;
  exemplar?: null;
}

/**
 * istio_requests_total: prom-client's counter exposition (the Registry writes the text), counting on a series the
 * caller holds instead of hashing 25 labels per increment.
 */
class FlowCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private series = new Map<string, { value: number; labels: Labels }>();

  constructor(
    readonly name: string,
    readonly help: string
  ) {}

  entry(hash: string, labels: Labels): { value: number; labels: Labels } {
    let e = this.series.get(hash);
    if (!e) this.series.set(hash, (e = { value: 0, labels }));
    return e;
  }

  reset(): void {
    this.series = new Map();
  }

  async get() {
    return {
      help: this.help,
      name: this.name,
      type: this.type,
      values: [...this.series.values()] as Sample[],
      aggregator: this.aggregator
    };
  }
}

interface HistogramEntry {
  labels: Labels;
  /** Observations per bucket (not cumulative); a value above the last bound counts in `count` only. */
  buckets: number[];
  sum: number;
  count: number;
}

/** prom-client's histogram exposition and bucket rule (value ≤ bound), observed on a series the caller holds. */
class FlowHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private series = new Map<string, HistogramEntry>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[]
  ) {}

  entry(hash: string, labels: Labels): HistogramEntry {
    let e = this.series.get(hash);
    if (!e) this.series.set(hash, (e = { labels, buckets: this.upperBounds.map(() => 0), sum: 0, count: 0 }));
    return e;
  }

  observe(e: HistogramEntry, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const b = this.upperBounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        e.buckets[i]!++;
        break;
      }
    }
    e.sum += value;
    e.count += 1;
  }

  reset(): void {
    this.series = new Map();
  }

  async getForPromString() {
    const bucket = `${this.name}_bucket`;
    const values: Sample[] = [];
    for (const e of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        acc += e.buckets[i]!;
        values.push({
          labels: { le: this.upperBounds[i]! },
          sharedLabels: e.labels,
          value: acc,
          metricName: bucket,
          exemplar: null
        });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: e.labels, value: e.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: e.labels, value: e.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: e.labels, value: e.count, metricName: `${this.name}_count`, exemplar: undefined }
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels }
      }))
    };
  }
}

/** What one label set counts into: its series in each of the four metrics. */
interface Series {
  requests: { value: number };
  duration: HistogramEntry;
  requestBytes: HistogramEntry;
  responseBytes: HistogramEntry;
}

const NULL = '\u0002';
/** Envoy's isGrpcRequestHeaders: content-type application/grpc or application/grpc+<codec> (gRPC-Web is http). */
function isGrpc(f: FlowRecord): boolean {
  const ct = f.requestHeaders['content-type'];
  return typeof ct === 'string' && (ct === 'application/grpc' || ct.startsWith('application/grpc+'));
}

/**
 * The Host header that names the service of a flow without a cluster (PassthroughCluster, BlackHoleCluster, or a
 * client-side reply the router gave before any cluster), else undefined: istio_stats falls back to it per request.
 */
function hostOnlyOf(f: FlowRecord): string | undefined {
  const fqdn = f.destinationService;
  if (fqdn === 'PassthroughCluster' || fqdn === 'BlackHoleCluster') return f.authority || 'unknown';
  return f.reporter === 'source' && noCluster(f) ? f.authority || 'unknown' : undefined;
}

/**
 * The endpoint a client-side flow reached when no workload answered it (a ServiceEntry endpoint, the original
 * destination): its metadata may stand for the peer (endpointPeer). A flow with a workload peer is labelled from
 * that workload, whichever of its instances served it, and keeps one series.
 */
function peerEndpointOf(f: FlowRecord): string | null {
  return f.reporter === 'source' && f.destination === null ? (f.endpoint ?? null) : null;
}

/** Every input of labelsFor but the registry, as one string (null kept apart from every string). */
/**
 * A client-side sample whose reply the client's own sidecar made (a reset, a timeout, an overflow): no response came
 * from the callee's sidecar, so no peer metadata was exchanged, and istio_stats reads the peer from the endpoint's
 * metadata (no app or version in it), as for a callee without a sidecar.
 */
function noPeerMetadata(f: FlowRecord): boolean {
  return f.reporter === 'source' && f.localReply !== null;
}

function seriesKey(f: FlowRecord): string {
  const grpc = isGrpc(f);
  const gs = grpc ? f.responseHeaders['grpc-status'] : undefined;
  const grpcPart = grpc ? (typeof gs === 'string' ? `g${gs}` : 'g') : '';
  const host = hostOnlyOf(f);
  return `${f.reporter}\u0001${noPeerMetadata(f) ? 'L' : ''}\u0001${f.source ?? NULL}\u0001${f.sourcePrincipal ?? NULL}\u0001${f.destination ?? NULL}\u0001${f.destinationPrincipal ?? NULL}\u0001${f.destinationService ?? NULL}\u0001${f.status ?? 0}\u0001${f.flags}\u0001${f.connectionSecurity}\u0001${grpcPart}\u0001${host ?? NULL}\u0001${peerEndpointOf(f) ?? NULL}`;
}

export class MeshMetrics {
  readonly registry = new Registry();
  private readonly requests = new FlowCounter('istio_requests_total', 'Requests reported by a sidecar');
  private readonly duration = new FlowHistogram(
    'istio_request_duration_milliseconds',
    'Request duration seen by a sidecar',
    BUCKETS
  );
  private readonly requestBytes = new FlowHistogram('istio_request_bytes', 'Request size (headers and body)', BUCKETS);
  private readonly responseBytes = new FlowHistogram(
    'istio_response_bytes',
    'Response size (headers and body)',
    BUCKETS
  );
  private readonly tcpSent = new FlowCounter('istio_tcp_sent_bytes_total', 'Bytes a sidecar sent downstream on TCP');
  private readonly tcpReceived = new FlowCounter(
    'istio_tcp_received_bytes_total',
    'Bytes a sidecar received from downstream on TCP'
  );
  private readonly tcpOpened = new FlowCounter('istio_tcp_connections_opened_total', 'TCP connections opened');
  private readonly tcpClosed = new FlowCounter('istio_tcp_connections_closed_total', 'TCP connections closed');
  /** Label sets, computed once per distinct flow key under each config's registry (labels read its workloads). */
  private readonly byRegistry = new WeakMap<MeshRegistry, Map<string, Series>>();

  constructor() {
    for (const m of [
      this.requests,
      this.duration,
      this.requestBytes,
      this.responseBytes,
      this.tcpSent,
      this.tcpReceived,
      this.tcpOpened,
      this.tcpClosed
    ])
      this.registry.registerMetric(m as unknown as Metric);
  }

  /** The TCP counters of a connection's label set (the caller counts into them as bytes flow). */
  tcp(c: TcpConnectionReport, reg: MeshRegistry): TcpSeries {
    const l = tcpLabelsFor(c, reg);
    let hash = '';
    for (const k of SORTED_LABELS) if (k in l) hash += `${k}:${l[k as keyof TcpLabels]},`;
    const labels = l as Labels;
    return {
      opened: this.tcpOpened.entry(hash, labels),
      closed: this.tcpClosed.entry(hash, labels),
      sent: this.tcpSent.entry(hash, labels),
      received: this.tcpReceived.entry(hash, labels)
    };
  }

  private series(f: FlowRecord, reg: MeshRegistry): Series {
    let cache = this.byRegistry.get(reg);
    if (!cache) this.byRegistry.set(reg, (cache = new Map()));
    const key = seriesKey(f);
    let s = cache.get(key);
    if (!s) {
      const l = labelsFor(f, reg);
      const hash = seriesHash(l);
      s = {
        requests: this.requests.entry(hash, l),
        duration: this.duration.entry(hash, l),
        requestBytes: this.requestBytes.entry(hash, l),
        responseBytes: this.responseBytes.entry(hash, l)
      };
      cache.set(key, s);
    }
    return s;
  }

  record(f: FlowRecord, reg: MeshRegistry, sizes: { request: number; response: number }): void {
    const s = this.series(f, reg);
    s.requests.value += 1;
    this.duration.observe(s.duration, f.durationMs);
    this.requestBytes.observe(s.requestBytes, sizes.request);
    this.responseBytes.observe(s.responseBytes, sizes.response);
  }

  /** The Prometheus text; a bucket's `le` label last, after Istio's labels, as Envoy writes it (prom-client puts it first). */
  async text(): Promise<string> {
    return leLast(await this.registry.metrics());
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * One end's labels from its workload. `endpointOnly`: a callee without a sidecar, which exchanges no peer metadata;
 * the client's sidecar falls back to the endpoint's metadata (istio/proxy convertEndpointMetadata: workload,
 * namespace, canonical name and revision, cluster), which carries no app or version label.
 */
function side(w: WorkloadInfo | undefined, principal: string | null | undefined, endpointOnly = false) {
  const canonical = w ? canonicalService(w.labels, w.name) : undefined;
  return {
    workload: w?.name ?? 'unknown',
    namespace: w?.namespace ?? 'unknown',
    principal: principal ?? 'unknown',
    app: (endpointOnly ? undefined : w?.labels.app) ?? 'unknown',
    version: (endpointOnly ? undefined : w?.labels.version) ?? 'unknown',
    canonicalService: canonical?.name || 'unknown',
    canonicalRevision: canonical?.revision ?? 'latest'
  };
}

/** The callee's labels from an endpoint's metadata alone (no workload name, app or version in it). */
function endpointSide(ep: EndpointPeer, principal: string | null | undefined): ReturnType<typeof side> {
  return {
    workload: 'unknown',
    namespace: ep.namespace || 'unknown',
    principal: principal ?? 'unknown',
    app: 'unknown',
    version: 'unknown',
    canonicalService: ep.canonicalService || 'unknown',
    canonicalRevision: ep.canonicalRevision || 'latest'
  };
}

/** A client-side local reply the router gave without a cluster: 404 NR, 503 NC, a direct response, a redirect. */
function noCluster(f: FlowRecord): boolean {
  if (f.localReply === null) return false;
  const flags = f.flags.split(',');
  return (
    flags.includes('NR') || flags.includes('NC') || f.localReply === 'direct response' || f.localReply === 'redirect'
  );
}

/**
 * The telemetry metadata pilot puts on a ServiceEntry endpoint (AppendLbEndpointMetadata: "workload;namespace;
 * canonical name;canonical revision;cluster"), which the client's istio_stats reads as the peer when the upstream
 * exchanged none (istio/proxy convertEndpointMetadata). An endpoint written in the entry's `endpoints` gets an empty
 * workload name and namespace (the serviceentry converter builds it with an empty configKey; only pilot's
 * LABEL_CANONICAL_SERVICES_FOR_MESH_EXTERNAL_SERVICE_ENTRIES, off by default, puts the entry's namespace there), the
 * canonical name and revision of its labels (CanonicalService), and the registry's cluster. Empty fields read as
 * unknown (latest for the revision).
 */
interface EndpointPeer {
  namespace: string;
  canonicalService: string;
  canonicalRevision: string;
  cluster: string;
}

/**
 * Istio's CanonicalService(labels, workloadName) (pkg/kube/labels): the name from `service.istio.io/canonical-name`,
 * `app.kubernetes.io/name` or `app`, else the workload's name ('' for an endpoint without one); the revision from
 * `service.istio.io/canonical-revision`, `app.kubernetes.io/version` or `version`, else `latest`.
 */
export function canonicalService(
  labels: Record<string, string>,
  workloadName = ''
): { name: string; revision: string } {
  return {
    name: labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workloadName,
    revision:
      labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest'
  };
}

/** Endpoint peers by entry (a config version's ServiceInfo never changes) and endpoint, null for none. */
const endpointPeers = new WeakMap<ServiceInfo, Map<string, EndpointPeer | null>>();

/**
 * The peer a client sidecar reads from the metadata of `endpoint` of `svc`, when `svc` is a ServiceEntry host whose
 * cluster has endpoints (STATIC, or DNS with endpoints). None for resolution NONE (an ORIGINAL_DST cluster), a DNS
 * entry without endpoints (the host itself, which pilot gives no cluster id), a mesh service, or an endpoint that is
 * not one of the entry's (the original destination).
 */
function endpointPeer(svc: ServiceInfo | undefined, endpoint: string): EndpointPeer | null {
  if (svc?.kind !== 'service-entry' || (svc.resolution !== 'STATIC' && svc.resolution !== 'DNS')) return null;
  let peers = endpointPeers.get(svc);
  if (!peers) endpointPeers.set(svc, (peers = new Map()));
  let peer = peers.get(endpoint);
  if (peer === undefined) {
    // the sidecar names an entry's endpoint host:port (outbound endpointKey), or the address its name resolved to
    const ep = entryEndpointAt(svc, endpoint, (e) => !e.workload);
    const c = ep ? canonicalService(ep.labels) : undefined;
    peer = c ? { namespace: '', canonicalService: c.name, canonicalRevision: c.revision, cluster: CLUSTER } : null;
    peers.set(endpoint, peer);
  }
  return peer;
}

/** What both kinds of samples say of their two ends and the service. */
interface Peers {
  reporter: 'source' | 'destination';
  source?: string | null | undefined;
  sourcePrincipal?: string | null | undefined;
  destination?: string | null | undefined;
  destinationPrincipal?: string | null | undefined;
  destinationService: string;
  connectionSecurity?: string | null | undefined;
  flags: string;
  /** A client-side reply without a cluster: the service is named by this Host header instead. */
  hostOnly?: string | undefined;
  /** The endpoint a client-side request reached without a workload peer (peerEndpointOf). */
  peerEndpoint?: string | null | undefined;
  /** No peer metadata came back from the callee (noPeerMetadata): its endpoint's metadata stands for it. */
  endpointOnly?: boolean;
}

type PeerLabels = Omit<Labels, 'request_protocol' | 'response_code' | 'grpc_response_status'>;

function peerLabels(p: Peers, reg: MeshRegistry): PeerLabels {
  const src = side(p.source ? reg.workloadByName.get(p.source) : undefined, p.sourcePrincipal);
  const fqdn = p.destinationService;
  const parsed = parseServiceFqdn(fqdn);
  const svc = reg.serviceByFqdn.get(fqdn);
  const special = fqdn === 'PassthroughCluster' || fqdn === 'BlackHoleCluster';
  const callee = p.destination ? reg.workloadByName.get(p.destination) : undefined;
  // no workload answered: the endpoint's metadata stands for the peer (a workload peer, when there is one, wins)
  const ep = p.reporter === 'source' && !p.destination && p.peerEndpoint ? endpointPeer(svc, p.peerEndpoint) : null;
  const dst = ep
    ? endpointSide(ep, p.destinationPrincipal)
    : side(callee, p.destinationPrincipal, callee !== undefined && (!callee.sidecar || p.endpointOnly === true));
  return {
    reporter: p.reporter,
    source_workload: src.workload,
    source_canonical_service: src.canonicalService,
    source_canonical_revision: src.canonicalRevision,
    source_workload_namespace: src.namespace,
    source_principal: src.principal,
    source_app: src.app,
    source_version: src.version,
    source_cluster: p.source ? CLUSTER : 'unknown',
    destination_workload: dst.workload,
    destination_workload_namespace: dst.namespace,
    destination_principal: dst.principal,
    destination_app: dst.app,
    destination_version: dst.version,
    // PassthroughCluster / BlackHoleCluster have no service, and a client-side reply the router gave before any
    // cluster (no route, no such subset, a direct response or redirect) has no cluster: istio_stats falls back to the
    // Host header, for the name too
    destination_service: p.hostOnly ?? fqdn,
    destination_canonical_service: dst.canonicalService,
    destination_canonical_revision: dst.canonicalRevision,
    destination_service_name: special ? fqdn : (p.hostOnly ?? parsed?.name ?? svc?.name ?? fqdn),
    // the client reports its peer's namespace (none without an upstream endpoint: a fault, no healthy upstream);
    // the server its own
    destination_service_namespace:
      p.reporter === 'source'
        ? p.destination || ep
          ? dst.namespace
          : 'unknown'
        : (callee?.namespace ?? parsed?.namespace ?? svc?.namespace ?? 'unknown'),
    destination_cluster: p.destination ? CLUSTER : (ep?.cluster ?? 'unknown'),
    response_flags: p.flags || '-',
    connection_security_policy:
      p.reporter === 'source' ? 'unknown' : p.connectionSecurity === 'mutual_tls' ? 'mutual_tls' : 'none'
  };
}

/** `v` with its keys in the order Istio emits them (prom-client writes labels in key order). */
function ordered<K extends string>(keys: readonly K[], v: Record<K, string>): Record<K, string> {
  const out = {} as Record<K, string>;
  for (const k of keys) out[k] = v[k];
  return out;
}

export function labelsFor(f: FlowRecord, reg: MeshRegistry): Labels {
  const grpc = isGrpc(f);
  const grpcStatus = f.responseHeaders['grpc-status'];
  const peers = peerLabels(
    {
      ...f,
      destinationService: f.destinationService ?? 'unknown',
      hostOnly: hostOnlyOf(f),
      peerEndpoint: peerEndpointOf(f),
      endpointOnly: noPeerMetadata(f)
    },
    reg
  );
  return ordered(LABELS, {
    ...peers,
    request_protocol: grpc ? 'grpc' : 'http',
    response_code: String(f.status ?? 0),
    grpc_response_status: grpc && typeof grpcStatus === 'string' ? grpcStatus : ''
  });
}

/** A TCP connection's labels: as a request's (labelsFor), with request_protocol tcp and no response code. */
export function tcpLabelsFor(c: TcpConnectionReport, reg: MeshRegistry): TcpLabels {
  // a stream has no Host header: a catch-all cluster names the service (destination_service_name) but no host
  // (istio_stats leaves destination_service unknown)
  const special = c.destinationService === 'PassthroughCluster' || c.destinationService === 'BlackHoleCluster';
  return ordered(TCP_LABELS, {
    ...peerLabels(special ? { ...c, hostOnly: 'unknown' } : c, reg),
    request_protocol: 'tcp'
  });
}

/** Where a codec error happened: the reporter that counts it and its workload. */
export type CodecErrorAt =
  { reporter: 'source'; workload: string } | { reporter: 'destination'; workload: WorkloadInfo };

/**
 * What istio_stats counts for a request Envoy's HTTP/1 codec could not parse: the codec still opens a stream for its
 * 400 (431) reply, and the connection manager logs that stream with flag DPE when it closes the connection. The
 * headers never arrived, so no Host, route or cluster names a service: `unknown` at the client's sidecar, and at the
 * server's its own workload's canonical name (istio_stats' fallback there, which reads no Host header).
 */
export function codecErrorFlow(
  at: CodecErrorAt,
  status: number,
  configVersion: number,
  /** What the codec refused, when its details say more than `http1.codec_error` (access-log.ts). */
  details?: 'too many headers'
): FlowRecord {
  const server = at.reporter === 'destination';
  return {
    id: '',
    requestId: '',
    reporter: at.reporter,
    source: server ? null : at.workload,
    destination: server ? at.workload.name : null,
    destinationService: server ? canonicalService(at.workload.labels, at.workload.name).name : 'unknown',
    method: '',
    authority: '',
    path: '',
    status,
    flags: 'DPE',
    durationMs: 0,
    startedAt: new Date().toISOString(),
    virtualService: null,
    rule: null,
    subset: null,
    endpoint: null,
    attempts: 0,
    attemptLog: [],
    localReply: details ? `codec error: ${details}` : 'codec error',
    trace: [],
    configVersion,
    requestHeaders: {},
    responseHeaders: {},
    connectionSecurity: 'none'
  };
}

/**
 * An estimate of a flow's wire bytes from its record (header lines and bodies), for a flow that comes without the
 * counts its sidecar took on the wire (Exchange.wireSizes).
 */
export function wireSizes(f: FlowRecord): { request: number; response: number } {
  return {
    request: headerBytes(f.requestHeaders) + (f.requestBody?.size ?? 0),
    response: headerBytes(f.responseHeaders) + (f.responseBody?.size ?? 0)
  };
}

/** Move `le="…"` from the front of each `_bucket{…}` label set to its end. */
export function leLast(text: string): string {
  return text.replace(/_bucket\{(le="[^"]*"),([^}\n]*)\}/g, '_bucket{$2,$1}');
}
