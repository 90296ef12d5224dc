/**
 * Integration: the headers of a mirrored copy. Envoy's router copies the request for its shadows in decodeHeaders
 * (source/common/router/router.cc: `shadow_headers_` made from `*downstream_headers_`), after it has set
 * x-envoy-attempt-count on them (`attempt_count_` starts at 1; Istio's virtual hosts set include_request_attempt_count)
 * and the first try's x-envoy-expected-rq-timeout-ms (finalTimeout -> setTimeoutHeaders): the copy carries both, with
 * the first try's values, however many retries the primary takes. Its cookie lines stay lines, as the primary's do.
 * (The copy's Host, `-shadow` before Istio 1.28, is covered in compat.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';
import { rawApp, sendLines, type RawApp } from './helpers/raw-app.js';

const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - name: mirrored
    route: [{destination: {host: web}}]
    mirror: {host: shadow}
    timeout: 5s
    retries: {attempts: 2, perTryTimeout: 2s, retryOn: 5xx}
`;

let caller: Stub, web: Stub;
let shadow: RawApp;
const meshes: Record<'fast' | 'node', Running> = {} as Record<'fast' | 'node', Running>;

beforeAll(async () => {
  caller = await stub('caller');
  // the primary's first try of /flaky* gets a 503, so the router retries it
  web = await stub('web', (req, res) => {
    const tries = web.seen.filter((s) => s.url === req.url).length;
    res.writeHead(req.url!.startsWith('/flaky') && tries === 1 ? 503 : 200, { 'content-length': '0' });
    res.end();
  });
  shadow = await rawApp();
  const spec = {
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
      shadow: { workloads: [{ name: 'shadow-v1', instances: [shadow.address] }] }
    }),
    istio: { 'vs.yaml': vs }
  };
  meshes.fast = await startMesh(spec, { store: 'memory', fastLane: true });
  meshes.node = await startMesh(spec, { store: 'memory', fastLane: false });
});
afterAll(async () => {
  await Promise.all(Object.values(meshes).map((m) => m.close()));
  await Promise.all([caller.close(), web.close(), shadow.close()]);
});

/** The copy's header lines, once it has arrived. */
async function copyOf(path: string): Promise<string[]> {
  return (await until(() => shadow.heads.get(path), `the mirrored copy of ${path}`))!;
}

describe.each(['fast', 'node'] as const)('the mirrored copy (%s lane)', (lane) => {
  it("carries x-envoy-attempt-count 1 and the first try's expected timeout, as the primary's first try", async () => {
    const path = `/m-${lane}`;
    expect((await viaProxy(meshes[lane].outbound('caller-v1'), 'web:9080', path)).status).toBe(200);
    const primary = web.seen.find((s) => s.url === path)!;
    expect(primary.headers['x-envoy-attempt-count']).toBe('1');
    expect(primary.headers['x-envoy-expected-rq-timeout-ms']).toBe('2000');
    const copy = await copyOf(path);
    expect(copy).toContain('x-envoy-attempt-count: 1');
    expect(copy).toContain('x-envoy-expected-rq-timeout-ms: 2000');
  });

  it('keeps attempt count 1 while the primary is retried (the copy is made before the first try)', async () => {
    const path = `/flaky-${lane}`;
    expect((await viaProxy(meshes[lane].outbound('caller-v1'), 'web:9080', path)).status).toBe(200);
    expect(web.seen.filter((s) => s.url === path).map((s) => s.headers['x-envoy-attempt-count'])).toEqual(['1', '2']);
    const copy = await copyOf(path);
    expect(copy.filter((l) => l.startsWith('x-envoy-attempt-count:'))).toEqual(['x-envoy-attempt-count: 1']);
  });

  it('sends cookie lines as lines, as the primary goes', async () => {
    const path = `/cookies-${lane}`;
    const status = await sendLines(meshes[lane].outbound('caller-v1'), [
      `GET http://web:9080${path} HTTP/1.1`,
      'Host: web:9080',
      'Cookie: a=1',
      'Cookie: b=2'
    ]);
    expect(status).toBe(200);
    expect((await copyOf(path)).filter((l) => l.startsWith('cookie:'))).toEqual(['cookie: a=1', 'cookie: b=2']);
  });
});
