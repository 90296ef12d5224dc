/**
 * Integration: a Sidecar `ingress` listener's own `connectionPool` (istio-semantics §1.6 and the circuit-breaking
 * section of §1.3): it replaces the Sidecar's `inboundConnectionPool` for the listener's port, as istiod's
 * buildInboundClustersFromSidecar takes it for that listener's inbound cluster; a listener without one keeps
 * `inboundConnectionPool`. Overflow is 503 UO with `x-envoy-overloaded: true`, reported by the destination. Real
 * sockets: one workload with two instances (one per listener port), apps that hold their answers until the test
 * lets them go, callers without a sidecar straight to each instance's inbound sidecar.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, request, startMesh, stub, until, type Reply, type Running, type Stub } from './helpers/harness.js';

const OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';

let own: Stub, shared: Stub;
let m: Running;
/** The answers each gated app holds until the test lets them go. */
const held = { own: [] as (() => void)[], shared: [] as (() => void)[] };

const gate =
  (which: keyof typeof held) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    held[which].push(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`done ${req.url}`);
    });
  };

beforeAll(async () => {
  [own, shared] = await Promise.all([stub('own', gate('own')), stub('shared', gate('shared'))]);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        pool: { workloads: [{ name: 'pool-v1', labels: { app: 'pool' }, instances: [own.address, shared.address] }] }
      }),
      istio: {
        'sidecar.yaml': `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: pool}
spec:
  workloadSelector: {labels: {app: pool}}
  inboundConnectionPool:
    tcp: {maxConnections: 2}
    http: {http1MaxPendingRequests: 1}
  ingress:
  - port: {number: ${own.port}, protocol: HTTP, name: http-own}
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1}
  - port: {number: ${shared.port}, protocol: HTTP, name: http-shared}
`
      }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  for (const h of [...held.own.splice(0), ...held.shared.splice(0)]) h();
  await m.close();
  await Promise.all([own.close(), shared.close()]);
});

/**
 * `n` concurrent calls to an instance's inbound sidecar while its app holds every answer: once the refused ones are
 * back and the admitted ones are at the app, the app lets them go one by one (a pending one reaches it then).
 */
async function burst(
  index: number,
  which: keyof typeof held,
  app: Stub,
  prefix: string,
  n: number,
  atApp: number,
  refused: number
): Promise<Reply[]> {
  const done: Reply[] = [];
  const calls = Array.from({ length: n }, (_, i) =>
    request(m.inbound('pool-v1', index), `/${prefix}${i}`, { headers: { host: 'pool:9080' } }).then((r) => {
      done.push(r);
      return r;
    })
  );
  await until(() => done.length === refused && held[which].length === atApp, `${refused} refused, ${atApp} at the app`);
  // the admitted ones are at the app and the refused ones answered: what the circuit decided is settled
  expect(app.seen.filter((s) => s.url.startsWith(`/${prefix}`)).length).toBe(atApp);
  const rs = Promise.all(calls);
  while (done.length < n) {
    const next = held[which].shift();
    if (next) next();
    await until(() => held[which].length > 0 || done.length === n, 'the next answer or the end', 400);
  }
  return rs;
}

const destinationFlows = async (prefix: string, count: number) => {
  const flows = await until(async () => {
    const fs = (await m.mesh.listFlows({ limit: 200 })).filter(
      (f) => f.path.startsWith(`/${prefix}`) && f.reporter === 'destination'
    );
    return fs.length === count ? fs : undefined;
  }, `the destination flows of /${prefix}`);
  return flows!;
};

describe('Sidecar ingress listener connectionPool', () => {
  it("the listener's own pool (one connection, one pending) replaces inboundConnectionPool: 2 of 5 served, 3 refused 503 UO", async () => {
    const rs = await burst(0, 'own', own, 'own', 5, 1, 3);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 503, 503, 503]);
    for (const r of rs.filter((x) => x.status === 503)) {
      expect(r.body).toBe(OVERFLOW);
      expect(r.headers['x-envoy-overloaded']).toBe('true');
      expect(r.headers['content-type']).toBe('text/plain');
    }
    const flows = await destinationFlows('own', 5);
    expect(flows.filter((f) => f.status === 503).map((f) => f.flags)).toEqual(['UO', 'UO', 'UO']);
    expect(flows.filter((f) => f.status === 200).map((f) => f.flags)).toEqual(['-', '-']);
  });

  it('a listener without a pool keeps inboundConnectionPool (two connections, one pending): 3 of 5 served, 2 refused', async () => {
    const rs = await burst(1, 'shared', shared, 'shared', 5, 2, 2);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 200, 503, 503]);
    for (const r of rs.filter((x) => x.status === 503)) {
      expect(r.body).toBe(OVERFLOW);
      expect(r.headers['x-envoy-overloaded']).toBe('true');
    }
    const flows = await destinationFlows('shared', 5);
    expect(flows.filter((f) => f.status === 503).map((f) => f.flags)).toEqual(['UO', 'UO']);
  });

  it('the slots are given back: a call after a burst goes through', async () => {
    const r = request(m.inbound('pool-v1', 0), '/own-after', { headers: { host: 'pool:9080' } });
    await until(() => held.own.length === 1, 'the call at the app');
    held.own.shift()!();
    expect((await r).status).toBe(200);
  });
});
