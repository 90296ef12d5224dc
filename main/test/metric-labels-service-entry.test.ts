/**
 * Integration: the client sidecar's istio_requests_total labels for a request routed to a ServiceEntry host
 * (istio-semantics §3.2). The upstream has no sidecar, so no peer metadata is exchanged and istio_stats falls back to
 * the metadata pilot put on the chosen endpoint (AppendLbEndpointMetadata, "workload;namespace;canonical name;
 * canonical revision;cluster"). For an endpoint written in the entry's `endpoints` (resolution STATIC, or DNS with
 * endpoints) the serviceentry converter leaves the workload name and namespace empty (convertServiceEntryToInstances
 * passes an empty configKey) and sets the registry's cluster; the canonical name and revision come from the
 * endpoint's labels. Resolution NONE (an ORIGINAL_DST cluster), a passthrough, and a reply with no upstream endpoint
 * (a fault abort) carry no endpoint metadata: everything about the callee stays unknown. An entry whose endpoint is a
 * mesh workload (workloadSelector) is labelled from that workload, as for any mesh call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRecord } from '../contract/api.js';
import type { Registry as MeshRegistry, ServiceInfo } from '../engine/registry.js';
import { labelsFor, MeshMetrics } from '../engine/telemetry/metrics.js';
import { startAdminServer, type AdminServer } from '../transports/http/admin-server.js';
import { flow } from './helpers/flow.js';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, db: Stub, ext: Stub;
let m: Running;
let admin: AdminServer;

const se = (
  name: string,
  namespace: string,
  host: string,
  extra: string,
  port = 80
) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  ports: [{number: ${port}, name: http, protocol: HTTP${port === 80 ? `, targetPort: ${ext.port}` : ''}}]
${extra}
---
`;

beforeAll(async () => {
  [caller, db, ext] = await Promise.all([stub('caller'), stub('db'), stub('ext')]);
  const entries =
    se('static', 'default', 'static.example.com', '  resolution: STATIC\n  endpoints: [{address: 127.0.0.1}]') +
    se(
      'labeled',
      'default',
      'labeled.example.com',
      '  resolution: STATIC\n  endpoints: [{address: 127.0.0.1, labels: {app: ext-api, version: v3}}]'
    ) +
    se('team', 'team', 'team.example.com', '  resolution: STATIC\n  endpoints: [{address: 127.0.0.1}]') +
    se('dns', 'default', 'dns.example.com', '  resolution: DNS\n  endpoints: [{address: localhost}]') +
    // resolution NONE: the original destination (the entry's address, the request's port), an ORIGINAL_DST cluster
    se('none', 'default', 'none.example.com', '  resolution: NONE\n  addresses: [127.0.0.1]', ext.port) +
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db-by-labels, namespace: default}
spec:
  hosts: [db.internal.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 5000, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: static-abort, namespace: default}
spec:
  hosts: [static.example.com]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: static.example.com}}]
  - route: [{destination: {host: static.example.com}}]
`;
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', labels: { app: 'caller' }, instances: [caller.address] }] },
      db: { workloads: [{ name: 'db-v1', labels: { app: 'db', version: 'v1' }, instances: [db.address] }] }
    }),
    istio: { 'entries.yaml': entries }
  });
  admin = await startAdminServer(m.mesh, { port: 0, metrics: () => m.mesh.metrics(), token: 'secret' });
  const out = m.outbound('caller-v1');
  const calls: [string, string, number][] = [
    ['static.example.com', '/ok', 200],
    ['labeled.example.com', '/ok', 200],
    ['team.example.com', '/ok', 200],
    ['dns.example.com', '/ok', 200],
    [`127.0.0.1:${ext.port}`, '/none', 200],
    [`localhost:${ext.port}`, '/passthrough', 200],
    ['static.example.com', '/abort', 503],
    ['db.internal.example:5000', '/db', 200]
  ];
  for (const [authority, p, status] of calls) expect((await viaProxy(out, authority, p)).status).toBe(status);
});
afterAll(async () => {
  await admin?.close();
  await m?.close();
  await Promise.all([caller, db, ext].map((s) => s?.close()));
});

/** The reporter="source" istio_requests_total line of `service` with `code`, once the sidecar has counted it. */
async function sourceLine(service: string, code: number): Promise<string> {
  const found = await until(async () => {
    const text = await (await fetch(`${admin.url}/metrics`)).text();
    return text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('istio_requests_total{reporter="source",') &&
          l.includes(`destination_service="${service}"`) &&
          l.includes(`response_code="${code}"`)
      );
  }, `a source sample of ${service} ${code}`);
  return found!;
}

