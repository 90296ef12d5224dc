/**
 * Integration: a VirtualService's `headers.request.add` / `headers.response.add` on a header that is already there.
 * Envoy adds with HeaderMapImpl::addCopy: to a header it keeps inline (user-agent in requests, vary in responses) the
 * value is appended with "," (appendToHeader), so one line goes on; to any other header (x-custom) it is another
 * entry, a line of its own. On the fast lane and on node:http; the app is a raw socket, so the lines are seen as sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, type Running, type Stub } from './helpers/harness.js';
import { exchangeLines, rawApp, type RawApp } from './helpers/raw-app.js';

const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [app]
  http:
  - headers:
      request:
        add: {user-agent: extra, x-custom: extra}
      response:
        add: {vary: Origin, x-resp: two}
    route: [{destination: {host: app}}]
`;

let app: RawApp;
let client: Stub;
const meshes: Record<'fast' | 'node', Running> = {} as Record<'fast' | 'node', Running>;

beforeAll(async () => {
  app = await rawApp(() => ['Vary: Accept', 'X-Resp: one']);
  client = await stub('client');
  const spec = {
    meshYaml: meshYaml({
      client: { workloads: [{ name: 'client-v1', instances: [client.address] }] },
      app: { workloads: [{ name: 'app-v1', instances: [app.address] }] }
    }),
    istio: { 'vs.yaml': vs }
  };
  meshes.fast = await startMesh(spec, { store: 'memory', fastLane: true });
  meshes.node = await startMesh(spec, { store: 'memory', fastLane: false });
});
afterAll(async () => {
  await Promise.all(Object.values(meshes).map((m) => m.close()));
  await Promise.all([app.close(), client.close()]);
});

describe.each(['fast', 'node'] as const)('a route adding to a header that is there (%s lane)', (lane) => {
  it('joins an inline header into one line with ",", and sends any other as a line of its own', async () => {
    const path = `/add-${lane}`;
    const r = await exchangeLines(meshes[lane].outbound('client-v1'), [
      `GET http://app:9080${path} HTTP/1.1`,
      'Host: app:9080',
      'User-Agent: curl',
      'X-Custom: mine'
    ]);
    expect(r.status).toBe(200);
    const sent = (app.heads.get(path) ?? []).filter((l) => /^(user-agent|x-custom):/i.test(l));
    expect([...sent].sort()).toEqual(['user-agent: curl,extra', 'x-custom: extra', 'x-custom: mine']);
    const answered = r.headerLines.filter((l) => /^(vary|x-resp):/i.test(l));
    expect([...answered].sort()).toEqual(['vary: Accept,Origin', 'x-resp: one', 'x-resp: two']);
  });
});
