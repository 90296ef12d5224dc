/**
 * Integration: faults, timeouts and retries (istio-semantics §1.2), connection failures and local replies (§1.7).
 * Real sockets; a seeded generator; no fixed sleeps as assertions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { deadPort, meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, svc: Stub, flaky: Stub, slow: Stub;
let dead: number, dead2: number;
let m: Running;

const VS = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
  - match: [{uri: {prefix: /abort-unset}}]
    fault: {abort: {httpStatus: 500}}
    route: [{destination: {host: svc}}]
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: svc}}]
  - match: [{uri: {prefix: /grpc-abort}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: svc}}]
  - match: [{uri: {prefix: /half-abort}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 50}}}
    route: [{destination: {host: svc}}]
  - match: [{uri: {prefix: /delay-abort}}]
    fault:
      delay: {fixedDelay: 10ms, percentage: {value: 100}}
      abort: {httpStatus: 502, percentage: {value: 100}}
    route: [{destination: {host: svc}}]
  - match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 50ms, percent: 100}}
    route: [{destination: {host: svc}}]
  - route: [{destination: {host: svc}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky}
spec:
  hosts: [flaky]
  http:
  - match: [{uri: {prefix: /default}}]
    route: [{destination: {host: flaky}}]
  - match: [{uri: {prefix: /retry5xx}}]
    retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: flaky}}]
  - match: [{uri: {prefix: /retry-codes}}]
    retries: {attempts: 2, retryOn: "503"}
    route: [{destination: {host: flaky}}]
  - match: [{uri: {prefix: /no-retry}}]
    retries: {attempts: 0}
    route: [{destination: {host: flaky}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gone}
spec:
  hosts: [gone]
  http:
  - match: [{uri: {prefix: /empty-retries}}]
    retries: {}
    route: [{destination: {host: gone}}]
  - match: [{uri: {prefix: /backoff-only}}]
    retries: {backoff: 10ms}
    route: [{destination: {host: gone}}]
  - route: [{destination: {host: gone}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: slow}
spec:
  hosts: [slow]
  http:
  - match: [{uri: {prefix: /timeout}}]
    timeout: 100ms
    route: [{destination: {host: slow}}]
  - match: [{uri: {prefix: /per-try}}]
    retries: {attempts: 2, perTryTimeout: 60ms, retryOn: "gateway-error,reset"}
    route: [{destination: {host: slow}}]
  - match: [{uri: {prefix: /pt-default}}]
    retries: {attempts: 2, perTryTimeout: 60ms}
    route: [{destination: {host: slow}}]
  - match: [{uri: {prefix: /tp-min}}]
    timeout: 100ms
    retries: {attempts: 1, perTryTimeout: 300ms, retryOn: gateway-error}
    route: [{destination: {host: slow}}]
  - match: [{uri: {prefix: /rt-timeout}}]
    timeout: 250ms
    retries: {attempts: 5, perTryTimeout: 100ms, retryOn: "gateway-error,reset"}
    route: [{destination: {host: slow}}]
  - route: [{destination: {host: slow}}]
`;

beforeAll(async () => {
  [caller, svc, flaky, slow] = await Promise.all([stub('caller'), stub('svc'), stub('flaky'), stub('slow')]);
  dead = await deadPort();
  dead2 = await deadPort();
  flaky.behave((req, res) => {
    const q = new URL(req.url!, 'http://x').searchParams;
    const fails = Number(q.get('fail') ?? '0');
    const n = Number(req.headers['x-envoy-attempt-count']);
    if (q.get('reset') === 'all' || Number(q.get('reset')) === n) {
      req.socket.destroy(); // read the request, then drop the connection without an answer
      return;
    }
    if (n <= fails) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end(`fail ${n}`);
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`ok after ${n}`);
    }
  });
  slow.behave((req, res) => {
    const q = new URL(req.url!, 'http://x').searchParams;
    const ms = Number(q.get('ms') ?? '0');
    if (q.has('head')) {
      // the head and part of the body at once, the rest after ms
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' });
      res.write('12345');
      const t = setTimeout(() => res.end('67890'), ms);
      res.on('close', () => clearTimeout(t));
      return;
    }
    const t = setTimeout(() => {
      res.writeHead(200);
      res.end(`slow ${req.headers['x-envoy-attempt-count']}`);
    }, ms);
    res.on('close', () => clearTimeout(t));
  });
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      svc: { workloads: [{ name: 'svc-v1', instances: [svc.address] }] },
      flaky: { workloads: [{ name: 'flaky-v1', instances: [flaky.address], sidecar: false }] },
      slow: { workloads: [{ name: 'slow-v1', instances: [slow.address], sidecar: false }] },
      down: { workloads: [{ name: 'down-v1', instances: [`127.0.0.1:${dead}`] }] },
      gone: { workloads: [{ name: 'gone-v1', instances: [`127.0.0.1:${dead2}`], sidecar: false }] }
    }),
    istio: { 'vs.yaml': VS }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, svc, flaky, slow].map((s) => s.close()));
});

const call = (authority: string, p: string, headers: Record<string, string> = {}) =>
  viaProxy(m.outbound('caller-v1'), authority, p, { headers });
const flowFor = async (p: string) =>
  (await m.mesh.listFlows({ limit: 200 })).reverse().find((f) => f.reporter === 'source' && f.path === p);

describe('fault injection', () => {
  it('abort: configured status, body "fault filter abort", text/plain, FI, upstream untouched', async () => {
    const before = svc.seen.length;
    const r = await call('svc:9080', '/abort');
    expect(r.status).toBe(503);
    expect(r.body).toBe('fault filter abort');
    expect(r.raw.length).toBe(18);
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['x-envoy-upstream-service-time']).toBeUndefined();
    expect(svc.seen.length).toBe(before);
    const f = await flowFor('/abort');
    expect(f?.flags).toBe('FI');
    // the flow records the headers the caller got, Date included
    expect(f?.responseHeaders.date).toBe(r.headers.date);
    expect(f?.responseHeaders.date).toBeDefined();
  });
  it('unset percentage means 0%: never aborted', async () => {
    for (let i = 0; i < 20; i++) expect((await call('svc:9080', '/abort-unset')).status).toBe(200);
  });
  it('grpc abort: to a gRPC request, HTTP 200 trailers-only with grpc-status 14 and the fault as grpc-message', async () => {
    const r = await call('svc:9080', '/grpc-abort', { 'content-type': 'application/grpc' });
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status']).toBe('14');
    expect(r.headers['grpc-message']).toBe('fault filter abort');
    expect(r.headers['content-type']).toBe('application/grpc');
    expect(r.body).toBe('');
  });
  it("grpc abort: to a request that is not gRPC, a plain 200 with the fault's body (Envoy: no gRPC form)", async () => {
    const r = await call('svc:9080', '/grpc-abort');
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status']).toBeUndefined();
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.body).toBe('fault filter abort');
    expect((await flowFor('/grpc-abort'))?.flags).toBe('FI');
  });
  it('50% abort over 200 requests lands in [70, 130] (seed 42)', async () => {
    let aborted = 0;
    for (let i = 0; i < 200; i++) if ((await call('svc:9080', '/half-abort')).status === 500) aborted++;
    expect(aborted).toBeGreaterThanOrEqual(70);
    expect(aborted).toBeLessThanOrEqual(130);
  });
  it('delay (deprecated percent) holds the request, then forwards: flag DI', async () => {
    const r = await call('svc:9080', '/delay');
    expect(r.status).toBe(200);
    const f = await flowFor('/delay');
    expect(f?.flags).toBe('DI');
    expect(f!.durationMs).toBeGreaterThanOrEqual(45);
  });
  it('delay then abort: both flags, Envoy order DI,FI', async () => {
    const r = await call('svc:9080', '/delay-abort');
    expect(r.status).toBe(502);
    expect((await flowFor('/delay-abort'))?.flags).toBe('DI,FI');
  });
});

describe('retries (Istio ≥ 1.24 defaults)', () => {
  it('default policy does not retry an upstream 503', async () => {
    const before = flaky.seen.length;
    const r = await call('flaky:9080', '/default?fail=1');
    expect(r.status).toBe(503);
    expect(r.body).toBe('fail 1');
    expect(flaky.seen.length - before).toBe(1);
    expect((await flowFor('/default?fail=1'))?.flags).toBe('-');
  });
  it('retryOn 5xx retries with x-envoy-attempt-count 1,2,3', async () => {
    const before = flaky.seen.length;
    const r = await call('flaky:9080', '/retry5xx?fail=2');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok after 3');
    expect(flaky.seen.slice(before).map((s) => s.headers['x-envoy-attempt-count'])).toEqual(['1', '2', '3']);
  });
  it('exhausted retries return the last upstream response with URX', async () => {
    const r = await call('flaky:9080', '/retry-codes?fail=9');
    expect(r.status).toBe(503);
    expect(r.body).toBe('fail 3');
    expect(r.headers['x-envoy-upstream-service-time']).toBeDefined();
    expect((await flowFor('/retry-codes?fail=9'))?.flags).toBe('URX');
  });
  it('attempts: 0 disables retries', async () => {
    const before = flaky.seen.length;
    await call('flaky:9080', '/no-retry?fail=1');
    expect(flaky.seen.length - before).toBe(1);
  });
  it('a retries block without attempts is no retry policy at all (Istio: attempts 0 or unset)', async () => {
    const bodyOnce =
      'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused';
    for (const p of ['/empty-retries', '/backoff-only']) {
      const r = await call('gone:9080', p);
      expect([r.status, r.body], p).toEqual([503, bodyOnce]);
      const f = await flowFor(p);
      expect([f?.flags, f?.attempts], p).toEqual(['UF', 1]);
    }
  });
  it('a request the app read and dropped is never sent again: one delivery, 503 UC (default policy, attempts 0)', async () => {
    await call('flaky:9080', '/default?warm=1'); // a keep-alive connection in the pool
    for (const p of ['/default?reset=all', '/no-retry?reset=all']) {
      const before = flaky.seen.length;
      const r = await call('flaky:9080', p);
      expect(r.status, p).toBe(503);
      expect(r.body, p).toBe(
        'upstream connect error or disconnect/reset before headers. reset reason: connection termination'
      );
      expect(flaky.seen.length - before, p).toBe(1);
      expect((await flowFor(p))?.flags, p).toBe('UC');
    }
  });
  it('a reset after a retried 503 says "retried and the latest" but is not URX when the reset is not retriable', async () => {
    const before = flaky.seen.length;
    const r = await call('flaky:9080', '/retry-codes?fail=1&reset=2');
    expect(r.status).toBe(503);
    expect(r.body).toBe(
      'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection termination'
    );
    expect(flaky.seen.length - before).toBe(2);
    const f = await flowFor('/retry-codes?fail=1&reset=2');
    expect([f?.flags, f?.attempts]).toEqual(['UC', 2]);
  });
  it('ALLOW_ANY passthrough has no retry policy: one try to an unknown host, 503 UF', async () => {
    const r = await call(`127.0.0.1:${dead}`, '/pt-dead');
    expect(r.status).toBe(503);
    expect(r.body).toBe(
      'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused'
    );
    const f = await flowFor('/pt-dead');
    expect([f?.flags, f?.attempts, f?.destinationService]).toEqual(['UF', 1, 'PassthroughCluster']);
  });
  it('aborts are never retried', async () => {
    await call('svc:9080', '/abort/again');
    const f = await flowFor('/abort/again');
    expect(f?.flags).toBe('FI');
    expect(f?.attempts).toBe(0);
  });
  it('connect failure to an app without sidecar: default retries, then 503 UF,URX with the retried body', async () => {
    const r = await call('gone:9080', '/x');
    expect(r.status).toBe(503);
    expect(r.body).toBe(
      'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused'
    );
    const f = await flowFor('/x');
    expect(f?.flags).toBe('UF,URX');
    expect(f?.attempts).toBe(3);
  });
  it('an instance that is not listening behind its sidecar: the inbound sidecar answers 503 UF,URX, the client passes it through', async () => {
    const r = await call('down:9080', '/y');
    expect(r.status).toBe(503);
    expect(
      r.body.startsWith(
        'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure'
      )
    ).toBe(true);
    const flows = (await m.mesh.listFlows({ limit: 50 })).filter((f) => f.path === '/y');
    expect(flows.find((f) => f.reporter === 'destination')?.flags).toBe('UF,URX');
    expect(flows.find((f) => f.reporter === 'source')?.flags).toBe('-');
    // the mesh stays up
    expect((await call('svc:9080', '/ok')).status).toBe(200);
  });
});

describe('timeouts', () => {
  it('route timeout: 504 "upstream request timeout", UT, expected-timeout header sent', async () => {
    const before = slow.seen.length;
    const r = await call('slow:9080', '/timeout?ms=2000');
    expect(r.status).toBe(504);
    expect(r.body).toBe('upstream request timeout');
    expect(r.headers['content-type']).toBe('text/plain');
    expect(slow.seen[before]!.headers['x-envoy-expected-rq-timeout-ms']).toBe('100');
    const flow = await flowFor('/timeout?ms=2000');
    expect(flow?.flags).toBe('UT');
    // the try in flight when the route timed out is in the record
    expect(flow?.attemptLog).toMatchObject([{ attempt: 1, status: 504, flags: 'UT' }]);
  });
  it('x-envoy-expected-rq-timeout-ms is the per-try timeout capped by the route timeout (Envoy)', async () => {
    const before = slow.seen.length;
    expect((await call('slow:9080', '/tp-min?ms=0')).status).toBe(200);
    expect(slow.seen[before]!.headers['x-envoy-expected-rq-timeout-ms']).toBe('100');
  });
  it('the route timeout firing while retries remain is UT alone (URX is for retries used up)', async () => {
    const before = slow.seen.length;
    const r = await call('slow:9080', '/rt-timeout?ms=2000');
    expect(r.status).toBe(504);
    expect(r.body).toBe('upstream request timeout');
    const tries = slow.seen.length - before;
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(tries).toBeLessThan(6);
    const flow = await flowFor('/rt-timeout?ms=2000');
    expect(flow?.flags).toBe('UT');
    // the last try ended by its per-try timeout or by the route's (whichever came first), never by an answer
    expect(flow?.attemptLog.at(-1)).toMatchObject({
      status: 504,
      flags: 'UT',
      error: expect.stringMatching(/timeout/)
    });
  });
  it('the route timeout runs until the response is complete: a body still streaming is cut, flag UT', async () => {
    const r = await call('slow:9080', '/timeout?ms=2000&head=1').catch((e: Error) => ({ error: e.message }));
    // the head went out before the timeout: the caller sees the response cut short (a reset or a short body)
    if ('body' in r) expect(r.body.length).toBeLessThan(10);
    let flow = await flowFor('/timeout?ms=2000&head=1');
    for (let i = 0; i < 100 && !flow; i++) {
      await new Promise((res) => setTimeout(res, 10));
      flow = await flowFor('/timeout?ms=2000&head=1');
    }
    expect(flow).toMatchObject({ status: 200, flags: 'UT' });
    expect(flow!.trace).toContainEqual({
      step: 'timeout',
      detail: 'route timeout 100 ms fired while the response was streaming: reset'
    });
  });
  it('a response that completes within the route timeout keeps its body', async () => {
    const r = await call('slow:9080', '/timeout?ms=20&head=1');
    expect(r.body).toBe('1234567890');
    expect((await flowFor('/timeout?ms=20&head=1'))?.flags).toBe('-');
  });
  it('a fast answer within the timeout passes', async () => {
    expect((await call('slow:9080', '/timeout?ms=0')).status).toBe(200);
  });
  it('per-try timeout retried under gateway-error,reset; exhausted ⇒ 504 UT,URX after 3 tries', async () => {
    const before = slow.seen.length;
    const r = await call('slow:9080', '/per-try?ms=2000');
    expect(r.status).toBe(504);
    expect(r.body).toBe('upstream request timeout');
    expect(slow.seen.length - before).toBe(3);
    expect((await flowFor('/per-try?ms=2000'))?.flags).toBe('UT,URX');
  });
  it('per-try timeout under the default retryOn is not retried: 504 UT after one try', async () => {
    const before = slow.seen.length;
    const r = await call('slow:9080', '/pt-default?ms=2000');
    expect(r.status).toBe(504);
    expect(slow.seen.length - before).toBe(1);
    expect((await flowFor('/pt-default?ms=2000'))?.flags).toBe('UT');
  });
  it('no timeout by default', async () => {
    const r = await call('slow:9080', '/plain?ms=300');
    expect(r.status).toBe(200);
    expect(slow.seen.at(-1)!.headers['x-envoy-expected-rq-timeout-ms']).toBeUndefined();
  });
});

describe('streaming and upgrades', () => {
  it('large chunked bodies pass through both sidecars intact', async () => {
    svc.behave((_req, res, seen) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(seen.body);
    });
    const big = 'x'.repeat(3 * 1024 * 1024);
    const r = await viaProxy(m.outbound('caller-v1'), 'svc:9080', '/echo', {
      method: 'POST',
      body: big,
      headers: { 'transfer-encoding': 'chunked' }
    });
    svc.behave(undefined);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(big.length);
  });
  it('keeps the app connection alive across requests', async () => {
    const sock = net.connect(m.outbound('caller-v1'), '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    let data = '';
    sock.on('data', (d) => (data += d.toString()));
    const req = 'GET http://svc:9080/ka HTTP/1.1\r\nhost: svc:9080\r\n\r\n';
    sock.write(req + req);
    for (let i = 0; i < 200 && (data.match(/HTTP\/1\.1 200/g)?.length ?? 0) < 2; i++)
      await new Promise((r) => setTimeout(r, 10));
    sock.destroy();
    expect(data.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    expect(data).not.toMatch(/connection: close/i);
  });
});
