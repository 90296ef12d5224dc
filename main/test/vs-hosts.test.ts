/**
 * Which VirtualService routes a request, as istiod builds a sidecar's virtual hosts (an audit of L4 and edge
 * traffic): a VirtualService without HTTP rules (tcp / tls routes only) makes no virtual host, so the host keeps
 * its default route; one that gives this caller no rule (sourceLabels) leaves the host to the next VirtualService
 * that matches it, wildcards included; a VirtualService applies on its services' ports only (REGISTRY_ONLY: any
 * other port is an unknown destination, 502).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, web: Stub, api: Stub, reviews: Stub, lab: Stub;
let m: Running;

beforeAll(async () => {
  [caller, web, api, reviews, lab] = await Promise.all([
    stub('caller'),
    stub('web'),
    stub('api'),
    stub('reviews'),
    stub('lab')
  ]);
  const istio = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-tcp}
spec:
  hosts: [web]
  tcp:
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-tls}
spec:
  hosts: [api]
  tls:
  - match: [{sniHosts: [api]}]
    route: [{destination: {host: api}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-for-others, namespace: team}
spec:
  hosts: [reviews]
  http:
  - match: [{sourceLabels: {app: somebody-else}}]
    directResponse: {status: 200, body: {string: exact rule}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: team-wildcard, namespace: team}
spec:
  hosts: ["*.team.svc.cluster.local"]
  http:
  - directResponse: {status: 200, body: {string: wildcard rule}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: lab}
spec:
  hosts: [lab.example.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${lab.port}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: lab}
spec:
  hosts: [lab.example.test]
  http:
  - directResponse: {status: 200, body: {string: lab rule}}
`;
  m = await startMesh({
    meshYaml: meshYaml(
      {
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
        api: { workloads: [{ name: 'api-v1', instances: [api.address] }] },
        reviews: { namespace: 'team', workloads: [{ name: 'reviews-v1', instances: [reviews.address] }] }
      },
      '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}'
    ),
    istio: { 'vs.yaml': istio }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, web, api, reviews, lab].map((s) => s.close()));
});

const call = (authority: string, p = '/') => viaProxy(m.outbound('caller-v1'), authority, p);
const served = (r: { body: string }) => (JSON.parse(r.body) as { stub: string }).stub;

describe('VirtualServices without HTTP rules', () => {
  it('tcp routes only: HTTP requests keep the default route (no 404 NR)', async () => {
    const r = await call('web:9080', '/x');
    expect(r.status).toBe(200);
    expect(served(r)).toBe('web');
  });
  it('tls routes only: the same', async () => {
    const r = await call('api:9080', '/x');
    expect(r.status).toBe(200);
    expect(served(r)).toBe('api');
  });
});

describe('a VirtualService that has no rule for this caller', () => {
  it('leaves the host to the wildcard VirtualService that also matches it', async () => {
    const r = await call('reviews.team:9080', '/x');
    expect([r.status, r.body]).toEqual([200, 'wildcard rule']);
  });
});

describe("a VirtualService on its service's ports only", () => {
  it('the declared port is routed by it', async () => {
    const r = await call('lab.example.test', '/x');
    expect([r.status, r.body]).toEqual([200, 'lab rule']);
  });
  it('another port is an unknown destination: 502 under REGISTRY_ONLY, the rule does not answer', async () => {
    const r = await call('lab.example.test:8080', '/x');
    expect([r.status, r.body]).toEqual([502, '']);
  });
});