const CALLER =
  'source_workload="caller-v1",source_canonical_service="caller",source_canonical_revision="latest",source_workload_namespace="default",source_principal="unknown",source_app="caller",source_version="unknown",source_cluster="Kubernetes"';

/** The whole line of a plain-HTTP call from caller-v1 to an upstream without a sidecar. */
function line(callee: {
  service: string;
  name?: string;
  workload?: string;
  workloadNamespace?: string;
  app?: string;
  version?: string;
  canonical?: string;
  revision?: string;
  namespace?: string;
  cluster: string;
  code?: number;
  flags?: string;
}): string {
  return (
    `istio_requests_total{reporter="source",${CALLER},destination_workload="${callee.workload ?? 'unknown'}",` +
    `destination_workload_namespace="${callee.workloadNamespace ?? 'unknown'}",destination_principal="unknown",` +
    `destination_app="${callee.app ?? 'unknown'}",destination_version="${callee.version ?? 'unknown'}",` +
    `destination_service="${callee.service}",destination_canonical_service="${callee.canonical ?? 'unknown'}",` +
    `destination_canonical_revision="${callee.revision ?? 'latest'}",destination_service_name="${callee.name ?? callee.service}",` +
    `destination_service_namespace="${callee.namespace ?? 'unknown'}",destination_cluster="${callee.cluster}",` +
    `request_protocol="http",response_code="${callee.code ?? 200}",grpc_response_status="",` +
    `response_flags="${callee.flags ?? '-'}",connection_security_policy="unknown"} 1`
  );
}

describe('source-reporter labels of a ServiceEntry host', () => {
  it("STATIC endpoint: the endpoint's metadata names the cluster; no workload, namespace, app or version", async () => {
    expect(await sourceLine('static.example.com', 200)).toBe(
      line({ service: 'static.example.com', cluster: 'Kubernetes' })
    );
  });

  it("the endpoint's labels give the canonical service and revision (CanonicalService), never app or version", async () => {
    expect(await sourceLine('labeled.example.com', 200)).toBe(
      line({ service: 'labeled.example.com', canonical: 'ext-api', revision: 'v3', cluster: 'Kubernetes' })
    );
  });

  it("an entry in another namespace: the endpoint still carries no namespace (pilot's empty configKey)", async () => {
    expect(await sourceLine('team.example.com', 200)).toBe(
      line({ service: 'team.example.com', cluster: 'Kubernetes' })
    );
  });

  it('DNS with endpoints is labelled as STATIC', async () => {
    expect(await sourceLine('dns.example.com', 200)).toBe(line({ service: 'dns.example.com', cluster: 'Kubernetes' }));
  });

  it('resolution NONE (original destination) and a passthrough carry no endpoint metadata: unknown', async () => {
    expect(await sourceLine('none.example.com', 200)).toBe(line({ service: 'none.example.com', cluster: 'unknown' }));
    expect(await sourceLine(`localhost:${ext.port}`, 200)).toBe(
      line({ service: `localhost:${ext.port}`, name: 'PassthroughCluster', cluster: 'unknown' })
    );
  });

  it('a fault abort reaches no endpoint: unknown', async () => {
    expect(await sourceLine('static.example.com', 503)).toBe(
      line({ service: 'static.example.com', cluster: 'unknown', code: 503, flags: 'FI' })
    );
  });

  it("an entry whose endpoint is a mesh workload (workloadSelector) is labelled from the workload's peer metadata", async () => {
    const l = await sourceLine('db.internal.example', 200);
    expect(l).toContain(
      'destination_workload="db-v1",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/default",destination_app="db",destination_version="v1",destination_service="db.internal.example",destination_canonical_service="db",destination_canonical_revision="v1",destination_service_name="db.internal.example",destination_service_namespace="default",destination_cluster="Kubernetes"'
    );
  });
});

