/**
 * Integration: the VirtualService cases of Istio's own integration test (tests/integration/pilot/common/routing.go,
 * virtualServiceCases), each config with the echo server's checks, replayed through a caller's outbound sidecar: what
 * the upstream sees (headers, Host, URL) and what the caller gets (status, Location, CORS headers, split counts).
 * Service b listens on port 80 and c on 85, as the echo apps' "http" and "http2" ports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, request, startMesh, stub, type Running, type Stub } from './helpers/harness.js';

let a: Stub, b: Stub, c: Stub, d: Stub, e1: Stub, e2: Stub, e3: Stub, f: Stub;
let m: Running;

const ISTIO = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b]
  http:
  - match: [{uri: {exact: /added}}]
    route: [{destination: {host: b}}]
    headers: {request: {add: {istio-custom-header: user-defined-value}}}
  - match: [{uri: {exact: /set}}]
    route: [{destination: {host: b}}]
    headers: {request: {set: {x-custom: some-value}}}
  - match: [{uri: {exact: /authority}}]
    route: [{destination: {host: b}}]
    headers: {request: {set: {":authority": my-custom-authority}}}
  - match: [{uri: {exact: /dest-host}}]
    route: [{destination: {host: b}, headers: {request: {set: {Host: my-custom-authority}}}}]
  - match: [{uri: {exact: /dest-authority}}]
    route: [{destination: {host: b}, headers: {request: {set: {":authority": my-custom-authority}}}}]
  - match: [{uri: {exact: /route-and-dest}}]
    route: [{destination: {host: b}, headers: {request: {set: {Host: dest-authority}}}}]
    headers: {request: {set: {":authority": route-authority}}}
  - match: [{uri: {exact: /route-and-multi}}]
    route:
    - {destination: {host: b}, headers: {request: {set: {Host: dest-authority}}}, weight: 50}
    - {destination: {host: b}, weight: 50}
    headers: {request: {set: {":authority": route-authority}}}
  - match: [{uri: {exact: /multi}}]
    route:
    - {destination: {host: b}, headers: {request: {set: {Host: dest-authority}}}, weight: 50}
    - {destination: {host: b}, headers: {request: {set: {Host: dest-authority}}}, weight: 50}
  - match: [{uri: {exact: /foo}}]
    redirect: {uri: /new/path}
  - match: [{uri: {exact: /new/path}}]
    route: [{destination: {host: b}}]
  - match: [{uri: {exact: /scheme}}]
    redirect: {derivePort: FROM_REQUEST_PORT, scheme: https}
  - match: [{uri: {exact: /port}}]
    redirect: {derivePort: FROM_REQUEST_PORT}
  - match: [{uri: {exact: /rewrite}}]
    rewrite: {uri: /new/path}
    route: [{destination: {host: b}}]
  - match: [{uri: {exact: /rewrite-authority}}]
    rewrite: {authority: new-authority}
    route: [{destination: {host: b}}]
  - match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: cors.com}]
      allowMethods: [POST, GET]
      allowCredentials: false
      allowHeaders: [X-Foo-Bar, X-Foo-Baz]
      maxAge: "24h"
    route: [{destination: {host: b}}]
  - match: [{uri: {prefix: /retry}}]
    route: [{destination: {host: b}}]
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: gateway-error,connect-failure,refused-stream,reset-before-request
      retryRemoteLocalities: true
  - match: [{uri: {prefix: /abort}}]
    route: [{destination: {host: b}}]
    fault: {abort: {percentage: {value: 100}, httpStatus: 418}}
  - match: [{uri: {prefix: /wo-exact}, withoutHeaders: {end-user: {exact: jason}}}]
    route: [{destination: {host: b}}]
    fault: {abort: {percentage: {value: 100}, httpStatus: 403}}
  - match: [{uri: {prefix: /wo-star}, withoutHeaders: {end-user: {regex: "*"}}}]
    route: [{destination: {host: b}}]
    fault: {abort: {percentage: {value: 100}, httpStatus: 403}}
  - match: [{uri: {prefix: /wo-any}, withoutHeaders: {end-user: {regex: .*}}}]
    route: [{destination: {host: b}}]
    fault: {abort: {percentage: {value: 100}, httpStatus: 403}}
  - route: [{destination: {host: b}}]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: c}
spec:
  hosts: [c]
  http:
  - match: [{uri: {exact: /port}}]
    redirect: {derivePort: FROM_REQUEST_PORT}
  - route: [{destination: {host: c}}]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: d}
spec:
  hosts: [d]
  http:
  - match: [{uri: {regex: .*}}]
    route: [{destination: {host: d}}]
    fault: {abort: {percentage: {value: 100}, httpStatus: 418}}
  - route: [{destination: {host: d}}]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: e1}
spec:
  hosts: [e1]
  http:
  - match: [{uri: {prefix: /shifting-50}}]
    route:
    - {destination: {host: e1}, weight: 50}
    - {destination: {host: e2}, weight: 25}
    - {destination: {host: e3}, weight: 25}
  - route:
    - {destination: {host: e1}, weight: 80}
    - {destination: {host: e2}, weight: 10}
    - {destination: {host: e3}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: f}
spec:
  hosts: [f]
  http:
  - match: [{uri: {prefix: /weird}, headers: {"a!#$%&'*+-.^_\`|~z": {exact: why}}}]
    route: [{destination: {host: f}}]
  - match: [{uri: {prefix: /pseudo}, headers: {":method": {exact: GET}}}]
    route: [{destination: {host: f}}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: idletimeout-dr}
spec:
  host: c
  trafficPolicy:
    tls: {mode: DISABLE}
    connectionPool: {http: {idleTimeout: 100s}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: use-client-protocol}
spec:
  host: e3
  trafficPolicy:
    tls: {mode: DISABLE}
    connectionPool: {http: {useClientProtocol: true}}
`;

beforeAll(async () => {
  [a, b, c, d, e1, e2, e3, f] = await Promise.all(['a', 'b', 'c', 'd', 'e1', 'e2', 'e3', 'f'].map((n) => stub(n)));
  const one = (name: string, s: Stub, port = 9080) => ({ port, workloads: [{ name, instances: [s.address] }] });
  m = await startMesh({
    meshYaml: meshYaml({
      a: one('a-v1', a),
      b: one('b-v1', b, 80),
      c: one('c-v1', c, 85),
      d: one('d-v1', d),
      e1: one('e1-v1', e1),
      e2: one('e2-v1', e2),
      e3: one('e3-v1', e3),
      f: one('f-v1', f)
    }),
    istio: { 'vs.yaml': ISTIO }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([a, b, c, d, e1, e2, e3, f].map((s) => s.close()));
});

/** A call from workload a, addressed by Host (the echo client's default is the service name). */
const call = (host: string, path: string, opts: { method?: string; headers?: Record<string, string> } = {}) =>
  request(m.outbound('a-v1'), path, { ...opts, headers: { host, ...opts.headers } });
