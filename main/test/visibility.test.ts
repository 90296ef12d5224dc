/**
 * Integration: what a caller's sidecar knows (istio-semantics §1.6): a Sidecar's egress hosts limit the services it
 * imports, and a ServiceEntry's exportTo limits the namespaces that see it. An unknown host is passed through under
 * ALLOW_ANY and answered 502 (BlackHoleCluster) under REGISTRY_ONLY.
 */
import type net from 'node:net';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, request, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let limited: Stub, free: Stub, api: Stub, other: Stub, db: Stub, ported: Stub;
let ext: http.Server;
let m: Running;

beforeAll(async () => {
  [ported, limited, free, api, other, db] = await Promise.all([
    stub('ported'),
    stub('limited'),
    stub('free'),
    stub('api'),
    stub('other'),
    stub('db')
  ]);
  ext = http.createServer((_req, res) => res.end('ext'));
  await new Promise<void>((r) => ext.listen(0, '127.0.0.1', r));
  const extPort = (ext.address() as net.AddressInfo).port;
  const istio = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: limited}
spec:
  workloadSelector: {labels: {app: limited}}
  egress: [{hosts: ["./api.default.svc.cluster.local", "istio-system/*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ported}
spec:
  workloadSelector: {labels: {app: ported}}
  egress:
  - port: {number: 9080, protocol: HTTP, name: http}
    hosts: ["./api.default.svc.cluster.local"]
  - hosts: ["./other.default.svc.cluster.local", "./db.internal.example", "istio-system/*"]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: team}
spec:
  hosts: [private.example.com]
  exportTo: ["."]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${extPort}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: public, namespace: team}
spec:
  hosts: [public.example.com]
  addresses: [240.0.0.10]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${extPort}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: public-routes}
spec:
  hosts: [public.example.com]
  http:
  - match: [{uri: {prefix: /hidden}}]
    route: [{destination: {host: private.example.com}}]
  - route: [{destination: {host: public.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-routes}
spec:
  hosts: [api]
  http:
  - match: [{uri: {prefix: /to-other}}]
    route: [{destination: {host: other}}]
  - route: [{destination: {host: api}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db-by-labels}
spec:
  hosts: [db.internal.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 5000, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: db}}
`;
  m = await startMesh(
    {
      meshYaml: meshYaml(
        {
          limited: { workloads: [{ name: 'limited-v1', labels: { app: 'limited' }, instances: [limited.address] }] },
          free: { workloads: [{ name: 'free-v1', labels: { app: 'free' }, instances: [free.address] }] },
          api: { workloads: [{ name: 'api-v1', instances: [api.address] }] },
          other: { workloads: [{ name: 'other-v1', instances: [other.address] }] },
          db: { workloads: [{ name: 'db-v1', labels: { app: 'db' }, instances: [db.address] }] },
          ported: { workloads: [{ name: 'ported-v1', labels: { app: 'ported' }, instances: [ported.address] }] }
        },
        '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}'
      ),
      istio: { 'istio.yaml': istio }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([limited, free, api, other, db, ported].map((s) => s.close()));
  ext.close();
});

const from = (w: string, host: string) => viaProxy(m.outbound(w), host, '/x');

describe('Sidecar egress hosts', () => {
  it('an imported service is reached', async () => {
    const r = await from('limited-v1', 'api:9080');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).stub).toBe('api');
  });
  it('a service outside the egress hosts is unknown: 502 with an empty body under REGISTRY_ONLY', async () => {
    const r = await from('limited-v1', 'other:9080');
    expect(r.status).toBe(502);
    expect(r.body).toBe('');
    expect(other.seen).toHaveLength(0);
  });
  it('a caller without that Sidecar still sees every service', async () => {
    expect((await from('free-v1', 'other:9080')).status).toBe(200);
  });
  it("the same service by the caller's dedicated port (its address) is unknown too: 502, nothing reaches it", async () => {
    const seen = other.seen.length;
    const r = await request(m.upstream('limited-v1', 'other'), '/x');
    expect([r.status, r.body]).toEqual([502, '']);
    expect(other.seen).toHaveLength(seen);
    expect((await request(m.upstream('limited-v1', 'api'), '/x')).status).toBe(200);
    expect((await request(m.upstream('free-v1', 'other'), '/x')).status).toBe(200);
  });
});

describe('Sidecar egress listeners with a port', () => {
  it("on the listener's port only its hosts are imported: the catch-all's hosts are unknown there", async () => {
    expect(JSON.parse((await from('ported-v1', 'api:9080')).body).stub).toBe('api');
    const before = other.seen.length;
    const r = await from('ported-v1', 'other:9080');
    expect([r.status, r.body]).toEqual([502, '']);
    expect(other.seen).toHaveLength(before);
  });
  it("on other ports the catch-all listener's hosts decide", async () => {
    const r = await from('ported-v1', 'db.internal.example:5000');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).stub).toBe('db');
  });
});

describe('ServiceEntry exportTo', () => {
  it('exportTo "." hides the entry from other namespaces: 502 under REGISTRY_ONLY', async () => {
    const r = await from('free-v1', 'private.example.com');
    expect(r.status).toBe(502);
    const flow = (await m.mesh.listFlows({ limit: 50 })).find((f) => f.authority === 'private.example.com');
    expect(flow?.destinationService).toBe('BlackHoleCluster');
  });
  it('an entry exported to all is reached from any namespace', async () => {
    const r = await from('free-v1', 'public.example.com');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ext');
  });
  it("an entry's address names it as its host does (a Host header of 240.0.0.10)", async () => {
    const r = await from('free-v1', '240.0.0.10');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ext');
  });
});

describe("a route's destination the caller does not import: Envoy has no cluster for it (503 NC)", () => {
  it('a ServiceEntry exported to its own namespace only, named by a route in another', async () => {
    const r = await viaProxy(m.outbound('free-v1'), 'public.example.com', '/hidden');
    expect(r.status).toBe(503);
    const flow = (await m.mesh.listFlows({ limit: 50 })).find((f) => f.path === '/hidden');
    expect(flow?.flags).toBe('NC');
    // the route's other destination, exported to all, is reached
    expect((await viaProxy(m.outbound('free-v1'), 'public.example.com', '/shown')).body).toBe('ext');
  });
  it("a service outside the caller's Sidecar egress hosts, named by a route of an imported one", async () => {
    const before = other.seen.length;
    const r = await viaProxy(m.outbound('limited-v1'), 'api:9080', '/to-other');
    expect(r.status).toBe(503);
    expect(other.seen).toHaveLength(before);
    const flow = (await m.mesh.listFlows({ limit: 50 })).find((f) => f.path === '/to-other');
    expect([flow?.flags, flow?.destinationService]).toEqual(['NC', 'other.default.svc.cluster.local']);
    // a caller without that Sidecar is routed there
    expect(JSON.parse((await viaProxy(m.outbound('free-v1'), 'api:9080', '/to-other')).body).stub).toBe('other');
  });
});

describe('ServiceEntry workloadSelector', () => {
  it("Istio's form {labels} selects the mesh's workloads: the entry's host reaches them through their sidecar", async () => {
    const r = await from('free-v1', 'db.internal.example:5000');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).stub).toBe('db');
    const dst = (await m.mesh.listFlows({ limit: 50 })).find(
      (f) => f.reporter === 'destination' && f.destination === 'db-v1'
    );
    expect(dst?.connectionSecurity).toBe('mutual_tls');
  });
});
