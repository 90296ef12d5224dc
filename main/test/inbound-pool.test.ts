/**
 * Integration: a Sidecar resource's inboundConnectionPool (istio-semantics §1.6, inbound circuit breakers): the
 * workload's inbound sidecar holds requests past maxConnections as pending and refuses those past
 * http1MaxPendingRequests with 503 UO, `x-envoy-overloaded: true`, as a client sidecar's connectionPool does; other
 * workloads are not limited. Real sockets: callers without a sidecar straight to the inbound sidecar, and a caller
 * through its outbound sidecar over mutual TLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import path from 'node:path';
import { meshYaml, request, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

const OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';

let caller: Stub, pooled: Stub, free: Stub, gated: Stub;
let m: Running;
/** The answers the gated app holds until the test lets them go. */
const held: (() => void)[] = [];

beforeAll(async () => {
  const slow = (_req: unknown, res: import('node:http').ServerResponse): void => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('slow');
    }, 300);
  };
  [caller, pooled, free, gated] = await Promise.all([
    stub('caller'),
    stub('pooled', slow),
    stub('free', slow),
    stub('gated', (req, res) => {
      held.push(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`done ${req.url}`);
      });
    })
  ]);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        pooled: { workloads: [{ name: 'pooled-v1', labels: { app: 'pooled' }, instances: [pooled.address] }] },
        free: { workloads: [{ name: 'free-v1', labels: { app: 'free' }, instances: [free.address] }] },
        gated: { workloads: [{ name: 'gated-v1', labels: { app: 'gated' }, instances: [gated.address] }] }
      }),
      istio: {
        'sidecar.yaml': `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: pooled}
spec:
  workloadSelector: {labels: {app: pooled}}
  inboundConnectionPool:
    tcp: {maxConnections: 1}
    http: {http1MaxPendingRequests: 1}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: gated}
spec:
  workloadSelector: {labels: {app: gated}}
  inboundConnectionPool:
    tcp: {maxConnections: 1}
    http: {http1MaxPendingRequests: 1}
`
      }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  for (const h of held.splice(0)) h();
  await m.close();
  await Promise.all([caller.close(), pooled.close(), free.close(), gated.close()]);
});

describe('Sidecar inboundConnectionPool', () => {
  it('one connection and one pending: of four concurrent calls two are served, two refused with 503 UO', async () => {
    const before = pooled.seen.length;
    const rs = await Promise.all(
      [1, 2, 3, 4].map((i) => request(m.inbound('pooled-v1'), `/in${i}`, { headers: { host: 'pooled:9080' } }))
    );
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 503, 503]);
    for (const r of rs.filter((x) => x.status === 503)) {
      expect(r.body).toBe(OVERFLOW);
      expect(r.headers['x-envoy-overloaded']).toBe('true');
      expect(r.headers.server).toBe('istio-envoy');
    }
    expect(pooled.seen.length - before).toBe(2);
    const flows = (await m.mesh.listFlows({ limit: 100 })).filter((f) => /^\/in\d$/.test(f.path));
    expect(flows.filter((f) => f.status === 503).map((f) => [f.reporter, f.flags])).toEqual([
      ['destination', 'UO'],
      ['destination', 'UO']
    ]);
    // the slots are given back: a call after them goes through
    expect((await request(m.inbound('pooled-v1'), '/after', { headers: { host: 'pooled:9080' } })).status).toBe(200);
  });
  it('through the caller sidecar (mutual TLS) the overflow reaches the caller as 503', async () => {
    const rs = await Promise.all([1, 2, 3].map((i) => viaProxy(m.outbound('caller-v1'), 'pooled:9080', `/mesh${i}`)));
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 503]);
    expect(rs.find((r) => r.status === 503)?.body).toBe(OVERFLOW);
  });
  it('a workload its Sidecar does not select is not limited', async () => {
    const rs = await Promise.all(
      [1, 2, 3, 4].map((i) => request(m.inbound('free-v1'), `/free${i}`, { headers: { host: 'free:9080' } }))
    );
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });
  it('a pending request whose caller leaves gives its place back: the next one waits instead of 503 UO', async () => {
    const at = m.inbound('gated-v1');
    const first = request(at, '/g1', { headers: { host: 'gated:9080' } });
    await until(() => held.length === 1, 'the first request at the app');
    // the second waits as pending; its caller gives up
    const gone = http.request({
      host: '127.0.0.1',
      port: at,
      path: '/g2',
      headers: { host: 'gated:9080' },
      agent: false
    });
    gone.on('error', () => undefined);
    gone.end();
    await new Promise((r) => setTimeout(r, 100));
    gone.destroy();
    await until(
      async () => (await m.mesh.listFlows({ limit: 50 })).some((f) => f.path === '/g2'),
      'the departed request to finish'
    );
    const third = request(at, '/g3', { headers: { host: 'gated:9080' } });
    await new Promise((r) => setTimeout(r, 100));
    held.shift()!();
    expect((await first).body).toBe('done /g1');
    await until(() => held.length === 1, 'the third request at the app');
    held.shift()!();
    const r = await third;
    expect(r.status).toBe(200);
    expect(r.body).toBe('done /g3');
    // the departed one never reached the app
    expect(gated.seen.map((x) => x.url)).toEqual(['/g1', '/g3']);
  });
  it('a reload that leaves the limits as they were keeps the counts: the held connection still counts', async () => {
    const at = m.inbound('gated-v1');
    const first = request(at, '/k1', { headers: { host: 'gated:9080' } });
    await until(() => held.length === 1, 'the first request at the app');
    // another file changes: the inbound cluster's limits do not, so its connection stays taken (Envoy keeps it)
    await m.mesh.writeIstioFile({
      path: path.join(m.dir, 'istio', 'other.yaml'),
      content: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: free}
spec:
  hosts: [free]
  http: [{route: [{destination: {host: free}}]}]
`
    });
    const second = request(at, '/k2', { headers: { host: 'gated:9080' } });
    await new Promise((r) => setTimeout(r, 100));
    // one connection taken, one pending: a third is refused
    const third = await request(at, '/k3', { headers: { host: 'gated:9080' } });
    expect(third.status).toBe(503);
    expect(third.body).toBe(OVERFLOW);
    held.shift()!();
    expect((await first).body).toBe('done /k1');
    await until(() => held.length === 1, 'the pending request at the app');
    held.shift()!();
    expect((await second).body).toBe('done /k2');
  });
});