const lastSeen = (s: Stub) => s.seen.at(-1)!;

describe('headers', () => {
  it('added header: the upstream sees istio-custom-header', async () => {
    expect((await call('b', '/added')).status).toBe(200);
    expect(lastSeen(b).headers['istio-custom-header']).toBe('user-defined-value');
  });
  it('set header: the upstream sees x-custom', async () => {
    expect((await call('b', '/set')).status).toBe(200);
    expect(lastSeen(b).headers['x-custom']).toBe('some-value');
  });
  it.each([
    ['set authority header', '/authority', 'my-custom-authority'],
    ['set host header in destination', '/dest-host', 'my-custom-authority'],
    ['set authority header in destination', '/dest-authority', 'my-custom-authority'],
    ['set host header in route and destination: the route wins', '/route-and-dest', 'route-authority'],
    ['set host header multi destination', '/multi', 'dest-authority'],
    ['rewrite authority', '/rewrite-authority', 'new-authority']
  ])('%s', async (_name, path, host) => {
    expect((await call('b', path)).status).toBe(200);
    expect(lastSeen(b).headers.host).toBe(host);
  });
  it('set host header in route and multi destination: the route wins on either destination', async () => {
    for (let i = 0; i < 8; i++) {
      expect((await call('b', '/route-and-multi')).status).toBe(200);
      expect(lastSeen(b).headers.host).toBe('route-authority');
    }
  });
});

describe('redirect and rewrite', () => {
  it('redirect keeps the query; following it reaches /new/path?key=value', async () => {
    const r = await call('b', '/foo?key=value');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('http://b/new/path?key=value');
    const u = new URL(r.headers.location!);
    expect((await call(u.host, u.pathname + u.search)).status).toBe(200);
    expect(lastSeen(b).url).toBe('/new/path?key=value');
  });
  it('redirect port and scheme: FROM_REQUEST_PORT with scheme https keeps :80', async () => {
    const r = await call('b', '/scheme');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://b:80/scheme');
  });
  it.each([
    ['to default', 'b', 'http://b/port'],
    ['to default with host port', 'b:80', 'http://b:80/port'],
    ['non-default', 'c', 'http://c:85/port'],
    ['non-default with host port', 'c:85', 'http://c:85/port']
  ])('redirect request port, %s', async (_name, host, location) => {
    const r = await call(host, '/port');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(location);
  });
  it('rewrite uri keeps the query and drops the fragment', async () => {
    expect((await call('b', '/rewrite?key=value#hash')).status).toBe(200);
    expect(lastSeen(b).url).toBe('/new/path?key=value');
  });
});

