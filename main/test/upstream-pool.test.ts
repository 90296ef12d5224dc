/**
 * The fast lane's upstream pool (issue 7): a TLS pool runs at most MAX_TLS_CONNECTING handshakes at once and lets
 * further calls wait for the first connection that frees up or connects; a plaintext pool opens one connection per
 * waiting call. Real TLS (mesh CA certificates) and real sockets on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { MeshCa } from '../engine/tls/ca.js';
import { MAX_TLS_CONNECTING, UpstreamPool, type UpstreamCall } from '../engine/sidecar/fast-lane.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-pool-'));
let tlsServer: tls.Server;
let plainServer: net.Server;
let clientTls: tls.ConnectionOptions;
const seen = { tls: 0, plain: 0, resumedPeers: [] as string[] };

/** Answers every request head it reads with 200 "ok" on the same connection (keep-alive). */
function answer(sock: net.Socket): void {
  let buf = '';
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    let i: number;
    while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
      buf = buf.slice(i + 4);
      sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    }
  });
  sock.on('error', () => sock.destroy());
}

beforeAll(async () => {
  const ca = await MeshCa.create(dir, 'ec');
  const server = await ca.issue('spiffe://cluster.local/ns/default/sa/server');
  const client = await ca.issue('spiffe://cluster.local/ns/default/sa/client');
  tlsServer = tls.createServer(
    { key: server.key, cert: server.cert, ca: ca.root.cert, requestCert: true, rejectUnauthorized: true },
    (s) => {
      seen.tls++;
      if (s.isSessionReused()) seen.resumedPeers.push(String(s.getPeerCertificate().subjectaltname));
      answer(s);
    }
  );
  plainServer = net.createServer((s) => {
    seen.plain++;
    answer(s);
  });
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => plainServer.listen(0, '127.0.0.1', r));
  clientTls = {
    key: client.key,
    cert: client.cert,
    ca: ca.root.cert,
    servername: 'server',
    checkServerIdentity: () => undefined
  };
});
afterAll(() => {
  tlsServer.close();
  plainServer.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

interface Outcome {
  status?: number;
  failed?: string;
}

/** A GET through the pool; resolves with the status, or with the reason the try failed. */
function call(pool: UpstreamPool): { c: UpstreamCall; done: Promise<Outcome> } {
  let resolve!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolve = r));
  let status = 0;
  const c: UpstreamCall = {
    head: 'GET / HTTP/1.1\r\nhost: upstream\r\n\r\n',
    body: null,
    isHead: false,
    connected: () => undefined,
    response: (h) => (status = h.status),
    forward: () => true,
    capture: () => undefined,
    flush: () => undefined,
    drained: (resume) => resume(),
    end: () => resolve({ status }),
    failed: (reason) => resolve({ failed: reason }),
    broken: () => resolve({ failed: 'broken' })
  };
  pool.send(c);
  return { c, done };
}

