/**
 * Integration: the outbound sidecar executes VirtualService matching, weights, subsets, rewrites, redirects and
 * direct responses exactly as istio-semantics §1.2 says. Real sockets, real stub upstreams, a real engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, request, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let v1: Stub, v2: Stub, v3: Stub, pp: Stub, ratings: Stub;
let m: Running;

const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`;

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: exact-case
    match: [{uri: {exact: /Exact}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: ignore-case
    match: [{uri: {prefix: /nocase}, ignoreUriCase: true}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: regex
    match: [{uri: {regex: '/re/[0-9]+'}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: present
    match: [{headers: {x-present: {}}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: without
    match: [{uri: {prefix: /without}, withoutHeaders: {x-block: {exact: yes}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: query
    match: [{queryParams: {flag: {exact: ''}}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: method
    match: [{method: {exact: POST}, uri: {prefix: /post}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: rewrite
    match: [{uri: {prefix: /v1/reviews}}]
    rewrite: {uri: /reviews}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: slash-pitfall
    match: [{uri: {prefix: /pit}}]
    rewrite: {uri: /}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: regex-rewrite
    match: [{uri: {prefix: /rx}}]
    rewrite: {uriRegexRewrite: {match: '^/rx/([a-z]+)/(\\d+)$', rewrite: '/\\2/\\1'}, authority: other.example}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: redirect
    match: [{uri: {exact: /old}}]
    redirect: {uri: /new, authority: moved.example:8080}
  - name: direct
    match: [{uri: {prefix: /direct}}]
    directResponse: {status: 418, body: {string: teapot}}
    headers: {response: {set: {x-direct: "1"}}}
  - name: headers
    match: [{uri: {prefix: /headers}}]
    headers:
      request: {set: {x-set: rule}, add: {x-add: rule}, remove: [x-remove]}
      response: {add: {x-resp: rule}}
    route:
    - destination: {host: reviews, subset: v1}
      headers: {request: {set: {x-set: dest}}, response: {set: {x-resp: dest}}}
  - name: unknown-subset
    match: [{uri: {prefix: /nosubset}}]
    route: [{destination: {host: reviews, subset: v9}}]
  - name: no-endpoints
    match: [{uri: {prefix: /noeps}}]
    route: [{destination: {host: reviews, subset: v4}}]
  - name: weights
    match: [{uri: {prefix: /weights}}]
    route:
    - {destination: {host: reviews, subset: v1}, weight: 1}
    - {destination: {host: reviews, subset: v2}, weight: 3}
    - {destination: {host: reviews, subset: v3}, weight: 0}
  - name: mirror
    match: [{uri: {prefix: /mirror}}]
    route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: ratings}
  - name: only-v1-callers
    match: [{uri: {prefix: /srclabels}, sourceLabels: {app: nobody}}]
    route: [{destination: {host: reviews, subset: v2}}]
`;

const DR_V4 = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews-extra}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {name: v4, labels: {version: v4}}
`;

beforeAll(async () => {
  [v1, v2, v3, pp, ratings] = await Promise.all([
    stub('v1'),
    stub('v2'),
    stub('v3'),
    stub('productpage'),
    stub('ratings')
  ]);
  m = await startMesh({
    meshYaml: meshYaml({
      productpage: {
        workloads: [{ name: 'productpage-v1', labels: { app: 'productpage', version: 'v1' }, instances: [pp.address] }]
      },
      reviews: {
        workloads: [
          { name: 'reviews-v1', labels: { app: 'reviews', version: 'v1' }, instances: [v1.address] },
          { name: 'reviews-v2', labels: { app: 'reviews', version: 'v2' }, instances: [v2.address] },
          { name: 'reviews-v3', labels: { app: 'reviews', version: 'v3' }, instances: [v3.address] }
        ]
      },
      ratings: { workloads: [{ name: 'ratings-v1', instances: [ratings.address] }] }
    }),
    istio: { 'dr.yaml': DR, 'dr-v4.yaml': DR_V4, 'vs.yaml': VS }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([v1, v2, v3, pp, ratings].map((s) => s.close()));
});

const get = (p: string, headers: Record<string, string> = {}, method = 'GET') =>
  viaProxy(m.outbound('productpage-v1'), 'reviews:9080', p, { headers, method });
const served = (r: { body: string }) => (JSON.parse(r.body) as { stub: string }).stub;

describe('match semantics', () => {
  it('exact uri is case-sensitive; ignoreUriCase makes prefix case-insensitive', async () => {
    expect(served(await get('/Exact'))).toBe('v3');
    const lower = await get('/exact');
    expect(lower.status).toBe(404); // VS has no catch-all ⇒ NR
    expect(served(await get('/NOCASE/x'))).toBe('v3');
  });
  it('header values are case-sensitive, names are not', async () => {
    expect(served(await get('/any', { 'End-User': 'jason' }))).toBe('v2');
    expect((await get('/any', { 'end-user': 'Jason' })).status).toBe(404);
  });
  it('regex is RE2 full match, query ignored in uri matching', async () => {
    expect(served(await get('/re/123?x=1'))).toBe('v2');
    expect((await get('/re/123abc')).status).toBe(404);
    expect((await get('/x/re/123')).status).toBe(404);
  });
  it('{} matches a present header even when empty', async () => {
    expect(served(await get('/p', { 'x-present': '' }))).toBe('v3');
  });
  it('withoutHeaders passes a request lacking the header and fails one carrying it', async () => {
    expect(served(await get('/without'))).toBe('v2');
    expect((await get('/without', { 'x-block': 'yes' })).status).toBe(404);
  });
  it('queryParams exact "" matches ?flag and ?flag=', async () => {
    expect(served(await get('/q?flag'))).toBe('v3');
    expect(served(await get('/q?a=1&flag='))).toBe('v3');
    expect((await get('/q?flag=1')).status).toBe(404);
  });
  it('method match is exact and case-sensitive', async () => {
    expect(served(await get('/post', {}, 'POST'))).toBe('v2');
    expect((await get('/post')).status).toBe(404);
  });
  it('first match wins: the jason rule comes before the regex rule', async () => {
    expect(served(await get('/re/1', { 'end-user': 'jason' }))).toBe('v2');
    expect(served(await get('/Exact', { 'end-user': 'jason' }))).toBe('v3');
  });
  it('no rule matched ⇒ 404, empty body, flag NR, server: envoy', async () => {
    const r = await get('/nothing');
    expect(r.status).toBe(404);
    expect(r.body).toBe('');
    expect(r.headers.server).toBe('envoy');
    const flow = (await m.mesh.listFlows({ limit: 50 })).reverse().find((f) => f.path === '/nothing');
    expect(flow?.flags).toBe('NR');
    expect(flow?.reporter).toBe('source');
  });
  it('sourceLabels that exclude the caller drop the rule for it', async () => {
    expect((await get('/srclabels')).status).toBe(404);
  });
});

describe('rewrite, redirect, direct response, headers', () => {
  it('prefix rewrite replaces the matched prefix and keeps the query; x-envoy-original-path set', async () => {
    const before = v1.seen.length;
    await get('/v1/reviews/0?x=1');
    const s = v1.seen[before]!;
    expect(s.url).toBe('/reviews/0?x=1');
    expect(s.headers['x-envoy-original-path']).toBe('/v1/reviews/0?x=1');
  });
  it('prefix /pit + uri / gives the // pitfall', async () => {
    const before = v1.seen.length;
    await get('/pit/x');
    expect(v1.seen[before]!.url).toBe('//x');
  });
  it('uriRegexRewrite substitutes groups; authority rewrite sets Host', async () => {
    const before = v1.seen.length;
    await get('/rx/abc/42?k=v');
    expect(v1.seen[before]!.url).toBe('/42/abc?k=v');
    expect(v1.seen[before]!.headers.host).toBe('other.example');
  });
  it('redirect: 301, empty body, location with new authority and original query', async () => {
    const r = await get('/old?a=1');
    expect(r.status).toBe(301);
    expect(r.body).toBe('');
    expect(r.headers.location).toBe('http://moved.example:8080/new?a=1');
  });
  it('directResponse: status, body, text/plain, response header ops apply', async () => {
    const r = await get('/direct');
    expect(r.status).toBe(418);
    expect(r.body).toBe('teapot');
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['x-direct']).toBe('1');
    expect(r.headers['x-envoy-upstream-service-time']).toBeUndefined();
  });
  it('header ops: remove before add/set, destination ops after rule ops', async () => {
    const before = v1.seen.length;
    const r = await get('/headers', { 'x-remove': 'gone', 'x-add': 'app' });
    const s = v1.seen[before]!;
    expect(s.headers['x-remove']).toBeUndefined();
    expect(s.headers['x-set']).toBe('dest');
    expect(s.headers['x-add']).toBe('app, rule');
    expect(r.headers['x-resp']).toBe('dest');
  });
});

describe('destinations', () => {
  it('undefined subset ⇒ 503 NC with empty body', async () => {
    const r = await get('/nosubset');
    expect(r.status).toBe(503);
    expect(r.body).toBe('');
    const flow = (await m.mesh.listFlows({ limit: 50 })).reverse().find((f) => f.path === '/nosubset');
    expect(flow?.flags).toBe('NC');
  });
  it('subset with no endpoints ⇒ 503 no healthy upstream, UH', async () => {
    const r = await get('/noeps');
    expect(r.status).toBe(503);
    expect(r.body).toBe('no healthy upstream');
    expect(r.headers['content-type']).toBe('text/plain');
  });
  it('relative weights: 1:3:0 over 400 requests (seed 42) gives v1 in [60,140], v2 in [260,340], v3 never', async () => {
    const counts: Record<string, number> = { v1: 0, v2: 0, v3: 0 };
    for (let i = 0; i < 400; i++) counts[served(await get('/weights'))]!++;
    expect(counts.v3).toBe(0);
    expect(counts.v1).toBeGreaterThanOrEqual(60);
    expect(counts.v1).toBeLessThanOrEqual(140);
    expect(counts.v2).toBeGreaterThanOrEqual(260);
  });
  it('mirror sends a copy to ratings; the caller sees only the primary', async () => {
    const before = ratings.seen.length;
    const r = await get('/mirror/1');
    expect(served(r)).toBe('v1');
    await new Promise<void>((resolve, reject) => {
      let n = 0;
      const t = setInterval(() => {
        if (ratings.seen.length > before) {
          clearInterval(t);
          resolve();
        } else if (++n > 200) {
          clearInterval(t);
          reject(new Error('mirror never arrived'));
        }
      }, 10);
    });
    expect(ratings.seen[before]!.url).toBe('/mirror/1');
    expect(ratings.seen[before]!.headers.host).toBe('reviews:9080');
    // the copy crossed ratings' sidecar over mutual TLS with the caller's identity and peer metadata, as any call
    // from productpage would: its destination flow names the caller
    expect(ratings.seen[before]!.headers['x-forwarded-client-cert']).toContain(
      'URI=spiffe://cluster.local/ns/default/sa/default'
    );
    const copy = (await m.mesh.listFlows({ limit: 500 })).find(
      (f) => f.reporter === 'destination' && f.destination === 'ratings-v1' && f.path === '/mirror/1'
    );
    expect(copy).toMatchObject({ source: 'productpage-v1', connectionSecurity: 'mutual_tls' });
  });
});

describe('how callers reach the mesh', () => {
  it('Host header form and dedicated per-service port reach the same routes', async () => {
    const host = await request(m.outbound('productpage-v1'), '/Exact', {
      headers: { host: 'reviews.default.svc.cluster.local:9080' }
    });
    expect(served(host)).toBe('v3');
    const dedicated = await request(m.upstream('productpage-v1', 'reviews'), '/Exact');
    expect(served(dedicated)).toBe('v3');
    expect(v3.seen.at(-1)!.headers.host).toBe('reviews:9080');
  });
  it('Istio headers: server envoy, x-request-id kept or generated, attempt count, forwarded proto, upstream time', async () => {
    const before = v3.seen.length;
    const r = await get('/Exact', { 'x-request-id': 'keep-me', 'x-envoy-upstream-rq-timeout-ms': '1' });
    const s = v3.seen[before]!;
    expect(r.headers.server).toBe('envoy');
    expect(Number(r.headers['x-envoy-upstream-service-time'])).toBeGreaterThanOrEqual(0);
    expect(s.headers['x-request-id']).toBe('keep-me');
    expect(s.headers['x-envoy-attempt-count']).toBe('1');
    expect(s.headers['x-forwarded-proto']).toBe('http');
    expect(s.headers['x-envoy-upstream-rq-timeout-ms']).toBeUndefined();
    // the rest of what Envoy's cleanInternalHeaders removes from a request that is not internal; others pass
    const internal = [
      'x-envoy-retriable-status-codes',
      'x-envoy-retriable-header-names',
      'x-envoy-upstream-alt-stat-name',
      'x-envoy-upstream-rq-timeout-alt-response',
      'x-envoy-force-trace',
      'x-envoy-ip-tags',
      'x-envoy-original-url',
      'x-envoy-hedge-on-per-try-timeout'
    ];
    await get('/Exact', { ...Object.fromEntries(internal.map((h) => [h, '1'])), 'x-envoy-app-own': 'kept' });
    const seen = v3.seen.at(-1)!.headers;
    for (const h of internal) expect(seen[h], h).toBeUndefined();
    expect(seen['x-envoy-app-own']).toBe('kept');
    // x-forwarded-proto: set when absent (above), an app's own kept (Envoy without use_remote_address)
    await get('/Exact', { 'x-forwarded-proto': 'https' });
    expect(v3.seen.at(-1)!.headers['x-forwarded-proto']).toBe('https');
    await get('/Exact');
    expect(v3.seen.at(-1)!.headers['x-request-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    );
  });
  it('a caller without sidecar reaches an inbound sidecar directly and bypasses every VirtualService', async () => {
    const r = await request(m.inbound('reviews-v2'), '/Exact', { headers: { host: 'reviews:9080' } });
    expect(served(r)).toBe('v2'); // the VS would have sent /Exact to v3
    expect(r.headers.server).toBe('istio-envoy');
    const flow = (await m.mesh.listFlows({ limit: 10 }))
      .reverse()
      .find((f) => f.reporter === 'destination' && f.path === '/Exact' && f.destination === 'reviews-v2');
    expect(flow?.source).toBeNull();
  });
  it('one call between two sidecars is reported twice, source and destination, same request id', async () => {
    await get('/Exact', { 'x-request-id': 'pair-1' });
    const fl = (await m.mesh.listFlows({ limit: 20 })).filter((f) => f.requestId === 'pair-1');
    expect(fl.map((f) => f.reporter).sort()).toEqual(['destination', 'source']);
    const dst = fl.find((f) => f.reporter === 'destination')!;
    expect(dst.source).toBe('productpage-v1');
    expect(dst.destination).toBe('reviews-v3');
  });
});