describe('cors', () => {
  it('preflight from an allowed origin is answered by the sidecar with the policy', async () => {
    const n = b.seen.length;
    const r = await call('b', '/cors', {
      method: 'OPTIONS',
      headers: { origin: 'cors.com', 'access-control-request-method': 'DELETE' }
    });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe('cors.com');
    expect(r.headers['access-control-allow-methods']).toBe('POST,GET');
    expect(r.headers['access-control-allow-headers']).toBe('X-Foo-Bar,X-Foo-Baz');
    expect(r.headers['access-control-max-age']).toBe('86400');
    expect(b.seen.length).toBe(n);
  });
  it('get from an allowed origin gets access-control-allow-origin; without Origin none', async () => {
    const r = await call('b', '/cors', { headers: { origin: 'cors.com' } });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe('cors.com');
    const plain = await call('b', '/cors');
    expect(plain.status).toBe(200);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('retries, faults, matches', () => {
  it('retry conditions: the config applies and the call succeeds', async () => {
    expect((await call('b', '/retry')).status).toBe(200);
  });
  it('fault abort: 418', async () => {
    expect((await call('b', '/abort')).status).toBe(418);
  });
  it('a catch-all regex route short-circuits the routes after it', async () => {
    expect((await call('d', '/anything')).status).toBe(418);
  });
  it.each([
    ['/wo-exact', { 'end-user': 'jason' }, 200],
    ['/wo-exact', { 'end-user': 'not-jason' }, 403],
    ['/wo-exact', {}, 403],
    ['/wo-star', { 'end-user': 'jason' }, 200],
    ['/wo-star', { 'end-user': '' }, 200],
    ['/wo-star', {}, 403],
    ['/wo-any', { 'end-user': 'jason' }, 200],
    ['/wo-any', { 'end-user': '' }, 200],
    ['/wo-any', {}, 200]
  ])('withoutHeaders %s with %j: %i', async (path, headers, status) => {
    expect((await call('b', path, { headers })).status).toBe(status);
  });
});

describe('header matches (newer routing.go)', () => {
  it('weird header matches: a name with every token character matches exactly; without it no route (404)', async () => {
    expect((await call('f', '/weird')).status).toBe(404);
    expect((await call('f', '/weird', { headers: { "a!#$%&'*+-.^_`|~z": 'why' } })).status).toBe(200);
  });
  it('pseudo header matches: headers {":method": {exact: GET}} matches the method', async () => {
    expect((await call('f', '/pseudo', { method: 'POST' })).status).toBe(404);
    expect((await call('f', '/pseudo')).status).toBe(200);
  });
});

describe('shifting', () => {
  it.each([
    ['/shifting-50', [50, 25, 25]],
    ['/shifting-80', [80, 10, 10]]
  ])('%s: 100 calls split by weight within 10', async (path, split) => {
    const before = [e1, e2, e3].map((s) => s.seen.length);
    for (let i = 0; i < 100; i++) expect((await call('e1', path)).status).toBe(200);
    [e1, e2, e3].forEach((s, i) => expect(Math.abs(s.seen.length - before[i] - split[i])).toBeLessThanOrEqual(10));
  });
});

describe('DestinationRule cases (destinationRuleCases, useClientProtocolCases over HTTP/1.1)', () => {
  it.each([
    ['only idleTimeout specified in DR', 'c', () => c],
    ['use client protocol with h1', 'e3', () => e3]
  ])('%s: the call succeeds in plaintext (tls DISABLE: no client certificate reaches the app)', async (_n, host, s) => {
    const r = await call(host, '/dr');
    expect(r.status).toBe(200);
    expect(lastSeen(s()).url).toBe('/dr');
    expect(lastSeen(s()).headers['x-forwarded-client-cert']).toBeUndefined();
    expect((await call('b', '/dr')).status).toBe(200);
    expect(lastSeen(b).headers['x-forwarded-client-cert']).toContain('spiffe://');
  });
});
