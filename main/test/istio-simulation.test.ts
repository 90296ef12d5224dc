/**
 * Integration: cases from Istio's pilot simulation tests (pilot/pkg/networking/core/sidecar_simulation_test.go,
 * serviceentry_simulation_test.go, httproute_test.go), which push config through pilot and simulate a request
 * against the generated Envoy config. Here each simulated request is a real request through a caller's outbound
 * sidecar, and the cluster it would hit is the stub that answers (or the 502 of REGISTRY_ONLY's block_all).
 */
import type net from 'node:net';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let client: Stub, scoped: Stub, wide: Stub, known: Stub, alt: Stub, api: Stub;
let http80: http.Server, http8080: http.Server;
let m: Running;

const listen = async (body: string) => {
  const s = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
};
const portOf = (s: http.Server) => (s.address() as net.AddressInfo).port;

beforeAll(async () => {
  [client, scoped, wide, known, alt, api] = await Promise.all([
    stub('client'),
    stub('scoped'),
    stub('wide'),
    stub('known'),
    stub('alt'),
    stub('api')
  ]);
  [http80, http8080] = await Promise.all([listen('port 80'), listen('port 8080')]);
  const istio = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: scoped}
spec:
  workloadSelector: {labels: {app: scoped}}
  egress: [{hosts: ["./*"]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: wide}
spec:
  workloadSelector: {labels: {app: wide}}
  egress: [{hosts: ["./*", "team/*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: known-from-team, namespace: team}
spec:
  hosts: [known.default.svc.cluster.local]
  http:
  - route: [{destination: {host: alt.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: alt-aliases}
spec:
  hosts: [alt, alt-alias.internal]
  http:
  - route: [{destination: {host: alt}}]
    headers: {response: {set: {x-vs: alt-aliases}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-ext}
spec:
  hosts: [api.ext.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${api.port}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wild-ext}
spec:
  hosts: ["*.ext.internal"]
  http:
  - route: [{destination: {host: api.ext.internal}}]
    headers: {response: {set: {x-vs: wild-ext}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi-http}
spec:
  hosts: [multi.example.org]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${portOf(http80)}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi-alt}
spec:
  hosts: [multi.example.org]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http-alt, protocol: HTTP, targetPort: ${portOf(http8080)}}]
  endpoints: [{address: 127.0.0.1}]
`;
  m = await startMesh(
    {
      meshYaml: meshYaml(
        {
          client: { workloads: [{ name: 'client-v1', instances: [client.address] }] },
          scoped: { workloads: [{ name: 'scoped-v1', instances: [scoped.address] }] },
          wide: { workloads: [{ name: 'wide-v1', instances: [wide.address] }] },
          known: { workloads: [{ name: 'known-v1', instances: [known.address] }] },
          alt: { workloads: [{ name: 'alt-v1', instances: [alt.address] }] }
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
  await Promise.all([client, scoped, wide, known, alt, api].map((s) => s.close()));
  http80.close();
  http8080.close();
});

const from = (w: string, host: string) => viaProxy(m.outbound(w), host, '/x');
const stubOf = (r: { status: number; body: string }) => (r.status === 200 ? JSON.parse(r.body).stub : r.status);

describe('Sidecar egress hosts import VirtualServices too (TestSidecarRoutes "sidecar filter", cross namespace)', () => {
  it('a caller without a Sidecar gets the VirtualService of another namespace (exportTo "*")', async () => {
    expect(stubOf(await from('client-v1', 'known:9080'))).toBe('alt');
  });
  it('egress "./*" imports the services of its namespace but not a VirtualService written in another: default route', async () => {
    expect(stubOf(await from('scoped-v1', 'known:9080'))).toBe('known');
  });
  it('egress "team/*" imports the VirtualServices of namespace team', async () => {
    expect(stubOf(await from('wide-v1', 'known:9080'))).toBe('alt');
  });
});

describe('a VirtualService\'s hosts that name no service (httproute_test "virtual service hosts with subsets")', () => {
  it("are virtual hosts on the ports of the services it names: alt-alias.internal:9080 goes by the VirtualService's routes", async () => {
    const r = await from('client-v1', 'alt-alias.internal:9080');
    expect(stubOf(r)).toBe('alt');
    expect(r.headers['x-vs']).toBe('alt-aliases');
  });
  it('and not on port 80, where no service of the VirtualService listens: block_all (502) under REGISTRY_ONLY', async () => {
    const r = await from('client-v1', 'alt-alias.internal');
    expect(r.status).toBe(502);
    expect(alt.seen.some((s) => s.headers.host === 'alt-alias.internal')).toBe(false);
  });
  it('a wildcard host that matches a service applies to it (TestSidecarRoutes "wildcard match with sidecar")', async () => {
    const r = await from('client-v1', 'api.ext.internal');
    expect(stubOf(r)).toBe('api');
    expect(r.headers['x-vs']).toBe('wild-ext');
  });
  it('and makes no wildcard virtual host of its own: another name under it is an unknown host (502)', async () => {
    const r = await from('client-v1', 'nope.ext.internal');
    expect(r.status).toBe(502);
    expect(api.seen.some((s) => s.headers.host === 'nope.ext.internal')).toBe(false);
  });
});

describe('ServiceEntries sharing a host (TestServiceEntryDuplicatedHostname)', () => {
  it("two entries of one namespace for one host merge their ports: each port reaches its own entry's endpoint", async () => {
    const r80 = await from('client-v1', 'multi.example.org');
    expect(r80.status).toBe(200);
    expect(r80.body).toBe('port 80');
    const r8080 = await from('client-v1', 'multi.example.org:8080');
    expect(r8080.status).toBe(200);
    expect(r8080.body).toBe('port 8080');
  });
});
