/** Integration: host forms, the remaining match fields, redirect ports, mirror percentages, LB variants. */
import net from 'node:net';
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
  - name: abort-204
    match: [{uri: {prefix: /a204}}]
    fault: {abort: {httpStatus: 204, percentage: {value: 100}}}
    route: [{destination: {host: web, subset: one}}]
  - name: direct-204
    match: [{uri: {prefix: /d204}}]
    directResponse: {status: 204, body: {string: should-not}}
  - name: direct-empty-typed
    match: [{uri: {prefix: /dempty}}]
    directResponse: {status: 200}
    headers: {response: {set: {content-type: application/json, x-kept: yes}}}
  - name: redirect-typed
    match: [{uri: {prefix: /rtyped}}]
    redirect: {uri: /elsewhere}
    headers: {response: {set: {content-type: application/json}}}
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

/** Requests on one keep-alive connection, raw: the bytes of each response up to the next one's status line. */
async function rawExchange(port: number, paths: string[]): Promise<string> {
  const sock = net.connect(port, '127.0.0.1');
  let got = '';
  sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
  await new Promise((r) => sock.once('connect', r));
  for (const p of paths) {
    const before = (got.match(/HTTP\/1\.1 /g) ?? []).length;
    sock.write(`GET http://web:9080${p} HTTP/1.1\r\nHost: web:9080\r\n\r\n`);
    // bounded: each response arrives well within the test's timeout or the test fails on it
    while (
      (got.match(/HTTP\/1\.1 /g) ?? []).length === before ||
      !/\r\n\r\n/.test(got.slice(got.lastIndexOf('HTTP/1.1 ')))
    )
      await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 30)); // a body (there should be none) would have come with the head
  }
  sock.destroy();
  return got;
}

describe('local replies without a body (Envoy prepareLocalReply and its HTTP/1 codec)', () => {
  it('a 204 the sidecar makes has no content-length and no body; the connection goes on', async () => {
    const raw = await rawExchange(out(), ['/a204', '/d204', '/after']);
    const [abort, direct, after] = raw.split(/(?=HTTP\/1\.1 )/);
    for (const r of [abort!, direct!]) {
      expect(r).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
      expect(r.toLowerCase()).not.toContain('content-length');
      expect(r.toLowerCase()).not.toContain('transfer-encoding');
      expect(r.endsWith('\r\n\r\n')).toBe(true); // nothing after the head
    }
    // the fault's reply keeps the text/plain of its (unsent) body, as Envoy's does
    expect(abort).toMatch(/\r\ncontent-type: text\/plain\r\n/);
    expect(after).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(after).toContain('"stub":"one"');
    const flow = (await m.mesh.listFlows({ limit: 200 })).filter((f) => f.path === '/a204').at(-1)!;
    expect(flow).toMatchObject({ status: 204, flags: 'FI' });
    expect(flow.responseHeaders['content-length']).toBeUndefined();
  });

  it("an empty body drops the content-type the rule's ops set (direct response, redirect); other ops stay", async () => {
    const d = await viaProxy(out(), 'web:9080', '/dempty');
    expect(d.status).toBe(200);
    expect(d.headers['content-type']).toBeUndefined();
    expect(d.headers['content-length']).toBe('0');
    expect(d.headers['x-kept']).toBe('yes');
    const r = await viaProxy(out(), 'web:9080', '/rtyped');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('http://web:9080/elsewhere');
    expect(r.headers['content-type']).toBeUndefined();
  });
});
