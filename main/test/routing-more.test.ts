/** Integration: host forms, the remaining match fields, redirect ports, mirror percentages, LB variants. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, request, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, web1: Stub, web2: Stub, shadow: Stub, nsCaller: Stub;
let m: Running;

const ISTIO = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - name: from-team-ns
    match: [{sourceNamespace: team, uri: {prefix: /ns}}]
    directResponse: {status: 200, body: {string: team caller}}
  - name: by-authority
    match: [{authority: {prefix: web.default}}]
    route: [{destination: {host: web, subset: two}}]
  - name: by-port
    match: [{port: 9080, uri: {prefix: /port}}]
    route: [{destination: {host: web, subset: two}}]
  - name: by-scheme
    match: [{scheme: {exact: https}}]
    route: [{destination: {host: web, subset: two}}]
  - name: redirect-derive
    match: [{uri: {prefix: /derive}}]
    redirect: {uri: /derived, derivePort: FROM_PROTOCOL_DEFAULT, scheme: https, redirectCode: 308}
  - name: redirect-prefix
    match: [{uri: {prefix: /pre}}]
    redirect: {prefixRewrite: /post, redirectCode: 302}
  - name: no-mirror
    match: [{uri: {prefix: /nomirror}}]
    mirror: {host: shadow}
    mirrorPercentage: {value: 0}
    route: [{destination: {host: web, subset: one}}]
  - name: mirrors
    match: [{uri: {prefix: /mirrors}}]
    mirrors: [{destination: {host: shadow}, percentage: {value: 100}}]
    route: [{destination: {host: web, subset: one}}]
  - name: random
    match: [{uri: {prefix: /random}}]
    route: [{destination: {host: web, subset: random}}]
  - name: query-hash
    match: [{uri: {prefix: /qhash}}]
    route: [{destination: {host: web, subset: qhash}}]
  - name: cookie-gen
    match: [{uri: {prefix: /cookiegen}}]
    route: [{destination: {host: web, subset: cookiegen}}]
  - route: [{destination: {host: web, subset: one}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web.default.svc.cluster.local
  subsets:
  - {name: one, labels: {version: one}}
  - {name: two, labels: {version: two}}
  - name: random
    labels: {app: web}
    trafficPolicy: {loadBalancer: {simple: RANDOM}}
  - name: qhash
    labels: {app: web}
    trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: user}}}
  - name: cookiegen
    labels: {app: web}
    trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: lm-session, path: /, ttl: 3600s}}}}
`;

beforeAll(async () => {
  [caller, web1, web2, shadow, nsCaller] = await Promise.all([
    stub('caller'),
    stub('one'),
    stub('two'),
    stub('shadow'),
    stub('team-caller')
  ]);
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      teamcaller: { namespace: 'team', workloads: [{ name: 'team-caller', instances: [nsCaller.address] }] },
      web: {
        workloads: [
          { name: 'web-one', labels: { app: 'web', version: 'one' }, instances: [web1.address] },
          { name: 'web-two', labels: { app: 'web', version: 'two' }, instances: [web2.address] }
        ]
      },
      shadow: { workloads: [{ name: 'shadow-v1', instances: [shadow.address] }] }
    }),
    istio: { 'web.yaml': ISTIO }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, web1, web2, shadow, nsCaller].map((s) => s.close()));
});

const served = (r: { body: string }) => (JSON.parse(r.body) as { stub: string }).stub;
const out = () => m.outbound('caller-v1');

describe('host forms', () => {
  it.each([
    'web',
    'web:9080',
    'web.default:9080',
    'web.default.svc:9080',
    'web.default.svc.cluster.local',
    'WEB.default.svc.cluster.local:9080'
  ])('authority %s reaches the web service', async (authority) => {
    const r = await request(out(), '/x', { headers: { host: authority } });
    expect(['one', 'two']).toContain(served(r));
  });
  it('the wrong port for a known host is not that service (ALLOW_ANY passthrough fails to connect)', async () => {
    const r = await viaProxy(out(), 'web:9999', '/x');
    expect(r.status).toBe(503);
  });
  it('a request addressed to a localmesh listener itself gets 404 NR instead of looping', async () => {
    const r = await request(out(), '/x', { headers: { host: `127.0.0.1:${out()}` } });
    expect(r.status).toBe(404);
  });
});

describe('more match fields', () => {
  it('authority prefix match sees the request authority', async () => {
    expect(served(await request(out(), '/a', { headers: { host: 'web.default.svc:9080' } }))).toBe('two');
    expect(served(await request(out(), '/a', { headers: { host: 'web:9080' } }))).toBe('one');
  });
  it('port match', async () => {
    expect(served(await viaProxy(out(), 'web:9080', '/port'))).toBe('two');
  });
  it('scheme is http for plaintext app traffic', async () => {
    expect(served(await viaProxy(out(), 'web:9080', '/s'))).toBe('one');
  });
  it('sourceNamespace selects callers by namespace', async () => {
    expect((await viaProxy(m.mesh.listeners().get('out:team-caller')!, 'web.default:9080', '/ns')).body).toBe(
      'team caller'
    );
    expect(served(await viaProxy(out(), 'web:9080', '/ns'))).toBe('one');
  });
});

describe('redirect and mirror details', () => {
  it('derivePort FROM_PROTOCOL_DEFAULT sets no port: a Host port other than 80 stays; scheme and code applied', async () => {
    const r = await viaProxy(out(), 'web:9080', '/derive?q=1');
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('https://web:9080/derived?q=1');
  });
  it('prefixRewrite replaces the matched prefix and keeps the request authority with its port', async () => {
    const r = await viaProxy(out(), 'web:9080', '/pre/fix');
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('http://web:9080/post/fix');
  });
  it('mirrorPercentage 0 mirrors nothing; mirrors[] with 100% copies every request', async () => {
    const before = shadow.seen.length;
    for (let i = 0; i < 5; i++) await viaProxy(out(), 'web:9080', '/nomirror');
    await viaProxy(out(), 'web:9080', '/mirrors/1');
    for (let i = 0; i < 100 && shadow.seen.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(shadow.seen.slice(before).map((s) => s.url)).toEqual(['/mirrors/1']);
  });
});

describe('load balancer variants', () => {
  it('RANDOM spreads 100 requests over both endpoints (each in [25, 75])', async () => {
    let one = 0;
    for (let i = 0; i < 100; i++) if (served(await viaProxy(out(), 'web:9080', '/random')) === 'one') one++;
    expect(one).toBeGreaterThanOrEqual(25);
    expect(one).toBeLessThanOrEqual(75);
  });
  it('consistentHash on a query parameter is sticky per value', async () => {
    for (const u of ['u1', 'u2', 'u3', 'u4']) {
      const first = served(await viaProxy(out(), 'web:9080', `/qhash?user=${u}`));
      for (let i = 0; i < 4; i++) expect(served(await viaProxy(out(), 'web:9080', `/qhash?user=${u}`))).toBe(first);
    }
  });
  it('an absent hash cookie with a ttl is generated and returned in set-cookie; sending it back sticks', async () => {
    const r = await viaProxy(out(), 'web:9080', '/cookiegen');
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(/^lm-session="[0-9a-f]+"; Max-Age=3600; Path=\/; HttpOnly$/);
    const value = cookie.split(';')[0]!;
    for (let i = 0; i < 5; i++)
      expect(served(await viaProxy(out(), 'web:9080', '/cookiegen', { headers: { cookie: value } }))).toBe(served(r));
  });
});
