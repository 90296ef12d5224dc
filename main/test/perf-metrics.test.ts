/**
 * The metrics hot path (issue 7) counts on cached series instead of prom-client's per-call label hashing; the
 * Prometheus text must stay byte-identical to what prom-client's own Counter and Histogram write for the same flows.
 */
import { describe, expect, it } from 'vitest';
import { Counter, Histogram, Registry } from 'prom-client';
import type { FlowRecord } from '../contract/api.js';
import type { Registry as MeshRegistry, WorkloadInfo } from '../engine/registry.js';
import {
  BUCKETS,
  LABELS,
  MeshMetrics,
  TCP_LABELS,
  labelsFor,
  leLast,
  tcpLabelsFor,
  wireSizes,
  type TcpConnectionReport
} from '../engine/telemetry/metrics.js';
import { flow } from './helpers/flow.js';

/** The implementation before issue 7: prom-client metrics, labels computed and hashed on every record. */
class Reference {
  readonly registry = new Registry();
  private readonly requests: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly requestBytes: Histogram<string>;
  private readonly responseBytes: Histogram<string>;
  private readonly tcp: Record<'sent' | 'received' | 'opened' | 'closed', Counter<string>>;
  constructor() {
    const labelNames = [...LABELS];
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'istio_requests_total',
      help: 'Requests reported by a sidecar',
      labelNames,
      registers
    });
    this.duration = new Histogram({
      name: 'istio_request_duration_milliseconds',
      help: 'Request duration seen by a sidecar',
      labelNames,
      buckets: BUCKETS,
      registers
    });
    this.requestBytes = new Histogram({
      name: 'istio_request_bytes',
      help: 'Request size (headers and body)',
      labelNames,
      buckets: BUCKETS,
      registers
    });
    this.responseBytes = new Histogram({
      name: 'istio_response_bytes',
      help: 'Response size (headers and body)',
      labelNames,
      buckets: BUCKETS,
      registers
    });
    const tcp = (name: string, help: string) => new Counter({ name, help, labelNames: [...TCP_LABELS], registers });
    this.tcp = {
      sent: tcp('istio_tcp_sent_bytes_total', 'Bytes a sidecar sent downstream on TCP'),
      received: tcp('istio_tcp_received_bytes_total', 'Bytes a sidecar received from downstream on TCP'),
      opened: tcp('istio_tcp_connections_opened_total', 'TCP connections opened'),
      closed: tcp('istio_tcp_connections_closed_total', 'TCP connections closed')
    };
  }
  tcpConnection(c: TcpConnectionReport, reg: MeshRegistry, sent: number, received: number): void {
    const l = tcpLabelsFor(c, reg);
    this.tcp.opened.inc(l);
    this.tcp.closed.inc(l);
    this.tcp.sent.inc(l, sent);
    this.tcp.received.inc(l, received);
  }
  record(f: FlowRecord, reg: MeshRegistry, sizes: { request: number; response: number }): void {
    const l = labelsFor(f, reg);
    this.requests.inc(l);
    this.duration.observe(l, f.durationMs);
    this.requestBytes.observe(l, sizes.request);
    this.responseBytes.observe(l, sizes.response);
  }
}

function workload(name: string, labels: Record<string, string>): WorkloadInfo {
  return {
    name,
    service: labels.app ?? name,
    namespace: 'default',
    labels,
    serviceAccount: name,
    sidecar: true,
    instances: []
  };
}

function registry(version: string): MeshRegistry {
  const ws = [
    workload('productpage-v1', { app: 'productpage', version: 'v1' }),
    workload('reviews-v1', { app: 'reviews', version }),
    workload('odd', {
      'service.istio.io/canonical-name': 'odd "quoted"\\name',
      'service.istio.io/canonical-revision': 'r\n2'
    })
  ];
  const services = [
    { name: 'reviews', namespace: 'default', fqdn: 'reviews.default.svc.cluster.local', ports: [9080] }
  ];
  return {
    workloadByName: new Map(ws.map((w) => [w.name, w])),
    serviceByFqdn: new Map(services.map((s) => [s.fqdn, s]))
  } as unknown as MeshRegistry;
}

