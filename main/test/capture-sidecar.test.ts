// What the sidecars capture with each flow: bodies up to spec.capture.bodyCap, timing phases, the replay marker.
import fs from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRecord } from '../contract/api.js';
import { withoutBodies } from '../engine/capture/flow-store.js';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: store}
spec:
  hosts: [store]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: store}}]
  - route: [{destination: {host: store}}]
`;

/** 3000 bytes 0..255 repeated: binary (control bytes). */
const BINARY = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256));

function yaml(web: Stub, store: Stub, cap: number, enabled = true): string {
  return meshYaml(
    {
      web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
      store: { workloads: [{ name: 'store-v1', instances: [store.address] }] }
    },
    `  capture: {bodyCap: ${cap}${enabled ? '' : ', enabled: false'}}`
  );
}

let web: Stub;
let store: Stub;
let m: Running;

beforeAll(async () => {
  web = await stub('web');
  store = await stub('store', (_req, res, seen) => {
    if (seen.url.startsWith('/binary')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BINARY.length });
      res.end(BINARY);
      return;
    }
    const body = seen.url.startsWith('/echo') ? seen.body : JSON.stringify({ ok: true });
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  m = await startMesh({ meshYaml: yaml(web, store, 1000), istio: { 'vs.yaml': VS } }, { store: 'memory' });
});
afterAll(async () => {
  await m?.close();
  await web?.close();
  await store?.close();
});

const call = (
  p: string,
  id: string,
  opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}
) =>
  viaProxy(m.outbound('web-v1'), 'store:9080', p, {
    method: opts.method,
    body: opts.body,
    headers: { 'x-request-id': id, ...opts.headers }
  });

/** The flow of one request as one reporter saw it, with bodies (getFlow). */
async function flow(requestId: string, reporter: 'source' | 'destination' = 'source'): Promise<FlowRecord> {
  const listed = await until(
    async () =>
      (await m.mesh.listFlows({ limit: 500 })).find((f) => f.requestId === requestId && f.reporter === reporter),
    `${reporter} flow ${requestId}`
  );
  return m.mesh.getFlow({ id: listed!.id });
}

describe('body capture cap (spec.capture.bodyCap)', () => {
  it('a body over the cap is stored truncated, with the full size', async () => {
    const text = 'a'.repeat(5000);
    const r = await call('/echo', 'cap-text', {
      method: 'POST',
      body: text,
      headers: { 'content-type': 'text/plain' }
    });
    expect(r.status).toBe(200);
    expect(r.body).toBe(text); // the app and the caller still get everything
    expect(store.seen.at(-1)!.body.length).toBe(5000);
    for (const reporter of ['source', 'destination'] as const) {
      const f = await flow('cap-text', reporter);
      expect(f.requestBody, reporter).toEqual({
        encoding: 'utf8',
        data: 'a'.repeat(1000),
        size: 5000,
        truncated: true
      });
      expect(f.responseBody, reporter).toEqual({
        encoding: 'utf8',
        data: 'a'.repeat(1000),
        size: 5000,
        truncated: true
      });
    }
  });

  it('a body that ends short of its content-length is recorded at that size, cut short, not as whole', async () => {
    // a caller that says 100000 bytes, sends 10 and goes away
    const sock = net.connect(m.outbound('web-v1'), '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(
      'POST http://store:9080/echo HTTP/1.1\r\nHost: store:9080\r\nx-request-id: short-body\r\n' +
        'content-type: text/plain\r\ncontent-length: 100000\r\n\r\n0123456789'
    );
    await new Promise((r) => setTimeout(r, 100));
    sock.destroy();
    const f = await flow('short-body');
    expect(f.flags).toContain('DC');
    expect(f.requestBody).toEqual({ encoding: 'utf8', data: '0123456789', size: 100000, truncated: true });
  });

  it('a body within the cap is stored whole', async () => {
    await call('/echo', 'cap-small', { method: 'POST', body: 'hello' });
    const f = await flow('cap-small');
    expect(f.requestBody).toEqual({ encoding: 'utf8', data: 'hello', size: 5, truncated: false });
  });

  it('a binary body is base64, truncated at the cap', async () => {
    const r = await call('/binary', 'cap-bin');
    expect(r.raw.equals(BINARY)).toBe(true);
    const f = await flow('cap-bin');
    expect(f.responseBody?.encoding).toBe('base64');
    expect(f.responseBody?.size).toBe(3000);
    expect(f.responseBody?.truncated).toBe(true);
    expect(Buffer.from(f.responseBody!.data, 'base64').equals(BINARY.subarray(0, 1000))).toBe(true);
  });

  it('a binary request body within the cap is base64 and whole', async () => {
    const bin = BINARY.subarray(0, 300);
    await call('/echo', 'cap-bin-req', {
      method: 'POST',
      body: bin,
      headers: { 'content-type': 'application/octet-stream' }
    });
    const f = await flow('cap-bin-req');
    expect(f.requestBody?.encoding).toBe('base64');
    expect(f.requestBody?.truncated).toBe(false);
    expect(Buffer.from(f.requestBody!.data, 'base64').equals(bin)).toBe(true);
  });

  it('a multi-byte character cut by the cap is left out of the text', async () => {
    const text = '€'.repeat(400); // 3 bytes each: 1200 bytes; the cap of 1000 falls inside the 334th character
    await call('/echo', 'cap-utf8', { method: 'POST', body: text });
    const f = await flow('cap-utf8');
    expect(f.requestBody).toEqual({ encoding: 'utf8', data: '€'.repeat(333), size: 1200, truncated: true });
  });
});

describe('timing phases', () => {
  it('a proxied call has every phase, in order', async () => {
    await call('/timed', 'tm-get');
    for (const reporter of ['source', 'destination'] as const) {
      const t = (await flow('tm-get', reporter)).timings!;
      expect(t, reporter).toBeDefined();
      expect(t.requestEnd).toBe(0); // no body: complete with the headers
      expect(t.upstreamConnected).not.toBeNull();
      expect(t.responseStart).not.toBeNull();
      expect(t.upstreamConnected!).toBeGreaterThanOrEqual(0);
      expect(t.upstreamConnected!).toBeLessThanOrEqual(t.responseStart!);
      expect(t.requestEnd!).toBeLessThanOrEqual(t.responseStart!);
      expect(t.responseStart!).toBeLessThanOrEqual(t.responseEnd);
    }
    const f = await flow('tm-get');
    expect(f.timings!.responseEnd).toBe(f.durationMs);
    // the sidecar-to-sidecar hop is mutual TLS: upstreamConnected is after the handshake
    expect(f.connectionSecurity).toBe('mutual_tls');
  });

  it('a request with a body ends when the body was read', async () => {
    await call('/echo', 'tm-post', { method: 'POST', body: 'x'.repeat(2000) });
    const t = (await flow('tm-post')).timings!;
    expect(t.requestEnd).not.toBeNull();
    expect(t.requestEnd!).toBeGreaterThanOrEqual(0);
    expect(t.requestEnd!).toBeLessThanOrEqual(t.responseEnd);
    expect(t.responseStart!).toBeLessThanOrEqual(t.responseEnd);
    // millisecond values rounded to 0.001
    for (const v of [t.requestEnd!, t.upstreamConnected!, t.responseStart!, t.responseEnd])
      expect(Math.round(v * 1000) / 1000).toBe(v);
  });

  it('a fault abort never connects upstream', async () => {
    const r = await call('/abort', 'tm-abort');
    expect(r.status).toBe(500);
    const f = await flow('tm-abort');
    expect(f.flags).toBe('FI');
    expect(f.timings!.upstreamConnected).toBeNull();
    expect(f.timings!.responseStart).not.toBeNull();
    expect(f.timings!.responseStart!).toBeLessThanOrEqual(f.timings!.responseEnd);
  });
});

describe('flow records as handed to the store', () => {
  it('an ordinary call records ASCII only at both reporters (no character makes the JSON a two-byte string)', async () => {
    // one non-ASCII character in a record (the decision trace's arrows were) makes V8 build its whole JSON as a
    // two-byte string: 2.6x the cost of handing it to the writer thread, and SQLite needs it transcoded to UTF-8
    await call('/plain', 'ascii-1');
    for (const reporter of ['source', 'destination'] as const) {
      const f = await flow('ascii-1', reporter);
      expect(JSON.stringify(withoutBodies(f)), reporter).toMatch(/^[\x20-\x7e]*$/);
      expect(f.trace.length, reporter).toBeGreaterThan(0);
    }
  });
});

describe('replay marker', () => {
  it('x-localmesh-replay-of is recorded, traced and not forwarded', async () => {
    const r = await call('/replayed', 'rp-1', { headers: { 'x-localmesh-replay-of': 'abc-123' } });
    expect(r.status).toBe(200);
    const seen = store.seen.find((s) => s.headers['x-request-id'] === 'rp-1')!;
    expect(seen.headers['x-localmesh-replay-of']).toBeUndefined();
    const src = await flow('rp-1');
    expect(src.replayOf).toBe('abc-123');
    expect(src.trace).toContainEqual({ step: 'replay', detail: 'replay of abc-123' });
    expect(src.requestHeaders['x-localmesh-replay-of']).toBeUndefined();
    // the destination sidecar never saw the marker
    expect((await flow('rp-1', 'destination')).replayOf).toBeNull();
  });

  it('ordinary flows have replayOf null', async () => {
    await call('/plain', 'rp-none');
    expect((await flow('rp-none')).replayOf).toBeNull();
    expect((await flow('rp-none')).trace.some((s) => s.step === 'replay')).toBe(false);
  });
});

describe('reload', () => {
  it('a new bodyCap applies to requests after the reload', async () => {
    fs.writeFileSync(m.file, yaml(web, store, 100));
    expect((await m.mesh.reload()).ok).toBe(true);
    await call('/echo', 'cap-reload', { method: 'POST', body: 'b'.repeat(500) });
    const f = await flow('cap-reload');
    expect(f.requestBody).toEqual({ encoding: 'utf8', data: 'b'.repeat(100), size: 500, truncated: true });
  });
});

describe('capture off (spec.capture.enabled: false)', () => {
  it('routes and counts requests but records no flow; a reload turns it back on', async () => {
    fs.writeFileSync(m.file, yaml(web, store, 1000, false));
    expect((await m.mesh.reload()).ok).toBe(true);
    expect((await m.mesh.getConfig()).capture).toBe(false);
    const before = requestsTotal((await m.mesh.metrics()).text);
    const r = await call('/echo', 'cap-off', { method: 'POST', body: 'secret' });
    expect(r.status).toBe(200);
    expect(store.seen.some((x) => x.headers['x-request-id'] === 'cap-off' && x.body === 'secret')).toBe(true);
    expect(requestsTotal((await m.mesh.metrics()).text)).toBe(before + 2); // both sidecars counted it

    fs.writeFileSync(m.file, yaml(web, store, 1000, true));
    expect((await m.mesh.reload()).ok).toBe(true);
    expect((await m.mesh.getConfig()).capture).toBe(true);
    await call('/plain', 'cap-on-again');
    await flow('cap-on-again', 'destination');
    // flows are stored in the order they end: the later request's flows are in, the capture-off one's never came
    const ids = (await m.mesh.listFlows({ limit: 1000 })).map((f) => f.requestId);
    expect(ids).toContain('cap-on-again');
    expect(ids).not.toContain('cap-off');
  });
});

/** The sum of istio_requests_total over its series in a Prometheus text exposition. */
function requestsTotal(text: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith('istio_requests_total{'))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
