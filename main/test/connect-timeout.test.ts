/**
 * Integration: a DestinationRule's connectionPool.tcp.connectTimeout bounds the upstream connect (istio-semantics
 * §1.3: connect failure ⇒ 503 UF), on the fast lane and on node:http. The upstream is a loopback listener whose
 * accept queue is full and that never accepts (a tiny python3 helper: Node always accepts), so a connect hangs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FAST_BODY } from '../engine/sidecar/fast-lane.js';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

const HANG = `
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for i in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', port))
    except BlockingIOError: pass
    fill.append(c)
print(port, flush=True)
time.sleep(120)
`;
const hasPython = spawnSync('python3', ['-c', 'print(1)']).status === 0;

let caller: Stub;
let hang: ChildProcess;
let m: Running;

beforeAll(async () => {
  if (!hasPython) return;
  caller = await stub('caller');
  hang = spawn('python3', ['-c', HANG], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => hang.stdout!.once('data', (d: Buffer) => resolve(Number(d))));
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        stuck: { workloads: [{ name: 'stuck-v1', instances: [`127.0.0.1:${port}`], sidecar: false }] }
      }),
      istio: {
        'dr.yaml': `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: stuck}
spec:
  host: stuck
  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 300ms}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: stuck}
spec:
  hosts: [stuck]
  http: [{route: [{destination: {host: stuck}}], retries: {attempts: 0}}]
`
      }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  if (!hasPython) return;
  await m.close();
  await caller.close();
  hang.kill();
});

describe.skipIf(!hasPython)('DestinationRule connectTimeout (needs python3 for a listener that never accepts)', () => {
  for (const [lane, path, body] of [
    ['fast lane', '/fast', undefined],
    ['node:http', '/node', 'x'.repeat(MAX_FAST_BODY + 1)]
  ] as const) {
    it(`${lane}: the connect gives up after the rule's timeout: 503 UF "connection timeout"`, async () => {
      const r = await viaProxy(m.outbound('caller-v1'), 'stuck:9080', path, { method: 'POST', body });
      expect(r.status).toBe(503);
      expect(r.body).toBe(
        'upstream connect error or disconnect/reset before headers. reset reason: connection timeout'
      );
      const flow = (await m.mesh.listFlows({ limit: 20 })).find((f) => f.path === path);
      expect(flow?.flags).toBe('UF');
      expect(flow!.trace).toContainEqual({
        step: 'connect',
        detail: 'connect timeout 300 ms (DestinationRule connectionPool.tcp.connectTimeout)'
      });
      // the rule's 300 ms gave up, not the default 10 s
      expect(flow!.attemptLog).toMatchObject([{ status: 503, flags: 'UF', error: 'connect timeout (300 ms)' }]);
    }, 20_000);
  }
});
