/** Integration: Istio's standard metrics with exact names, labels, values and buckets (istio-semantics §3). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../transports/http/admin-server.js';
import { meshYaml, request, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let pp: Stub, reviews: Stub;
let m: Running;
let admin: AdminServer;

beforeAll(async () => {
  [pp, reviews] = await Promise.all([stub('pp'), stub('reviews')]);
  m = await startMesh({
    meshYaml: meshYaml({
      productpage: {
        workloads: [
          {
            name: 'productpage-v1',
            labels: { app: 'productpage', version: 'v1' },
            serviceAccount: 'bookinfo-productpage',
            instances: [pp.address]
          }
        ]
      },
      reviews: {
        workloads: [
          {
            name: 'reviews-v2',
            labels: { app: 'reviews', version: 'v2' },
            serviceAccount: 'bookinfo-reviews',
            instances: [reviews.address]
          }
        ]
      }
    }),
    istio: {
      'vs.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {regex: "/(reviews|x|direct).*"}}]
    route: [{destination: {host: reviews}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-delete}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules: [{to: [{operation: {methods: [DELETE]}}]}]
`
    }
  });
  admin = await startAdminServer(m.mesh, { port: 0, metrics: () => m.mesh.metrics(), token: 'secret' });
  const out = m.outbound('productpage-v1');
  await viaProxy(out, 'reviews:9080', '/reviews/0');
  await viaProxy(out, 'reviews:9080', '/abort');
  await viaProxy(out, 'reviews:9080', '/x', { method: 'DELETE' });
  await request(m.inbound('reviews-v2'), '/direct', { headers: { host: 'reviews:9080' } });
  await viaProxy(out, 'reviews:9080', '/nowhere'); // no rule matches: 404 NR
});
afterAll(async () => {
  await admin.close();
  await m.close();
  await Promise.all([pp, reviews].map((s) => s.close()));
});

function samples(text: string, name: string): Record<string, string>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => {
      const body = l.slice(l.indexOf('{') + 1, l.lastIndexOf('}'));
      const out: Record<string, string> = { __value: l.slice(l.lastIndexOf('}') + 2) };
      for (const m of body.matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
      return out;
    });
}

describe('GET /metrics', () => {
  it('is open without the admin token and serves Prometheus text', async () => {
    const r = await fetch(`${admin.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await r.text()).toContain('# TYPE istio_requests_total counter');
  });
  it('a mesh call is counted by both reporters with Istio label values; labels in Istio order', async () => {
    const text = await (await fetch(`${admin.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('istio_requests_total{') &&
          l.includes('response_code="200"') &&
          l.includes('reporter="destination"') &&
          l.includes('source_workload="productpage-v1"')
      )!;
    expect(line).toBe(
      'istio_requests_total{reporter="destination",source_workload="productpage-v1",source_canonical_service="productpage",source_canonical_revision="v1",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",source_app="productpage",source_version="v1",source_cluster="Kubernetes",destination_workload="reviews-v2",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",destination_app="reviews",destination_version="v2",destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v2",destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"} 1'
    );
    const src = samples(text, 'istio_requests_total').find(
      (s) => s.reporter === 'source' && s.response_code === '200'
    )!;
    expect(src.connection_security_policy).toBe('unknown');
    expect(src.destination_principal).toBe('spiffe://cluster.local/ns/default/sa/bookinfo-reviews');
  });
  it('a fault abort is only a source sample with FI; an RBAC deny is 403 "-" on both; a sidecar-less caller is unknown', async () => {
    const all = samples(await (await fetch(`${admin.url}/metrics`)).text(), 'istio_requests_total');
    const fi = all.filter((s) => s.response_flags === 'FI');
    expect(fi.map((s) => `${s.reporter}:${s.response_code}`)).toEqual(['source:500']);
    expect(
      all
        .filter((s) => s.response_code === '403')
        .map((s) => `${s.reporter}:${s.response_flags}`)
        .sort()
    ).toEqual(['destination:-', 'source:-']);
    const anon = all.find((s) => s.source_workload === 'unknown')!;
    expect(anon.reporter).toBe('destination');
    expect(anon.connection_security_policy).toBe('none');
    expect(anon.source_principal).toBe('unknown');
  });
  it('the exact istio_requests_total text for the scripted calls (both reporters, FI abort, RBAC deny, 404 NR, sidecar-less caller)', async () => {
    const text = await (await fetch(`${admin.url}/metrics`)).text();
    const block = text
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('istio_requests_total') ||
          l.startsWith('# HELP istio_requests_total') ||
          l.startsWith('# TYPE istio_requests_total')
      );
    const pp =
      'source_workload="productpage-v1",source_canonical_service="productpage",source_canonical_revision="v1",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",source_app="productpage",source_version="v1",source_cluster="Kubernetes"';
    // at the client, source_principal is its own SAN only when the upstream connection used mTLS (a local reply had none)
    const ppNoTls = pp.replace(
      'source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage"',
      'source_principal="unknown"'
    );
    // at the server, destination_principal is its own SAN only when the downstream connection used mTLS
    const rvPlain =
      'destination_workload="reviews-v2",destination_workload_namespace="default",destination_principal="unknown",destination_app="reviews",destination_version="v2",destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v2",destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes"';
    const anon =
      'source_workload="unknown",source_canonical_service="unknown",source_canonical_revision="latest",source_workload_namespace="unknown",source_principal="unknown",source_app="unknown",source_version="unknown",source_cluster="unknown"';
    const rv =
      'destination_workload="reviews-v2",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",destination_app="reviews",destination_version="v2",destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v2",destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes"';
    const none =
      'destination_workload="unknown",destination_workload_namespace="unknown",destination_principal="unknown",destination_app="unknown",destination_version="unknown",destination_service="reviews.default.svc.cluster.local",destination_canonical_service="unknown",destination_canonical_revision="latest",destination_service_name="reviews",destination_service_namespace="default",destination_cluster="unknown"';
    // a client-side reply with no upstream endpoint has no peer: istio_stats reports its namespace as unknown; a
    // reply with no cluster at all (404 NR) names the service by the Host header
    const noPeer = none.replace('destination_service_namespace="default"', 'destination_service_namespace="unknown"');
    const noCluster = noPeer
      .replace('destination_service="reviews.default.svc.cluster.local"', 'destination_service="reviews:9080"')
      .replace('destination_service_name="reviews"', 'destination_service_name="reviews:9080"');
    const tail = (code: number, flags: string, sec: string) =>
      `request_protocol="http",response_code="${code}",grpc_response_status="",response_flags="${flags}",connection_security_policy="${sec}"`;
    expect(block).toEqual([
      '# HELP istio_requests_total Requests reported by a sidecar',
      '# TYPE istio_requests_total counter',
      `istio_requests_total{reporter="destination",${pp},${rv},${tail(200, '-', 'mutual_tls')}} 1`,
      `istio_requests_total{reporter="source",${pp},${rv},${tail(200, '-', 'unknown')}} 1`,
      `istio_requests_total{reporter="source",${ppNoTls},${noPeer},${tail(500, 'FI', 'unknown')}} 1`,
      `istio_requests_total{reporter="destination",${pp},${rv},${tail(403, '-', 'mutual_tls')}} 1`,
      `istio_requests_total{reporter="source",${pp},${rv},${tail(403, '-', 'unknown')}} 1`,
      `istio_requests_total{reporter="destination",${anon},${rvPlain},${tail(200, '-', 'none')}} 1`,
      `istio_requests_total{reporter="source",${ppNoTls},${noCluster},${tail(404, 'NR', 'unknown')}} 1`
    ]);
  });
  it('histograms use Envoy default buckets', async () => {
    const text = await (await fetch(`${admin.url}/metrics`)).text();
    const les = [...new Set(samples(text, 'istio_request_duration_milliseconds_bucket').map((s) => s.le))];
    // as Envoy writes them: Istio's labels first, le last
    expect(text).toMatch(/^istio_request_duration_milliseconds_bucket\{reporter="[a-z]+",.*,le="0\.5"\} \d+$/m);
    expect(text).not.toMatch(/_bucket\{le=/);
    expect(les).toEqual([
      '0.5',
      '1',
      '5',
      '10',
      '25',
      '50',
      '100',
      '250',
      '500',
      '1000',
      '2500',
      '5000',
      '10000',
      '30000',
      '60000',
      '300000',
      '600000',
      '1800000',
      '3600000',
      '+Inf'
    ]);
    expect(text).toContain('# TYPE istio_request_bytes histogram');
    expect(text).toContain('# TYPE istio_response_bytes histogram');
  });
});
