/**
 * Integration: istio_request_bytes and istio_response_bytes record the downstream wire bytes, head and body
 * (istio-semantics §3.1: "downstream wire bytes received (headers + body)", "wire bytes sent"), on the fast lane
 * and on node:http (a body over the fast lane's limit). Raw TCP from the test, so every byte is known.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FAST_BODY } from '../engine/sidecar/fast-lane.js';
import { meshYaml, startMesh, stub, type Running, type Stub } from './helpers/harness.js';

let pp: Stub, reviews: Stub, chunky: Stub;
let m: Running;

beforeAll(async () => {
  pp = await stub('pp');
  reviews = await stub('reviews', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
    res.end('hello');
  });
  // a body in chunks, no content-length: the framing crosses the wire too
  chunky = await stub('chunky', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('hel');
    setTimeout(() => res.end('lo'), 5);
  });
  m = await startMesh(
    {
      meshYaml: meshYaml({
        productpage: { workloads: [{ name: 'productpage-v1', instances: [pp.address] }] },
        reviews: { workloads: [{ name: 'reviews-v1', instances: [reviews.address] }] },
        chunky: { workloads: [{ name: 'chunky-v1', instances: [chunky.address] }] }
      })
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([pp, reviews, chunky].map((s) => s.close()));
});

/** Send `text` on a new connection and read until the server closes it. */
function raw(port: number, text: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** The sums of both byte histograms for one reporter. */
async function sums(reporter: string): Promise<{ request: number; response: number }> {
  const { text } = await m.mesh.metrics();
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}_sum{reporter="${reporter}"`))
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return { request: sum('istio_request_bytes'), response: sum('istio_response_bytes') };
}

async function measure(
  bodyBytes: number,
  service = 'reviews'
): Promise<{ sent: number; received: number; delta: { request: number; response: number } }> {
  const before = await sums('source');
  const body = 'x'.repeat(bodyBytes);
  const text =
    `POST http://${service}:9080/wire HTTP/1.1\r\nHost: ${service}:9080\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  const got = await raw(m.outbound('productpage-v1'), text);
  expect(got.toString('latin1')).toMatch(
    service === 'chunky'
      ? /^HTTP\/1\.1 200 OK\r\n(?=[\s\S]*\r\ntransfer-encoding: chunked\r\n)[\s\S]*\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n$/i
      : /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello$/
  );
  // the flow (and its metrics) is recorded when the response has ended: wait for the source sample to move
  let after = before;
  for (let i = 0; i < 200 && after.request === before.request; i++) {
    await new Promise((r) => setTimeout(r, 10));
    after = await sums('source');
  }
  return {
    sent: Buffer.byteLength(text),
    received: got.length,
    delta: { request: after.request - before.request, response: after.response - before.response }
  };
}

describe('request and response bytes are what crossed the wire with the caller', () => {
  it('on the fast lane: the request head and body received, the response head and body sent', async () => {
    const r = await measure(100);
    expect(r.delta).toEqual({ request: r.sent, response: r.received });
  });

  it(`on node:http (a body over ${MAX_FAST_BODY} bytes): the same`, async () => {
    const r = await measure(MAX_FAST_BODY + 1000);
    expect(r.delta).toEqual({ request: r.sent, response: r.received });
  });

  it('a chunked response is counted with its framing (chunk sizes, the last chunk), on both lanes', async () => {
    const fast = await measure(100, 'chunky');
    expect(fast.delta).toEqual({ request: fast.sent, response: fast.received });
    const slow = await measure(MAX_FAST_BODY + 1000, 'chunky');
    expect(slow.delta).toEqual({ request: slow.sent, response: slow.received });
  });

  it("the callee's sidecar counts the request its caller's sidecar sent, with the headers that one added", async () => {
    const src = await sums('source');
    const dst = await sums('destination');
    // x-request-id, x-forwarded-proto, x-envoy-attempt-count, peer metadata, traceparent: more bytes than the app sent
    expect(dst.request).toBeGreaterThan(src.request);
  });
});
