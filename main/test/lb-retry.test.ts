/**
 * Integration: retries as Envoy schedules them (istio-semantics §1.2 retries, §1.3 loadBalancer). Istio's retry
 * policy carries the previous-hosts predicate with hostSelectionRetryMaxAttempts 5; Envoy honours it by picking
 * again (LoadBalancerBase::chooseHost), so under ROUND_ROBIN every pick, a retry's included, advances the one cycle.
 * The back-off between tries is the spec's (istio-semantics §1.2): retry k waits U(0, min(25·(2^k − 1), 250)) ms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, e0: Stub, e1: Stub, e2: Stub, down: Stub;
let m: Running;
/** Every try that reached an endpoint, in order. */
const picks: string[] = [];

beforeAll(async () => {
  const answer =
    (name: string, status: number) =>
    (_req: unknown, res: import('node:http').ServerResponse): void => {
      picks.push(name);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(name);
    };
  [caller, e0, e1, e2, down] = await Promise.all([
    stub('caller'),
    stub('e0', answer('e0', 503)),
    stub('e1', answer('e1', 200)),
    stub('e2', answer('e2', 200)),
    stub('down')
  ]);
  down.behave((_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('down');
  });
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        rr: { workloads: [{ name: 'rr-v1', instances: [e0.address, e1.address, e2.address], sidecar: false }] },
        down: { workloads: [{ name: 'down-v1', instances: [down.address], sidecar: false }] }
      }),
      istio: {
        'rr.yaml': `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: rr}
spec:
  host: rr
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: rr}
spec:
  hosts: [rr]
  http:
  - retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: rr}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: down}
spec:
  hosts: [down]
  http:
  - retries: {attempts: 5, retryOn: 5xx}
    route: [{destination: {host: down}}]
`
      }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, e0, e1, e2, down].map((s) => s.close()));
});

describe('ROUND_ROBIN with retries', () => {
  it('a retry takes the next endpoint of the cycle, and the requests after it go on with the same cycle', async () => {
    for (let i = 0; i < 12; i++) {
      const r = await viaProxy(m.outbound('caller-v1'), 'rr:9080', `/rr${i}`);
      // the failing endpoint's request is retried on the next one, which answers
      expect(r.status).toBe(200);
    }
    // one cycle of the three endpoints, whatever its (seeded) start, however the tries fell into requests
    expect(new Set(picks.slice(0, 3)).size).toBe(3);
    for (let i = 3; i < picks.length; i++) expect(picks[i], `try ${i + 1} of ${picks.join(',')}`).toBe(picks[i - 3]);
    // every third try met the failing endpoint and was retried once: 12 requests took 17 or 18 tries
    expect(picks.filter((p) => p === 'e0')).toHaveLength(picks.length - 12);
    expect(picks.length).toBeGreaterThanOrEqual(17);
    expect(picks.length).toBeLessThanOrEqual(18);
  });
});

describe('retry back-off', () => {
  it('retry k waits less than min(25·(2^k − 1), 250) ms (the spec: fully jittered exponential), seeded', async () => {
    const waits: number[][] = [[], [], [], [], []];
    for (let i = 0; i < 8; i++) {
      const r = await viaProxy(m.outbound('caller-v1'), 'down:9080', `/down${i}`);
      expect(r.status).toBe(503);
      const flow = (await m.mesh.listFlows({ limit: 50 })).find(
        (f) => f.path === `/down${i}` && f.reporter === 'source'
      );
      expect(flow?.flags).toBe('URX');
      expect(flow?.attempts).toBe(6);
      for (const t of flow!.trace) {
        const b = /^retry (\d) of 5 after ([\d.]+) ms back-off$/.exec(t.detail);
        if (b) waits[Number(b[1]) - 1]!.push(Number(b[2]));
      }
    }
    for (let k = 1; k <= 5; k++) {
      const window = Math.min(25 * (2 ** k - 1), 250);
      expect(waits[k - 1], `retry ${k}`).toHaveLength(8);
      for (const w of waits[k - 1]!) {
        expect(w, `retry ${k}`).toBeGreaterThanOrEqual(0);
        expect(w, `retry ${k}`).toBeLessThan(window);
      }
    }
  });
});
