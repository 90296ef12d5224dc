/**
 * Integration: DestinationRule load balancing, ServiceEntry, outbound traffic policy, CORS, delegate, exportTo,
 * gateways, WebSocket upgrades, and live reload. Real sockets, real engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { meshYaml, request, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, a1: Stub, a2: Stub, a3: Stub, ext: Stub, other: Stub;
let m: Running;

const ISTIO = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
  subsets:
  - name: sticky
    labels: {app: api}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpHeaderName: x-user}}
  - name: by-cookie
    labels: {app: api}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpCookie: {name: session, ttl: 0s}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.default.svc.cluster.local]
  http:
  - match: [{uri: {prefix: /sticky}}]
    route: [{destination: {host: api, subset: sticky}}]
  - match: [{uri: {prefix: /cookie}}]
    route: [{destination: {host: api, subset: by-cookie}}]
  - match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://app.example"}, {regex: "https://.*\\\\.dev\\\\.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-exposed]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: api}}]
  - match: [{uri: {prefix: /cstar}}]
    corsPolicy: {allowOrigins: [{exact: "*"}], allowMethods: ["*"], allowHeaders: ["*"]}
    route: [{destination: {host: api}}]
  - match: [{uri: {prefix: /cignore}}]
    corsPolicy:
      allowOrigins: [{exact: "https://app.example"}]
      allowMethods: [GET]
      allowHeaders: [x-a]
      maxAge: 10s
      allowCredentials: true
      unmatchedPreflights: IGNORE
    route: [{destination: {host: api}}]
  - match: [{uri: {prefix: /cfault}}]
    corsPolicy: {allowOrigins: [{exact: "https://app.example"}], allowMethods: [GET]}
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: api}}]
  - match: [{uri: {prefix: /cdirect}}]
    corsPolicy: {allowOrigins: [{exact: "https://app.example"}], exposeHeaders: [x-e]}
    directResponse: {status: 418, body: {string: teapot}}
  - match: [{uri: {prefix: /team}}]
    delegate: {name: api-team}
  - route: [{destination: {host: api}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-team}
spec:
  http:
  - match: [{uri: {prefix: /team/a}}]
    directResponse: {status: 200, body: {string: team-a}}
  - directResponse: {status: 200, body: {string: team-other}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec:
  hosts: [api.external.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: EXT_PORT}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: by-dns}
spec:
  hosts: [dns.example.test]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: EXT_PORT}]
  endpoints: [{address: localhost}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: original-dst}
spec:
  hosts: [localhost]
  resolution: NONE
  ports: [{number: EXT_PORT, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gateway-only}
spec:
  hosts: [other]
  gateways: [bookinfo-gateway]
  http:
  - directResponse: {status: 500, body: {string: should not apply}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: private, namespace: elsewhere}
spec:
  hosts: [other.default.svc.cluster.local]
  exportTo: ["."]
  http:
  - directResponse: {status: 500, body: {string: not exported}}
`;

beforeAll(async () => {
  [caller, a1, a2, a3, ext, other] = await Promise.all([
    stub('caller'),
    stub('a1'),
    stub('a2'),
    stub('a3'),
    stub('ext'),
    stub('other')
  ]);
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      api: { workloads: [{ name: 'api-v1', labels: { app: 'api' }, instances: [a1.address, a2.address, a3.address] }] },
      other: { workloads: [{ name: 'other-v1', instances: [other.address] }] }
    }),
    istio: { 'all.yaml': ISTIO.replaceAll('EXT_PORT', String(ext.port)) }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, a1, a2, a3, ext, other].map((s) => s.close()));
});

const call = (authority: string, p: string, headers: Record<string, string> = {}, method = 'GET') =>
  viaProxy(m.outbound('caller-v1'), authority, p, { headers, method });
const served = (r: { body: string }) => (JSON.parse(r.body) as { stub: string }).stub;

describe('load balancing', () => {
  it('ROUND_ROBIN cycles through all three instances', async () => {
    const seq: string[] = [];
    for (let i = 0; i < 6; i++) seq.push(served(await call('api:9080', '/rr')));
    expect(new Set(seq.slice(0, 3)).size).toBe(3);
    expect(seq.slice(3)).toEqual(seq.slice(0, 3));
  });
  it('consistentHash on a header: same key, same instance', async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const first = served(await call('api:9080', '/sticky', { 'x-user': user }));
      for (let i = 0; i < 5; i++) expect(served(await call('api:9080', '/sticky', { 'x-user': user }))).toBe(first);
    }
  });
  it('consistentHash on a cookie: same session, same instance', async () => {
    const first = served(await call('api:9080', '/cookie', { cookie: 'a=1; session=xyz' }));
    for (let i = 0; i < 5; i++)
      expect(served(await call('api:9080', '/cookie', { cookie: 'session=xyz' }))).toBe(first);
  });
});

describe('CORS', () => {
  it('allowed preflight is answered locally: 200, empty body, access-control-* headers', async () => {
    const r = await call(
      'api:9080',
      '/cors',
      { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      'OPTIONS'
    );
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    expect(r.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(r.headers['access-control-allow-methods']).toBe('GET,POST');
    expect(r.headers['access-control-allow-headers']).toBe('x-custom');
    expect(r.headers['access-control-max-age']).toBe('86400');
    expect(r.headers['access-control-allow-credentials']).toBe('true');
  });
  it('actual request from an allowed (regex) origin gets allow-origin and expose-headers', async () => {
    const r = await call('api:9080', '/cors', { origin: 'https://x.dev.example' });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe('https://x.dev.example');
    expect(r.headers['access-control-expose-headers']).toBe('x-exposed');
  });
  it('other origins get no CORS headers; the request is still forwarded', async () => {
    const r = await call('api:9080', '/cors', { origin: 'https://evil.example' });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('CORS as Envoy filters it (fault, cors, router)', () => {
  it('allowOrigins exact "*" allows any origin (echoed); allowMethods/allowHeaders "*" echo the preflight', async () => {
    const pre = await call(
      'api:9080',
      '/cstar',
      {
        origin: 'https://any.org',
        'access-control-request-method': 'DELETE',
        'access-control-request-headers': 'x-q,x-r'
      },
      'OPTIONS'
    );
    expect([pre.status, pre.body]).toEqual([200, '']);
    expect(pre.headers['access-control-allow-origin']).toBe('https://any.org');
    expect(pre.headers['access-control-allow-methods']).toBe('DELETE');
    expect(pre.headers['access-control-allow-headers']).toBe('x-q,x-r');
    const actual = await call('api:9080', '/cstar', { origin: 'https://other.org' });
    expect(actual.status).toBe(200);
    expect(actual.headers['access-control-allow-origin']).toBe('https://other.org');
  });
  it('unmatchedPreflights IGNORE: answered 200 without allow-origin, with the other preflight headers', async () => {
    const r = await call(
      'api:9080',
      '/cignore',
      { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
      'OPTIONS'
    );
    expect([r.status, r.body]).toEqual([200, '']);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    expect(r.headers['access-control-allow-methods']).toBe('GET');
    expect(r.headers['access-control-allow-headers']).toBe('x-a');
    expect(r.headers['access-control-max-age']).toBe('10');
    expect(r.headers['access-control-allow-credentials']).toBe('true');
  });
  it('an empty Access-Control-Request-Method is no preflight: forwarded, as an actual CORS request', async () => {
    const r = await call(
      'api:9080',
      '/cignore/empty',
      { origin: 'https://app.example', 'access-control-request-method': '' },
      'OPTIONS'
    );
    expect(r.status).toBe(200);
    expect(served(r)).toBeDefined();
    expect(r.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(r.headers['access-control-allow-methods']).toBeUndefined();
  });
  it('the fault filter runs first: a preflight on an aborting route gets the abort, without CORS headers', async () => {
    const r = await call(
      'api:9080',
      '/cfault',
      { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      'OPTIONS'
    );
    expect([r.status, r.body]).toEqual([500, 'fault filter abort']);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
  it("the router's own replies carry the CORS headers of an allowed origin (a direct response)", async () => {
    const r = await call('api:9080', '/cdirect', { origin: 'https://app.example' });
    expect([r.status, r.body]).toEqual([418, 'teapot']);
    expect(r.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(r.headers['access-control-expose-headers']).toBe('x-e');
  });
});

describe('registry and visibility', () => {
  it('delegate: the delegate VirtualService routes under the root match', async () => {
    expect((await call('api:9080', '/team/a')).body).toBe('team-a');
    expect((await call('api:9080', '/team/b')).body).toBe('team-other');
  });
  it('ServiceEntry STATIC: a known external host routes to its endpoint', async () => {
    const r = await call('api.external.example', '/ext');
    expect(served(r)).toBe('ext');
    expect(ext.seen.at(-1)!.headers.host).toBe('api.external.example');
  });
  it('ServiceEntry DNS: endpoints are resolved by name (localhost) at the target port', async () => {
    expect(served(await call('dns.example.test', '/dns'))).toBe('ext');
  });
  it('ServiceEntry resolution NONE: the original destination the app named', async () => {
    expect(served(await call(`localhost:${ext.port}`, '/none'))).toBe('ext');
    const f = (await m.mesh.listFlows({ limit: 20 })).reverse().find((x) => x.path === '/none');
    expect(f?.destinationService).toBe('localhost');
  });
  it('ALLOW_ANY: an unknown host is passed through', async () => {
    const r = await call(`127.0.0.1:${ext.port}`, '/passthrough');
    expect(served(r)).toBe('ext');
    const f = (await m.mesh.listFlows({ limit: 20 })).reverse().find((x) => x.path === '/passthrough');
    expect(f?.destinationService).toBe('PassthroughCluster');
    // no service: destination_service falls back to the Host header, as istio_stats does
    const { text } = await m.mesh.metrics();
    expect(text).toMatch(
      new RegExp(
        `istio_requests_total\\{reporter="source",[^}]*destination_service="127\\.0\\.0\\.1:${ext.port}",[^}]*destination_service_name="PassthroughCluster"`
      )
    );
  });
  it('a VirtualService bound only to a gateway does not apply to sidecars; exportTo "." hides it from other namespaces', async () => {
    const r = await call('other:9080', '/x');
    expect(r.status).toBe(200);
    expect(served(r)).toBe('other');
  });
});

describe('WebSocket', () => {
  it('an upgrade passes through the outbound and inbound sidecars', async () => {
    // an upstream that accepts the upgrade and echoes raw bytes
    const srv = http.createServer();
    srv.on('upgrade', (_req, sock: net.Socket) => {
      sock.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
      sock.on('data', (d) => sock.write(d));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const wsPort = (srv.address() as net.AddressInfo).port;
    const mesh2 = await startMesh({
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        ws: { workloads: [{ name: 'ws-v1', instances: [`127.0.0.1:${wsPort}`] }] }
      })
    });
    try {
      const sock = net.connect(mesh2.outbound('caller-v1'), '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.write(
        'GET http://ws:9080/chat HTTP/1.1\r\nhost: ws:9080\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n'
      );
      await until(() => data.includes('101'), '101 switching protocols');
      sock.write('ping-frame');
      await until(() => data.includes('ping-frame'), 'echo through the upgraded connection');
      sock.destroy();
    } finally {
      await mesh2.close();
      srv.close();
    }
  });
});

describe('live reload', () => {
  it('an edit applies to new requests; an in-flight request finishes on the old config; a bad edit keeps the last good one', async () => {
    const slowSvc = await stub('slow', (_req, res) => {
      setTimeout(() => {
        res.writeHead(200);
        res.end('slow done');
      }, 300);
    });
    const mesh2 = await startMesh(
      {
        meshYaml: meshYaml({
          caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
          slow: { workloads: [{ name: 'slow-v1', instances: [slowSvc.address] }] }
        }),
        istio: { 'vs.yaml': '' }
      },
      { watch: true, debounceMs: 20 }
    );
    try {
      const inflight = viaProxy(mesh2.outbound('caller-v1'), 'slow:9080', '/x');
      const vsFile = path.join(mesh2.dir, 'istio', 'vs.yaml');
      const events: string[] = [];
      mesh2.mesh.onEvent((e) => e.type === 'config' && events.push(e.reload.ok ? 'ok' : 'rejected'));
      fs.writeFileSync(
        vsFile,
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: slow}\nspec:\n  hosts: [slow]\n  http:\n  - directResponse: {status: 200, body: {string: new rule}}\n'
      );
      await until(() => events.includes('ok'), 'reload event');
      expect((await viaProxy(mesh2.outbound('caller-v1'), 'slow:9080', '/y')).body).toBe('new rule');
      expect((await inflight).body).toBe('slow done');
      expect((await mesh2.mesh.getConfig()).version).toBe(2);

      fs.writeFileSync(
        vsFile,
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: slow}\nspec:\n  hosts: [slow]\n  http:\n  - route: [{destination: {host: slow}, weight: "fifty"}]\n'
      );
      await until(() => events.includes('rejected'), 'rejected reload event');
      const cfg = await mesh2.mesh.getConfig();
      expect(cfg.lastReload.ok).toBe(false);
      expect(cfg.version).toBe(2);
      expect(
        cfg.lastReload.issues.some((i) => i.severity === 'error' && i.where.file === vsFile && i.where.line === 7)
      ).toBe(true);
      expect((await viaProxy(mesh2.outbound('caller-v1'), 'slow:9080', '/z')).body).toBe('new rule');
    } finally {
      await mesh2.close();
      await slowSvc.close();
    }
  });
  it('REGISTRY_ONLY (Sidecar resource) answers 502 with an empty body for unknown hosts', async () => {
    const mesh2 = await startMesh({
      meshYaml: meshYaml({ caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] } }),
      istio: {
        'sidecar.yaml':
          'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default}\nspec:\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n'
      }
    });
    try {
      const r = await request(mesh2.outbound('caller-v1'), `http://127.0.0.1:${ext.port}/blocked`);
      expect(r.status).toBe(502);
      expect(r.body).toBe('');
      expect(ext.seen.some((s) => s.url === '/blocked')).toBe(false);
    } finally {
      await mesh2.close();
    }
  });
});
