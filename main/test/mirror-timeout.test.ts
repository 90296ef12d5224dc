/**
 * Integration: a mirrored copy runs under the route's timeout, as Envoy's shadow request does (router.cc
 * maybeDoShadowing gives the shadow the route's global timeout). A mirror target that never answers has its copy cut
 * when the timeout runs out; without a route timeout the copy stays open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, web: Stub, hang: Stub;
let m: Running;
/** The mirror target's requests, by path: whether the copy's connection was cut before it answered. */
const cut = new Map<string, boolean>();

const ISTIO = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /timed}}]
    timeout: 300ms
    mirror: {host: hang}
    route: [{destination: {host: web}}]
  - mirror: {host: hang}
    route: [{destination: {host: web}}]
`;

beforeAll(async () => {
  [caller, web, hang] = await Promise.all([
    stub('caller'),
    stub('web'),
    // never answers; records whether the copy's request was cut
    stub('hang', (req) => {
      cut.set(req.url!, false);
      req.socket.once('close', () => cut.set(req.url!, true));
      return new Promise(() => undefined);
    })
  ]);
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
      hang: { workloads: [{ name: 'hang-v1', instances: [hang.address] }] }
    }),
    istio: { 'web.yaml': ISTIO }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, web, hang].map((s) => s.close()));
});

describe('a mirrored copy and the route timeout', () => {
  it("the copy is cut when the route's timeout runs out; the primary answers as usual", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/timed/1');
    expect(r.status).toBe(200);
    await until(() => cut.get('/timed/1') === true || undefined, 'the copy to be cut');
  });
  it('without a route timeout the copy stays open until the caller is done with it', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/open/1');
    expect(r.status).toBe(200);
    await until(() => cut.has('/open/1') || undefined, 'the copy to arrive');
    // the timed copy, sent later, is cut while this one is still open
    await viaProxy(m.outbound('caller-v1'), 'web:9080', '/timed/2');
    await until(() => cut.get('/timed/2') === true || undefined, 'the timed copy to be cut');
    expect(cut.get('/open/1')).toBe(false);
  });
});
