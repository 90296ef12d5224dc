/**
 * Integration: a request header sent on several lines, as Envoy's HTTP/1 codec forwards it (codec_impl.cc
 * completeCurrentHeader -> HeaderMapImpl::addViaMove / insertByKey): a header Envoy keeps in one inline slot
 * (user-agent, accept, ...) is one line, its values joined with "," (no space); any other header (x-custom, cookie)
 * keeps a line per field, each forwarded as sent. Header matchers (VirtualService, AuthorizationPolicy) see the values
 * joined with "," (HeaderUtility::getAllOfHeaderAsString). On the fast lane and on node:http, through the callee's
 * sidecar alone and through both sidecars. The app is a raw socket, so the header lines are seen as sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, until, type Running, type Stub } from './helpers/harness.js';
import { exchangeLines, rawApp, sendLines as send, type RawApp } from './helpers/raw-app.js';

/** The repeated fields every request here carries, after its request line and Host. */
const REPEATED = [
  'X-Custom: a',
  'Accept: text/html',
  'Cookie: c1=1',
  'User-Agent: one',
  'X-Custom: b',
  'Accept: application/json',
  'Cookie: c2=2',
  'User-Agent: two'
];

const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [app]
  http:
  - name: repeated
    match: [{uri: {exact: /vs}, headers: {x-custom: {exact: "a,b"}}}]
    route: [{destination: {host: app}}]
  - name: rest
    match: [{uri: {prefix: /h}}]
    route: [{destination: {host: app}}]
`;

const authz = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  action: ALLOW
  rules:
  - to: [{operation: {notPaths: [/h-authz]}}]
  - to: [{operation: {paths: [/h-authz]}}]
    when: [{key: "request.headers[x-custom]", values: ["a,b"]}]
`;

let app: RawApp;
let client: Stub;
const meshes: Record<'fast' | 'node', Running> = {} as Record<'fast' | 'node', Running>;

/**
 * The repeated response fields the app sends for a /hr path: set-cookie, x-custom, www-authenticate and link are not
 * inline in Envoy's response map, vary, cache-control, location and etag are (location and etag are ones node:http
 * keeps only the first of).
 */
const REPEATED_RESPONSE = [
  'Set-Cookie: a=1; Path=/',
  'X-Custom: a',
  'Vary: Accept',
  'Location: /first',
  'Cache-Control: no-cache',
  'WWW-Authenticate: Basic realm="one"',
  'ETag: "e1"',
  'Link: </a>; rel=preload',
  'Set-Cookie: b=2',
  'X-Custom: b',
  'Vary: Origin',
  'Location: /second',
  'Cache-Control: private',
  'WWW-Authenticate: Bearer',
  'ETag: "e2"',
  'Link: </b>; rel=preload'
];

/** The response lines Envoy's HTTP/1 codec forwards for REPEATED_RESPONSE (its own order kept within a name). */
const ENVOY_RESPONSE_LINES = [
  'set-cookie: a=1; Path=/',
  'set-cookie: b=2',
  'x-custom: a',
  'x-custom: b',
  'vary: Accept,Origin',
  'location: /first,/second',
  'cache-control: no-cache,private',
  'www-authenticate: Basic realm="one"',
  'www-authenticate: Bearer',
  'etag: "e1","e2"',
  'link: </a>; rel=preload',
  'link: </b>; rel=preload'
];

beforeAll(async () => {
  app = await rawApp((path) => (path.startsWith('/hr-') ? REPEATED_RESPONSE : []));
  client = await stub('client');
  const spec = {
    meshYaml: meshYaml({
      client: { workloads: [{ name: 'client-v1', instances: [client.address] }] },
      app: { workloads: [{ name: 'app-v1', instances: [app.address] }] }
    }),
    istio: { 'vs.yaml': vs, 'authz.yaml': authz }
  };
  meshes.fast = await startMesh(spec, { store: 'memory', fastLane: true });
  meshes.node = await startMesh(spec, { store: 'memory', fastLane: false });
});
afterAll(async () => {
  await Promise.all(Object.values(meshes).map((m) => m.close()));
  await Promise.all([app.close(), client.close()]);
});

/** The lines of one request as the app saw them, of the names this test repeats. */
function seen(path: string): string[] {
  const lines = app.heads.get(path);
  if (!lines) throw new Error(`the app saw no ${path}`);
  return lines.filter((l) => /^(x-custom|accept|cookie|user-agent):/i.test(l));
}