/** A deterministic mix of flows: both reporters, unknown peers, gRPC, odd label values, flags, durations past the last bucket. */
function flows(n: number): FlowRecord[] {
  let seed = 7;
  const rnd = (k: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % k;
  };
  const pick = <T>(xs: T[]): T => xs[rnd(xs.length)]!;
  return Array.from({ length: n }, (_, i) =>
    flow(i, {
      reporter: pick(['source', 'destination'] as const),
      source: pick(['productpage-v1', null, 'odd', 'gone']),
      destination: pick(['reviews-v1', null, 'odd']),
      destinationService: pick([
        'reviews.default.svc.cluster.local',
        'PassthroughCluster',
        'BlackHoleCluster',
        'httpbin.org:80',
        'x.y.svc.cluster.local',
        null
      ]),
      sourcePrincipal: pick([null, 'spiffe://cluster.local/ns/default/sa/productpage-v1']),
      destinationPrincipal: pick([null, 'spiffe://cluster.local/ns/default/sa/reviews-v1']),
      connectionSecurity: pick(['mutual_tls', 'none', undefined] as const),
      status: pick([200, 200, 503, 404, 0]),
      flags: pick(['-', 'UF,URX', 'NR', '']),
      durationMs: pick([0.2, 0.5, 0.7, 3, 99.5, 250, 4_000_000, Math.round(rnd(100000)) / 1000]),
      requestHeaders: pick<Record<string, string | string[]>>([
        { host: 'reviews:9080' },
        { 'content-type': 'application/grpc', 'x-many': ['a', 'bb'] },
        { 'content-type': 'application/json' }
      ]),
      responseHeaders: pick<Record<string, string | string[]>>([
        { server: 'envoy' },
        { 'grpc-status': '14' },
        { 'grpc-status': '0', 'set-cookie': ['a=1', 'b=2'] }
      ]),
      requestBody: pick([null, { encoding: 'utf8', data: 'x', size: rnd(5000), truncated: false }]),
      responseBody: pick([null, { encoding: 'utf8', data: 'y', size: rnd(3_000_000), truncated: true }])
    })
  );
}

describe('metrics hot path', () => {
  it('writes the same Prometheus text as prom-client for the same flows, across a registry change', async () => {
    const fast = new MeshMetrics();
    const ref = new Reference();
    const [r1, r2] = [registry('v1'), registry('v2')];
    const all = flows(600);
    all.forEach((f, i) => {
      const reg = i < 300 ? r1 : i < 450 ? r2 : r1;
      fast.record(f, reg, wireSizes(f));
      ref.record(f, reg, wireSizes(f));
    });
    // the same text but for the bucket label order (le last, as Envoy writes it)
    const [a, b] = [await fast.text(), leLast(await ref.registry.metrics())];
    expect(a.length).toBeGreaterThan(10_000);
    expect(a).toBe(b);
    expect(fast.contentType).toBe(ref.registry.contentType);
  });

  it('writes the TCP counters as prom-client does (request labels without response code and gRPC status)', async () => {
    const fast = new MeshMetrics();
    const ref = new Reference();
    const reg = registry('v1');
    const conns: [TcpConnectionReport, number, number][] = [
      [
        {
          reporter: 'source',
          source: 'productpage-v1',
          sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/productpage-v1',
          destination: 'reviews-v1',
          destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/reviews-v1',
          destinationService: 'reviews.default.svc.cluster.local',
          connectionSecurity: 'none',
          flags: '-'
        },
        120,
        7
      ],
      [
        {
          reporter: 'destination',
          source: null,
          sourcePrincipal: null,
          destination: 'reviews-v1',
          destinationPrincipal: null,
          destinationService: 'reviews.default.svc.cluster.local',
          connectionSecurity: 'none',
          flags: 'UF'
        },
        0,
        5
      ]
    ];
    for (const [c, sent, received] of [...conns, conns[0]!]) {
      const s = fast.tcp(c, reg);
      s.opened.value++;
      s.closed.value++;
      s.sent.value += sent;
      s.received.value += received;
      ref.tcpConnection(c, reg, sent, received);
    }
    const text = await fast.text();
    expect(text).toBe(leLast(await ref.registry.metrics()));
    expect(text).toContain(
      'istio_tcp_connections_opened_total{reporter="source",source_workload="productpage-v1",source_canonical_service="productpage",source_canonical_revision="v1",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/productpage-v1",source_app="productpage",source_version="v1",source_cluster="Kubernetes",destination_workload="reviews-v1",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/reviews-v1",destination_app="reviews",destination_version="v1",destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v1",destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="tcp",response_flags="-",connection_security_policy="unknown"} 2'
    );
    expect(text).toMatch(/istio_tcp_sent_bytes_total\{reporter="source",[^}]*\} 240\n/);
  });

  it('writes the same (empty) text before any flow', async () => {
    expect(await new MeshMetrics().text()).toBe(leLast(await new Reference().registry.metrics()));
  });

  it('counts wire sizes as before: name + value + 4 per header line, plus the body size', () => {
    const f = flow(1, {
      requestHeaders: { a: 'bc', d: ['e', 'fg'] },
      responseHeaders: {},
      requestBody: null,
      responseBody: { encoding: 'utf8', data: '', size: 9, truncated: true }
    });
    expect(wireSizes(f)).toEqual({ request: 1 + 2 + 4 + (1 + 1 + 4) + (1 + 2 + 4), response: 9 });
  });
});