describe('upstream pool', () => {
  it(`a TLS pool runs at most ${MAX_TLS_CONNECTING} handshakes at once; the other calls wait and all succeed`, async () => {
    const pool = new UpstreamPool('127.0.0.1', portOf(tlsServer), () => 5000, clientTls);
    const before = seen.tls;
    const calls = Array.from({ length: 20 }, () => call(pool));
    // connecting is asynchronous: right after sending, the first calls each opened a connection and the rest wait
    expect(pool.waitingCalls).toBe(20 - MAX_TLS_CONNECTING);
    const out = await Promise.all(calls.map((x) => x.done));
    expect(out).toEqual(Array.from({ length: 20 }, () => ({ status: 200 })));
    expect(pool.maxConnecting).toBe(MAX_TLS_CONNECTING);
    expect(pool.waitingCalls).toBe(0);
    expect(seen.tls - before).toBeGreaterThanOrEqual(MAX_TLS_CONNECTING);
    expect(seen.tls - before).toBeLessThanOrEqual(20);
    // idle connections are reused: another burst of four opens none
    const again = seen.tls;
    expect(await Promise.all(Array.from({ length: 4 }, () => call(pool).done))).toEqual(
      Array.from({ length: 4 }, () => ({ status: 200 }))
    );
    expect(seen.tls).toBe(again);
    pool.close();
  });

  it('a waiting call that is cancelled leaves the queue and is never sent', async () => {
    const pool = new UpstreamPool('127.0.0.1', portOf(tlsServer), () => 5000, clientTls);
    const first = Array.from({ length: MAX_TLS_CONNECTING }, () => call(pool));
    const late = call(pool);
    expect(pool.waitingCalls).toBe(1);
    const waitingHandle = late.c.on;
    late.c.on!.cancel();
    expect(pool.waitingCalls).toBe(0);
    expect((await Promise.all(first.map((x) => x.done))).every((o) => o.status === 200)).toBe(true);
    // every connection was released by now: had the call still waited, one of them would have taken it
    expect(late.c.on).toBe(waitingHandle);
    pool.close();
  });

  it('calls waiting behind handshakes that fail each fail in turn, none hangs', async () => {
    // a port nothing listens on: every connection is refused
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = portOf(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    const pool = new UpstreamPool('127.0.0.1', port, () => 5000, clientTls);
    const calls = Array.from({ length: MAX_TLS_CONNECTING + 3 }, () => call(pool));
    expect(pool.waitingCalls).toBe(3);
    const out = await Promise.all(calls.map((x) => x.done));
    expect(out.map((o) => o.failed)).toEqual(calls.map(() => 'connect-refused'));
    expect(pool.maxConnecting).toBe(MAX_TLS_CONNECTING);
    pool.close();
  });

  it('new TLS connections resume the session the server gave the pool; the server still sees the client identity', async () => {
    const pool = new UpstreamPool('127.0.0.1', portOf(tlsServer), () => 5000, clientTls);
    expect((await call(pool).done).status).toBe(200);
    expect(pool.resumed).toBe(0);
    const before = seen.resumedPeers.length;
    // one idle connection and four calls at once: three new connections, each resuming the first one's session
    const out = await Promise.all(Array.from({ length: 4 }, () => call(pool).done));
    expect(out.every((o) => o.status === 200)).toBe(true);
    expect(pool.resumed).toBe(3);
    expect(seen.resumedPeers.slice(before)).toEqual(
      Array.from({ length: 3 }, () => 'URI:spiffe://cluster.local/ns/default/sa/client')
    );
    pool.close();
  });

  it('a plaintext pool opens one connection per call that finds none idle (no waiting)', async () => {
    const pool = new UpstreamPool('127.0.0.1', portOf(plainServer), () => 5000);
    const before = seen.plain;
    const calls = Array.from({ length: 10 }, () => call(pool));
    expect(pool.waitingCalls).toBe(0);
    expect((await Promise.all(calls.map((x) => x.done))).every((o) => o.status === 200)).toBe(true);
    expect(pool.maxConnecting).toBe(10);
    expect(seen.plain - before).toBe(10);
    pool.close();
  });

  it('a plaintext pool reuses an idle connection within its idle limit and opens a new one past it; TLS keeps its own', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const plain = new UpstreamPool('127.0.0.1', portOf(plainServer), () => 5000, undefined, 200);
    const before = seen.plain;
    expect(await call(plain).done).toEqual({ status: 200 });
    expect(await call(plain).done).toEqual({ status: 200 });
    expect(seen.plain - before).toBe(1); // reused at once
    await sleep(300);
    expect(await call(plain).done).toEqual({ status: 200 });
    expect(seen.plain - before).toBe(2); // idle past the limit: closed, a new connection instead
    plain.close();
    // a mutual TLS pool has no idle limit by default (its peer is a localmesh sidecar, which keeps connections)
    const secure = new UpstreamPool('127.0.0.1', portOf(tlsServer), () => 5000, clientTls);
    const tlsBefore = seen.tls;
    expect(await call(secure).done).toEqual({ status: 200 });
    await sleep(300);
    expect(await call(secure).done).toEqual({ status: 200 });
    expect(seen.tls - tlsBefore).toBe(1);
    secure.close();
  });
});
