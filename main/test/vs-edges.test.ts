/**
 * Integration: VirtualService edges found by an audit against istio-semantics §1.1 and §1.2: a match's own
 * `gateways` overrides the top-level list; header operations on pseudo-headers (`:authority` rewrites the Host,
 * the others cannot be modified); a header match with regex "*" means "present".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, v1: Stub, v2: Stub, web: Stub;
let m: Running;

const ISTIO = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  gateways: [my-gateway]
  http:
  - match: [{uri: {prefix: /mesh}, gateways: [mesh]}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /gw}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /authority}}]
    headers: {request: {set: {":authority": rewritten.example}}}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /star}, headers: {x-flag: {regex: "*"}}}]
    directResponse: {status: 200, body: {string: flag present}}
  - match: [{uri: {prefix: /both}}]
    headers: {request: {set: {x-both: s}, add: {x-both: a}}}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /addhost}}]
    headers: {request: {add: {host: added.example}}}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /ctjson}}]
    headers: {response: {add: {content-type: application/json}}}
    directResponse: {status: 200, body: {string: "{}"}}
  - match: [{uri: {prefix: /ctnone}}]
    headers: {response: {remove: [content-type]}}
    directResponse: {status: 200, body: {string: abc}}
  - match: [{uri: {prefix: /noust}}]
    headers: {response: {remove: [x-envoy-upstream-service-time]}}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /setust}}]
    headers: {response: {set: {x-envoy-upstream-service-time: "999"}}}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /nc}}]
    headers: {response: {set: {x-t: "yes"}}}
    route: [{destination: {host: web, subset: nope}}]
  - match: [{uri: {prefix: /ruleauth}}]
    rewrite: {authority: rule.example}
    route: [{destination: {host: web}, headers: {request: {set: {host: dest.example}}}}]
  - match: [{uri: {prefix: /same}}]
    rewrite: {uri: /same}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /fmt}}]
    headers:
      request:
        set:
          x-client: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
          x-client-port: "%DOWNSTREAM_REMOTE_PORT%"
          x-pct: "100%%"
          x-host: "%REQ(:authority)% via %PROTOCOL%"
          x-ua: "%REQ(x-missing?user-agent):4%"
          x-none: "%DYNAMIC_METADATA(istio)%"
          x-blank: ""
      response:
        add: {x-started: "%START_TIME%", x-proto: "%PROTOCOL%", x-served-by: "%UPSTREAM_REMOTE_ADDRESS%", x-code: "%RESPONSE_CODE%"}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /clusterfmt}}]
    headers:
      request: {set: {x-cluster: "%UPSTREAM_CLUSTER%", x-flags: "%RESPONSE_FLAGS%"}}
      response: {set: {x-cluster: "%UPSTREAM_CLUSTER_RAW%", x-flags: "%RESPONSE_FLAGS%"}}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /clusternc}}]
    headers: {response: {set: {x-cluster: "%UPSTREAM_CLUSTER%", x-flags: "%RESPONSE_FLAGS%"}}}
    route: [{destination: {host: web, subset: nope}}]
  - match: [{uri: {prefix: /hostfmt}}]
    headers: {request: {set: {host: "%REQ(x-target)%"}}}
    route: [{destination: {host: web}, headers: {request: {set: {host: dest.example}}}}]
  - match: [{uri: {prefix: /rx}}]
    rewrite: {uriRegexRewrite: {match: "x", rewrite: '[\\0]'}}
    route: [{destination: {host: web}}]
  - route: [{destination: {host: web}}]
`;

beforeAll(async () => {
  [caller, v1, v2, web] = await Promise.all([stub('caller'), stub('v1'), stub('v2'), stub('web')]);
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      reviews: {
        workloads: [
          { name: 'reviews-v1', labels: { app: 'reviews', version: 'v1' }, instances: [v1.address] },
          { name: 'reviews-v2', labels: { app: 'reviews', version: 'v2' }, instances: [v2.address] }
        ]
      },
      web: { workloads: [{ name: 'web-v1', instances: [web.address] }] }
    }),
    istio: { 'vs.yaml': ISTIO }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, v1, v2, web].map((s) => s.close()));
});

const call = (authority: string, p: string, headers: Record<string, string> = {}) =>
  viaProxy(m.outbound('caller-v1'), authority, p, { headers });
const served = (r: { body: string }) => (JSON.parse(r.body) as { stub: string }).stub;

describe('gateways', () => {
  it("a match's own gateways [mesh] applies to sidecars though the VirtualService lists only a gateway", async () => {
    for (let i = 0; i < 10; i++) expect(served(await call('reviews:9080', `/mesh/${i}`))).toBe('v2');
  });
  it("as in Istio's sourceMatchHTTP, the VirtualService's other rules then apply to sidecars too", async () => {
    for (let i = 0; i < 10; i++) expect(served(await call('reviews:9080', `/gw/${i}`))).toBe('v2');
    expect(served(await call('reviews:9080', '/other'))).toBe('v2');
  });
});

describe('header operations on pseudo-headers', () => {
  it('set :authority rewrites the Host the app sees', async () => {
    const r = await call('web:9080', '/authority');
    expect(r.status).toBe(200);
    expect(web.seen.at(-1)!.headers.host).toBe('rewritten.example');
  });
});

describe('header op values are Envoy format strings (request_headers_to_add)', () => {
  it('commands give the caller connection, request headers and protocol; %% is one %; an empty value adds nothing', async () => {
    const r = await call('web:9080', '/fmt', { 'user-agent': 'curl/8.5.0' });
    const h = web.seen.at(-1)!.headers;
    expect(h['x-client']).toBe('127.0.0.1');
    expect(Number(h['x-client-port'])).toBeGreaterThan(0);
    expect(h['x-pct']).toBe('100%');
    expect(h['x-host']).toBe('web:9080 via HTTP/1.1');
    expect(h['x-ua']).toBe('curl');
    expect(h['x-none']).toBeUndefined();
    expect(h['x-blank']).toBeUndefined();
    expect(r.headers['x-proto']).toBe('HTTP/1.1');
    // the endpoint that answered (the app's address, as Envoy names the pod's)
    expect(r.headers['x-served-by']).toBe(web.address);
    expect(r.headers['x-code']).toBe('200');
    expect(r.headers['x-started']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(String(r.headers['x-started'])) - Date.now())).toBeLessThan(60_000);
  });
});

describe('%UPSTREAM_CLUSTER% and %RESPONSE_FLAGS% in header values', () => {
  it("name the route's cluster in request and response headers; flags are '-' until one is set", async () => {
    const r = await call('web:9080', '/clusterfmt');
    expect(r.status).toBe(200);
    const h = web.seen.at(-1)!.headers;
    expect([h['x-cluster'], h['x-flags']]).toEqual(['outbound|9080||web.default.svc.cluster.local', '-']);
    expect([r.headers['x-cluster'], r.headers['x-flags']]).toEqual([
      'outbound|9080||web.default.svc.cluster.local',
      '-'
    ]);
  });
  it("on the router's own reply: its flags; no cluster when none was found", async () => {
    const r = await call('web:9080', '/clusternc');
    expect(r.status).toBe(503);
    expect(r.headers['x-flags']).toBe('NC');
    expect(r.headers['x-cluster']).toBeUndefined();
  });
});

describe("a rule's Host op with a format command", () => {
  it('is a literal (Istio makes it the route host_rewrite_literal, which Envoy does not format)', async () => {
    await call('web:9080', '/hostfmt', { 'x-target': 'picked.example' });
    expect(web.seen.at(-1)!.headers.host).toBe('%REQ(x-target)%');
  });
});

describe('header match regex "*"', () => {
  it('means the header is present', async () => {
    expect((await call('web:9080', '/star', { 'x-flag': 'anything' })).body).toBe('flag present');
    expect(served(await call('web:9080', '/star'))).toBe('web');
  });
});

describe('header operations and rewrites as Istio translates them (audit)', () => {
  it('set and add of one name: set first, then add appends (both values reach the app)', async () => {
    await call('web:9080', '/both');
    expect(web.seen.at(-1)!.headers['x-both']).toBe('s, a');
  });
  // other pseudo-headers (:path, :status) and removing Host are rejected by Istio's webhook: validate-istio.test.ts
  it('add host rewrites the authority like set', async () => {
    await call('web:9080', '/addhost');
    expect(web.seen.at(-1)!.headers.host).toBe('added.example');
  });
  it('a direct response gets text/plain only when the header ops leave no content-type', async () => {
    const json = await call('web:9080', '/ctjson', { 'x-request-id': 'ct-json' });
    expect(json.headers['content-type']).toBe('application/json');
    // one content-type on the wire, as the flow records what was sent (an array had it twice)
    const f = (await m.mesh.listFlows({ limit: 50 })).find((x) => x.requestId === 'ct-json')!;
    expect(f.responseHeaders['content-type']).toBe('application/json');
    expect((await call('web:9080', '/ctnone')).headers['content-type']).toBe('text/plain');
  });
  it("x-envoy-upstream-service-time is the router's before the rule's ops: a rule removes or sets it", async () => {
    const removed = await call('web:9080', '/noust');
    expect(removed.status).toBe(200);
    expect(removed.headers['x-envoy-upstream-service-time']).toBeUndefined();
    expect((await call('web:9080', '/setust')).headers['x-envoy-upstream-service-time']).toBe('999');
    expect(Number((await call('web:9080', '/plain')).headers['x-envoy-upstream-service-time'])).toBeGreaterThanOrEqual(
      0
    );
  });
  it("the router's own replies carry the rule's response header ops (503 NC here)", async () => {
    const r = await call('web:9080', '/nc');
    expect(r.status).toBe(503);
    expect(r.headers['x-t']).toBe('yes');
  });
  it("a rule's rewrite.authority wins over a destination's Host header op", async () => {
    await call('web:9080', '/ruleauth');
    expect(web.seen.at(-1)!.headers.host).toBe('rule.example');
  });
  it('x-envoy-original-path is set whenever the rule rewrites the path, even to the same path', async () => {
    await call('web:9080', '/same?q=1');
    expect(web.seen.at(-1)!.headers['x-envoy-original-path']).toBe('/same?q=1');
  });
  it('uriRegexRewrite: \\0 is the whole match (RE2 substitution)', async () => {
    await call('web:9080', '/rx/axb');
    expect(web.seen.at(-1)!.url).toBe('/r[x]/a[x]b');
  });
});
