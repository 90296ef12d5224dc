/**
 * Integration: behaviours defined by Istio's unit tests of how a VirtualService becomes Envoy routes
 * (pilot/pkg/networking/core/route/route_test.go, route_internal_test.go, retry/retry_test.go), replayed through a
 * caller's outbound sidecar on loopback: what the upstream sees and what the caller gets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadPort, meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, web: Stub, flaky: Stub, p80: Stub, p8080: Stub, sticky: Stub, plain: Stub, ported: Stub;
let dead: number[];
let m: Running;
const log: string[] = [];

const ISTIO = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi}
spec:
  hosts: [multi.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP}
  - {number: 8080, name: http-alt, protocol: HTTP}
  endpoints:
  - {address: 127.0.0.1, ports: {http: P80, http-alt: P8080}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: multi}
spec:
  hosts: [multi.example.com]
  http:
  - route: [{destination: {host: multi.example.com}}]
    headers: {response: {set: {x-vs: multi}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ported}
spec:
  hosts: [ported]
  http:
  - match: [{port: 9999}]
    directResponse: {status: 418, body: {string: other port}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "http://new.example"}]
      allowOrigin: ["http://old.example"]
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /authority-only}}]
    rewrite: {uri: "", authority: other.example}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /query}, queryParams: {q: {exact: a b}}}]
    directResponse: {status: 200, body: {string: decoded}}
  - match: [{uri: {prefix: /query}, queryParams: {q: {exact: a%20b}}}]
    directResponse: {status: 200, body: {string: raw}}
  - name: named
    match: [{name: first, uri: {prefix: /named/a}}, {uri: {prefix: /named/b}}]
    route: [{destination: {host: web}}]
  - match: [{name: only-match, uri: {prefix: /unnamed}}]
    route: [{destination: {host: web}}]
  - match: [{gateways: [mesh], sourceLabels: {app: nobody}, sourceNamespace: elsewhere, uri: {prefix: /gw-source}}]
    directResponse: {status: 200, body: {string: kept by gateways}}
  - match: [{sourceLabels: {app: nobody}, uri: {prefix: /source-only}}]
    directResponse: {status: 200, body: {string: not this caller}}
  - match: [{uri: {prefix: /nocase}, ignoreUriCase: true}]
    rewrite: {uri: /x}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /present}, queryParams: {token: {}}, headers: {x-empty: {}}}]
    directResponse: {status: 200, body: {string: present}}
  - match: [{uri: {prefix: /badport}}]
    route: [{destination: {host: web, port: {number: 9999}}}]
  - match: [{uri: {prefix: /ops-single}}]
    route: [{destination: {host: web}, headers: {request: {set: {x-h: dest}, remove: [x-a]}, response: {set: {x-r: dest}}}}]
    headers: {request: {set: {x-h: route}, add: {x-a: route}}, response: {set: {x-r: route}}}
  - match: [{uri: {prefix: /ops-weighted}}]
    route:
    - {destination: {host: web}, weight: 50, headers: {request: {set: {x-h: dest}, add: {x-b: dest}}, response: {set: {x-r: dest}}}}
    - {destination: {host: web}, weight: 50, headers: {request: {set: {x-h: dest}, add: {x-b: dest}}, response: {set: {x-r: dest}}}}
    headers: {request: {set: {x-h: route}, add: {x-b: route}}, response: {set: {x-r: route}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky}
spec:
  hosts: [flaky]
  http:
  - route: [{destination: {host: flaky}}]
    retries: {attempts: 2, retryOn: ""}
    headers: {response: {set: {x-vs: flaky}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sticky}
spec:
  host: sticky
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
  subsets:
  - {name: a, labels: {app: sticky}}
  - {name: b, labels: {app: sticky}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: plain}
spec:
  host: plain
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sticky}
spec:
  hosts: [sticky]
  http:
  - match: [{uri: {prefix: /explicit}}]
    route: [{destination: {host: sticky}}]
    retries: {attempts: 2, retryIgnorePreviousHosts: true}
  - match: [{uri: {prefix: /weighted}}]
    route:
    - {destination: {host: sticky, subset: a}, weight: 50}
    - {destination: {host: sticky, subset: b}, weight: 50}
  - route: [{destination: {host: sticky}}]
`;

beforeAll(async () => {
  [caller, web, flaky, p80, p8080, sticky, plain, ported] = await Promise.all(
    ['caller', 'web', 'flaky', 'p80', 'p8080', 'sticky', 'plain', 'ported'].map((n) => stub(n))
  );
  dead = await Promise.all([deadPort(), deadPort(), deadPort()]);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
        ported: { workloads: [{ name: 'ported-v1', instances: [ported.address] }] },
        flaky: {
          workloads: [{ name: 'flaky-v1', instances: [flaky.address, `127.0.0.1:${dead[0]}`], sidecar: false }]
        },
        sticky: {
          workloads: [{ name: 'sticky-v1', instances: [sticky.address, `127.0.0.1:${dead[1]}`], sidecar: false }]
        },
        plain: { workloads: [{ name: 'plain-v1', instances: [plain.address, `127.0.0.1:${dead[2]}`], sidecar: false }] }
      }),
      istio: { 'all.yaml': ISTIO.replace('P80', String(p80.port)).replace('P8080', String(p8080.port)) }
    },
    { accessLog: (line) => log.push(line) }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, web, flaky, p80, p8080, sticky, plain, ported].map((s) => s.close()));
});

describe('destination port (GetDestinationCluster)', () => {
  it('a destination without a port on a multi-port service keeps the port the request came in on', async () => {
    for (const [port, app] of [
      [8080, 'p8080'],
      [80, 'p80']
    ] as const) {
      const r = await viaProxy(m.outbound('caller-v1'), `multi.example.com:${port}`, '/x');
      expect(r.status).toBe(200);
      expect(r.headers['x-vs']).toBe('multi');
      expect(JSON.parse(r.body).stub).toBe(app);
    }
  });
});

describe('a destination port the service does not have', () => {
  it('names a cluster Envoy does not have: 503 NC with no body, and the app is not called', async () => {
    const before = web.seen.length;
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/badport');
    expect(r.status).toBe(503);
    expect(r.body).toBe('');
    expect(web.seen.length).toBe(before);
    const [flow] = await m.mesh.listFlows({ limit: 1, reporter: 'source' });
    expect(flow!.flags).toBe('NC');
  });
});

describe('port matches (translateRoute drops a match for another port)', () => {
  it('a VirtualService whose every rule matches another port has no route on this one: the default route applies', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'ported:9080', '/p');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).stub).toBe('ported');
  });
});

describe('source matches (sourceMatchHTTP)', () => {
  it('a match naming gateways is kept by them alone: with "mesh" its sourceLabels and sourceNamespace are not read', async () => {
    const kept = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/gw-source');
    expect(kept.status).toBe(200);
    expect(kept.body).toBe('kept by gateways');
    // without gateways the labels decide: not this caller, and the VirtualService has no catch-all
    expect((await viaProxy(m.outbound('caller-v1'), 'web:9080', '/source-only')).status).toBe(404);
  });
});

describe('retries (retry.ConvertPolicy)', () => {
  it('retryOn "" is accepted and keeps the default conditions: a refused connection is retried on the other endpoint', async () => {
    const before = flaky.seen.length;
    for (let i = 0; i < 6; i++) {
      const r = await viaProxy(m.outbound('caller-v1'), 'flaky:9080', `/r${i}`);
      expect(r.status).toBe(200);
      expect(r.headers['x-vs']).toBe('flaky');
    }
    expect(flaky.seen.length - before).toBe(6);
  });
});

describe('retries under a consistent hash (ConvertPolicy hashPolicy, previous-hosts predicate)', () => {
  const users = Array.from({ length: 10 }, (_, i) => `user-${i}`);
  const statuses = async (authority: string, path: string) => {
    const out: number[] = [];
    for (const u of users)
      out.push((await viaProxy(m.outbound('caller-v1'), authority, path, { headers: { 'x-user': u } })).status);
    return out;
  };

  it('a route with one destination leaves the predicate out: retries stay on the hashed (here refused) endpoint', async () => {
    const before = sticky.seen.length;
    const got = await statuses('sticky:9080', '/default');
    expect(got).toContain(503);
    expect(got).toContain(200);
    expect(sticky.seen.length - before).toBe(got.filter((s) => s === 200).length);
  });

  it('retryIgnorePreviousHosts: true puts it back, weighted destinations and the default route keep it: every key is served', async () => {
    expect(await statuses('sticky:9080', '/explicit')).toEqual(users.map(() => 200));
    expect(await statuses('sticky:9080', '/weighted')).toEqual(users.map(() => 200));
    expect(await statuses('plain:9080', '/no-vs')).toEqual(users.map(() => 200));
  });
});

describe('CORS (TranslateCORSPolicy)', () => {
  it('allowOrigins, when set, replaces the deprecated allowOrigin', async () => {
    const old = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/cors', {
      headers: { origin: 'http://old.example' }
    });
    expect(old.status).toBe(200);
    expect(old.headers['access-control-allow-origin']).toBeUndefined();
    const cur = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/cors', {
      headers: { origin: 'http://new.example' }
    });
    expect(cur.headers['access-control-allow-origin']).toBe('http://new.example');
  });
});

describe('rewrite (applyHTTPRouteDestination)', () => {
  it('an empty rewrite.uri leaves the path alone; the authority is still rewritten', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/authority-only/a?q=1');
    expect(r.status).toBe(200);
    const seen = web.seen.at(-1)!;
    expect(seen.url).toBe('/authority-only/a?q=1');
    expect(seen.headers.host).toBe('other.example');
    expect(seen.headers['x-envoy-original-path']).toBeUndefined();
  });
});

describe('header operations of a rule and its destinations (processDestination / processWeightedDestination)', () => {
  it("one destination: its ops follow the rule's in one list, every remove first, so its set wins and its remove cannot drop the rule's add", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/ops-single');
    expect(r.status).toBe(200);
    const seen = web.seen.at(-1)!.headers;
    expect(seen['x-h']).toBe('dest');
    expect(seen['x-a']).toBe('route');
    expect(r.headers['x-r']).toBe('dest');
  });

  it("weighted destinations: Envoy applies the destination's ops before the rule's, so the rule's set wins", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/ops-weighted');
    expect(r.status).toBe(200);
    const seen = web.seen.at(-1)!.headers;
    expect(seen['x-h']).toBe('route');
    expect(seen['x-b']).toBe('dest, route');
    expect(r.headers['x-r']).toBe('route');
  });
});

describe('query parameter matches (TranslateRouteMatch queryParams)', () => {
  it('compare the value as sent, not percent-decoded, as Envoy parses the query for route matching', async () => {
    const raw = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/query?x=1&q=a%20b');
    expect(raw.status).toBe(200);
    expect(raw.body).toBe('raw');
    // "+" is not a space either: no rule matches, and the VirtualService has no catch-all
    expect((await viaProxy(m.outbound('caller-v1'), 'web:9080', '/query?q=a+b')).status).toBe(404);
  });
});

describe('route names (translateRoute: <rule name>.<match name>)', () => {
  it("the access log's ROUTE_NAME joins the rule's name and the matched block's, or is the rule's alone", async () => {
    const routeName = async (path: string) => {
      const id = `route-name-${path}`;
      expect(
        (await viaProxy(m.outbound('caller-v1'), 'web:9080', path, { headers: { 'x-request-id': id } })).status
      ).toBe(200);
      const line = await until(() => log.find((l) => l.includes(`"${id}"`) && l.includes(' outbound|')), id);
      return line!.split(' ').at(-1);
    };
    expect(await routeName('/named/a')).toBe('named.first');
    expect(await routeName('/named/b')).toBe('named');
    expect(await routeName('/unnamed')).toBe('.only-match');
  });
});

describe('match translation that already behaved as Istio (kept from regressing)', () => {
  it('ignoreUriCase matches the prefix in any case, and the prefix rewrite replaces as many characters', async () => {
    expect((await viaProxy(m.outbound('caller-v1'), 'web:9080', '/NoCase/abc?q=1')).status).toBe(200);
    expect(web.seen.at(-1)!.url).toBe('/x/abc?q=1');
  });

  it('{} is present_match: a query parameter without "=" and a header with an empty value are present', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/present?token', { headers: { 'x-empty': '' } });
    expect(r.body).toBe('present');
    expect((await viaProxy(m.outbound('caller-v1'), 'web:9080', '/present?token')).status).toBe(404);
  });
});