const ENVOY_LINES = [
  'x-custom: a',
  'x-custom: b',
  'accept: text/html,application/json',
  'cookie: c1=1',
  'cookie: c2=2',
  'user-agent: one,two'
];

describe.each(['fast', 'node'] as const)('a header on several lines (%s lane)', (lane) => {
  const m = () => meshes[lane];
  /** One hop: to the callee's sidecar; two: to the caller's, which routes to the callee's. */
  const hops = {
    one: (path: string) => send(m().inbound('app-v1'), [`GET ${path} HTTP/1.1`, 'Host: app:9080', ...REPEATED]),
    two: (path: string) =>
      send(m().outbound('client-v1'), [`GET http://app:9080${path} HTTP/1.1`, 'Host: app:9080', ...REPEATED])
  };

  it.each(['one', 'two'] as const)(
    '%s hop(s): a line per field for x-custom and cookie, inline accept and user-agent joined with ","',
    async (hop) => {
      const path = `/h-${lane}-${hop}`;
      expect(await hops[hop](path)).toBe(200);
      expect([...seen(path)].sort()).toEqual([...ENVOY_LINES].sort());
      // a header's own lines keep their order
      expect(seen(path).filter((l) => l.startsWith('x-custom'))).toEqual(['x-custom: a', 'x-custom: b']);
      // the flow records what went to the app
      const flow = await until(
        async () =>
          (await m().mesh.listFlows({ limit: 500 })).find((f) => f.reporter === 'destination' && f.path === path),
        'the flow'
      );
      expect(flow!.requestHeaders).toMatchObject({
        'x-custom': ['a', 'b'],
        cookie: ['c1=1', 'c2=2'],
        accept: 'text/html,application/json',
        'user-agent': 'one,two'
      });
    }
  );

  it('a VirtualService header match sees the values joined with ","', async () => {
    expect(await hops.two('/vs')).toBe(200);
    expect(seen('/vs')).toContain('x-custom: b');
  });

  it('an AuthorizationPolicy header condition sees the values joined with ","', async () => {
    expect(await hops.one('/h-authz')).toBe(200);
    expect(await hops.two('/h-authz')).toBe(200);
  });
});

describe.each(['fast', 'node'] as const)('a response header on several lines (%s lane)', (lane) => {
  const m = () => meshes[lane];
  const hops = {
    one: (path: string) => exchangeLines(m().inbound('app-v1'), [`GET ${path} HTTP/1.1`, 'Host: app:9080']),
    two: (path: string) =>
      exchangeLines(m().outbound('client-v1'), [`GET http://app:9080${path} HTTP/1.1`, 'Host: app:9080'])
  };
  const NAMES = /^(set-cookie|x-custom|vary|location|cache-control|www-authenticate|etag|link):/i;

  it.each(['one', 'two'] as const)(
    '%s hop(s): set-cookie, x-custom, www-authenticate and link a line each; inline vary, location, cache-control and etag joined with ","',
    async (hop) => {
      const path = `/hr-${lane}-${hop}`;
      const r = await hops[hop](path);
      expect(r.status).toBe(200);
      const lines = r.headerLines.filter((l) => NAMES.test(l));
      expect([...lines].sort()).toEqual([...ENVOY_RESPONSE_LINES].sort());
      // a header's own lines keep their order
      expect(lines.filter((l) => l.startsWith('set-cookie'))).toEqual(['set-cookie: a=1; Path=/', 'set-cookie: b=2']);
      // the flows (each sidecar's) record the headers as they were sent on
      const reporters = hop === 'one' ? ['destination'] : ['destination', 'source'];
      for (const reporter of reporters) {
        const flow = await until(
          async () =>
            (await m().mesh.listFlows({ limit: 500 })).find((f) => f.reporter === reporter && f.path === path),
          `the ${reporter} flow`
        );
        expect(flow!.responseHeaders).toMatchObject({
          'set-cookie': ['a=1; Path=/', 'b=2'],
          'x-custom': ['a', 'b'],
          vary: 'Accept,Origin',
          location: '/first,/second',
          'cache-control': 'no-cache,private',
          'www-authenticate': ['Basic realm="one"', 'Bearer'],
          etag: '"e1","e2"'
        });
      }
    }
  );
});