describe('series of ServiceEntry endpoints', () => {
  const entry: ServiceInfo = {
    fqdn: 'api.example.com',
    name: 'api.example.com',
    namespace: 'default',
    ports: [80],
    kind: 'service-entry',
    external: true,
    resolution: 'STATIC',
    endpoints: [
      { host: '10.0.0.1', port: 8080, labels: { app: 'blue' } },
      { host: '10.0.0.2', port: 8080, labels: { app: 'green', version: 'v2' } }
    ]
  };
  const reg = (svc: ServiceInfo) =>
    ({ workloadByName: new Map(), serviceByFqdn: new Map([[svc.fqdn, svc]]) }) as unknown as MeshRegistry;
  const call = (i: number, endpoint: string | null, over: Partial<FlowRecord> = {}) =>
    flow(i, {
      destination: null,
      destinationService: 'api.example.com',
      authority: 'api.example.com',
      endpoint,
      ...over
    });

  it('two endpoints of one entry with different labels are two series', async () => {
    const metrics = new MeshMetrics();
    const r = reg(entry);
    const sizes = { request: 10, response: 10 };
    for (const [i, ep] of ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.1:8080'].entries())
      metrics.record(call(i, ep), r, sizes);
    const lines = (await metrics.text()).split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    expect(
      lines.map((l) =>
        /destination_canonical_service="([^"]*)".*destination_canonical_revision="([^"]*)".* (\d+)$/.exec(l)!.slice(1)
      )
    ).toEqual([
      ['blue', 'latest', '2'],
      ['green', 'v2', '1']
    ]);
  });

  it("an endpoint that is not one of the entry's (a DNS host, the original destination) has no metadata", () => {
    const l = labelsFor(call(1, 'api.example.com:80'), reg(entry));
    expect([l.destination_cluster, l.destination_canonical_service]).toEqual(['unknown', 'unknown']);
  });

  it('resolution NONE has no endpoint metadata even with endpoints listed; the destination reporter is untouched', () => {
    const none = labelsFor(call(1, '10.0.0.1:8080'), reg({ ...entry, resolution: 'NONE' }));
    expect([none.destination_cluster, none.destination_canonical_service]).toEqual(['unknown', 'unknown']);
    const dest = labelsFor(call(2, '10.0.0.1:8080', { reporter: 'destination' }), reg(entry));
    expect(dest.destination_canonical_service).toBe('unknown');
  });

  it('canonical name and revision follow Istio: canonical-name, app.kubernetes.io/name, app; canonical-revision, app.kubernetes.io/version, version', () => {
    const labels = (l: Record<string, string>) =>
      labelsFor(call(1, '10.0.0.9:1'), reg({ ...entry, endpoints: [{ host: '10.0.0.9', port: 1, labels: l }] }));
    const both = (l: Record<string, string>) => {
      const x = labels(l);
      return [x.destination_canonical_service, x.destination_canonical_revision];
    };
    expect(
      both({
        'service.istio.io/canonical-name': 'cn',
        'app.kubernetes.io/name': 'kn',
        app: 'a',
        'service.istio.io/canonical-revision': 'cr',
        'app.kubernetes.io/version': 'kv',
        version: 'v'
      })
    ).toEqual(['cn', 'cr']);
    expect(both({ 'app.kubernetes.io/name': 'kn', app: 'a', 'app.kubernetes.io/version': 'kv', version: 'v' })).toEqual(
      ['kn', 'kv']
    );
    expect(both({ app: 'a', version: 'v' })).toEqual(['a', 'v']);
    expect(both({})).toEqual(['unknown', 'latest']);
  });
});

describe('canonical service and revision of a mesh workload', () => {
  const reg = (labels: Record<string, string>) =>
    ({
      workloadByName: new Map([
        ['payments-v1', { name: 'payments-v1', namespace: 'default', labels, sidecar: true }],
        ['web-v1', { name: 'web-v1', namespace: 'default', labels: { app: 'web', version: 'v1' }, sidecar: true }]
      ]),
      serviceByFqdn: new Map()
    }) as unknown as MeshRegistry;
  const both = (labels: Record<string, string>) => {
    const l = labelsFor(
      flow(1, {
        source: 'web-v1',
        destination: 'payments-v1',
        destinationService: 'payments.default.svc.cluster.local'
      }),
      reg(labels)
    );
    return [
      l.destination_canonical_service,
      l.destination_canonical_revision,
      l.destination_app,
      l.destination_version
    ];
  };

  it("without app labels: the workload's name and latest (the injector's CanonicalService), app and version unknown", () => {
    expect(both({ tier: 'backend' })).toEqual(['payments-v1', 'latest', 'unknown', 'unknown']);
  });

  it('app.kubernetes.io/name and app.kubernetes.io/version stand in for app and version', () => {
    expect(both({ 'app.kubernetes.io/name': 'payments', 'app.kubernetes.io/version': '2.1' })).toEqual([
      'payments',
      '2.1',
      'unknown',
      'unknown'
    ]);
    expect(both({ app: 'pay', version: 'v1', 'service.istio.io/canonical-name': 'payments' })).toEqual([
      'payments',
      'v1',
      'pay',
      'v1'
    ]);
  });
});
