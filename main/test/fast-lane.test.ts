// The inbound sidecar's fast lane (sidecar/fast-lane.ts) for real: raw HTTP/1.1 bytes from a client without
// sidecar to the inbound port, an app on 127.0.0.1 behind it (node:http, or a raw TCP server where the test needs
// exact bytes). Which lane served a request is in the flow's decision trace ("(fast lane)").
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlowRecord } from '../contract/api.js';
import { deadPort, meshYaml, startMesh, until, type Running } from './helpers/harness.js';

const opened: { close(): unknown }[] = [];
let running: Running | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
  for (const o of opened.splice(0)) o.close();
});

/** An app; returns its port. */
async function app(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  opened.push({
    close: () => {
      server.closeAllConnections();
      server.close();
    }
  });
  return (server.address() as net.AddressInfo).port;
}

/** A raw TCP app that answers every request with `reply` bytes (then closes if `close`). */
async function rawApp(reply: string, close: boolean): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      requests.push(buf);
      buf = '';
      if (close) s.end(reply);
      else s.write(reply);
    });
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  opened.push(server);
  return { port: (server.address() as net.AddressInfo).port, requests };
}

async function mesh(appPort: number, opts: { fastLane?: boolean } = {}): Promise<number> {
  running = await startMesh(
    { meshYaml: meshYaml({ api: { workloads: [{ name: 'api-v1', instances: [`127.0.0.1:${appPort}`] }] } }) },
    opts
  );
  return running.inbound('api-v1');
}

/** Send bytes on one connection; resolve with everything received once `done(text)` holds or the server closed. */
function raw(port: number, send: (string | Buffer)[], done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      s.destroy();
      resolve(text);
    };
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (done(text)) finish();
    });
    s.on('close', finish);
    s.on('error', (e) => (settled ? undefined : reject(e)));
    s.on('connect', async () => {
      for (const piece of send) {
        s.write(piece);
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}

const count = (text: string, what: string) => text.split(what).length - 1;

/** The flows so far (at least n), oldest first, with bodies. */
async function flows(n: number): Promise<FlowRecord[]> {
  const m = running!.mesh;
  const list = await until(async () => {
    const l = await m.listFlows({ limit: 500 });
    return l.length >= n ? l : undefined;
  }, `${n} flows`);
  return Promise.all(list!.map((f) => m.getFlow({ id: f.id })));
}

/** Retry k of the inbound route's policy waited within the spec's back-off window, U(0, min(25·(2^k − 1), 250)) ms. */
function expectInboundBackoffs(f: FlowRecord): void {
  const waits = f.trace
    .map((t) => /^inbound retry (\d) of 2: .* \(after ([\d.]+) ms back-off\)$/.exec(t.detail))
    .filter((m) => m !== null)
    .map((m) => [Number(m[1]), Number(m[2])] as const);
  expect(waits.map(([k]) => k)).toEqual([1, 2]);
  for (const [k, w] of waits) {
    expect(w).toBeGreaterThanOrEqual(0);
    expect(w).toBeLessThan(25 * (2 ** k - 1));
  }
}

const lane = (f: FlowRecord) =>
  f.trace.find((t) => t.step === 'inbound')?.detail.endsWith('(fast lane)') ? 'fast' : 'node';

describe('inbound fast lane', () => {
  it('serves pipelined requests in order, with bodies and HEAD, adding the headers node:http did', async () => {
    const seen: { method: string; url: string; body: string; headers: http.IncomingHttpHeaders }[] = [];
    const port = await mesh(
      await app((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          seen.push({ method: req.method!, url: req.url!, body, headers: req.headers });
          res.setHeader('content-type', 'text/plain');
          res.setHeader('x-app', ['a', 'b']);
          res.end(`${req.method} ${req.url} ${body}`);
        });
      })
    );
    const text = await raw(
      port,
      [
        'GET /one HTTP/1.1\r\nHost: api\r\nx-request-id: rid-1\r\n\r\nPOST /two HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\n\r\nhelloHEAD /three HTTP/1.1\r\nHost: api\r\n\r\n'
      ],
      (t) => count(t, 'HTTP/1.1 200 OK') === 3 && t.endsWith('\r\n\r\n')
    );
    const responses = text.split(/(?=HTTP\/1\.1 200 OK)/);
    expect(responses).toHaveLength(3);
    expect(responses[0]).toMatch(/\r\n\r\nGET \/one $/);
    expect(responses[1]).toMatch(/\r\n\r\nPOST \/two hello$/);
    expect(responses[2]).toMatch(/\r\n\r\n$/); // HEAD: no body
    for (const r of responses) {
      expect(r).toMatch(/\r\nserver: istio-envoy\r\n/);
      expect(r).toMatch(/\r\nx-envoy-upstream-service-time: \d+\r\n/);
      // a header Envoy does not keep inline goes on a line per field, as the app sent it (h1.ts addResponseField)
      expect(r).toMatch(/\r\nx-app: a\r\nx-app: b\r\n/);
      expect(r).toMatch(/\r\ndate: /);
    }
    expect(seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['GET', '/one', ''],
      ['POST', '/two', 'hello'],
      ['HEAD', '/three', '']
    ]);
    expect(seen[0]!.headers).toMatchObject({
      host: 'api',
      'x-request-id': 'rid-1',
      'x-forwarded-proto': 'http',
      traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    });
    expect(seen[1]!.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);

    const fs = await flows(3);
    expect(fs.map((f) => [f.method, f.path, f.status, f.reporter, lane(f)])).toEqual([
      ['GET', '/one', 200, 'destination', 'fast'],
      ['POST', '/two', 200, 'destination', 'fast'],
      ['HEAD', '/three', 200, 'destination', 'fast']
    ]);
    expect(fs[1]!.requestBody).toMatchObject({ data: 'hello', size: 5 });
    expect(fs[1]!.responseBody).toMatchObject({ data: 'POST /two hello' });
    expect(fs[0]!.requestId).toBe('rid-1');
    expect(fs[1]!.timings!.responseStart).not.toBeNull();
  });

  it('forwards a chunked response as chunks and captures it decoded', async () => {
    const port = await mesh(
      await app((_req, res) => {
        res.write('first,');
        setImmediate(() => res.end('second'));
      })
    );
    const text = await raw(port, ['GET /c HTTP/1.1\r\nHost: api\r\n\r\n'], (t) => t.endsWith('0\r\n\r\n'));
    expect(text).toMatch(/\r\ntransfer-encoding: chunked\r\n/);
    expect(text).toMatch(/\r\n\r\n6\r\nfirst,\r\n6\r\nsecond\r\n0\r\n\r\n$/);
    const [f] = await flows(1);
    expect([f!.responseBody?.data, lane(f!)]).toEqual(['first,second', 'fast']);
  });

  it('a response that ends with its connection reaches the client chunked, on a connection that stays open', async () => {
    const a = await rawApp('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close', true);
    const port = await mesh(a.port);
    const text = await raw(
      port,
      ['GET /1 HTTP/1.1\r\nHost: api\r\n\r\n', 'GET /2 HTTP/1.1\r\nHost: api\r\n\r\n'],
      (t) => count(t, '0\r\n\r\n') === 2
    );
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(2);
    expect(text).toContain('\r\n\r\nb\r\nuntil close\r\n0\r\n\r\n');
    const fs = await flows(2);
    expect(fs.map((f) => [f.status, f.responseBody?.data, f.flags])).toEqual([
      [200, 'until close', '-'],
      [200, 'until close', '-']
    ]);
  });

  it("answers 503 UF,URX with Envoy's body after the inbound retries when the app refuses connections", async () => {
    const port = await mesh(await deadPort());
    const text = await raw(port, ['GET /x HTTP/1.1\r\nHost: api\r\n\r\n'], (t) => t.includes('Connection refused'));
    expect(text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(text).toMatch(/\r\ncontent-type: text\/plain\r\ncontent-length: \d+\r\nserver: istio-envoy\r\n/);
    expect(text).toMatch(
      /\r\n\r\nupstream connect error or disconnect\/reset before headers\. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused$/
    );
    const [f] = await flows(1);
    expect([f!.status, f!.flags, f!.attempts, lane(f!)]).toEqual([503, 'UF,URX', 3, 'fast']);
    expectInboundBackoffs(f!);
  });

  it('node:http: the same inbound retries, with the same back-off', async () => {
    const port = await mesh(await deadPort(), { fastLane: false });
    const text = await raw(port, ['GET /x HTTP/1.1\r\nHost: api\r\n\r\n'], (t) => t.includes('Connection refused'));
    expect(text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    const [f] = await flows(1);
    expect([f!.status, f!.flags, f!.attempts, lane(f!)]).toEqual([503, 'UF,URX', 3, 'node']);
    expectInboundBackoffs(f!);
  });

  it('a request the app reads and then drops the connection on is delivered once: 503 UC, never sent again', async () => {
    // the app answers the first request of each connection and drops the connection at the second, unanswered. The
    // sidecar cannot tell that from a keep-alive connection closed just as the request went out (the app may have
    // acted on it), so, as Envoy, it reports the reset rather than sending the request a second time
    const arrivals: string[] = [];
    let conns = 0;
    const server = net.createServer((s) => {
      const id = ++conns;
      let n = 0;
      s.on('data', (d) => {
        const path = /^GET (\S+)/.exec(d.toString('latin1'))?.[1];
        arrivals.push(`conn ${id}: ${path}`);
        if (++n === 1) s.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfine');
        else s.destroy();
      });
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    opened.push(server);
    const port = await mesh((server.address() as net.AddressInfo).port);
    const a = await raw(port, ['GET /a HTTP/1.1\r\nHost: api\r\n\r\n'], (t) => t.endsWith('fine'));
    expect(a).toMatch(/^HTTP\/1\.1 200 OK/);
    const b = await raw(port, ['GET /b HTTP/1.1\r\nHost: api\r\n\r\n'], (t) => t.includes('termination'));
    expect(b).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(b).toMatch(
      /\r\n\r\nupstream connect error or disconnect\/reset before headers\. reset reason: connection termination$/
    );
    expect(arrivals).toEqual(['conn 1: /a', 'conn 1: /b']);
    const fs = await flows(2);
    expect(fs.map((f) => [f.path, f.status, f.flags, f.attempts])).toEqual([
      ['/a', 200, '-', 1],
      ['/b', 503, 'UC', 1]
    ]);
  });

  it('hands what it does not take to node:http, which serves the rest of the connection', async () => {
    const seen: string[] = [];
    const port = await mesh(
      await app((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          seen.push(`${req.method} ${req.url} ${body}`);
          res.end('done');
        });
      })
    );
    // fast, then a chunked request body (node:http), then a plain one (still node:http on this connection)
    const text = await raw(
      port,
      [
        'GET /fast HTTP/1.1\r\nHost: api\r\n\r\n',
        'POST /chunked HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        'GET /after HTTP/1.1\r\nHost: api\r\n\r\n'
      ],
      (t) => count(t, 'done') === 3
    );
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(3);
    expect(seen).toEqual(['GET /fast ', 'POST /chunked abc', 'GET /after ']);
    const fs = await flows(3);
    expect(fs.map((f) => [f.path, lane(f)])).toEqual([
      ['/fast', 'fast'],
      ['/chunked', 'node'],
      ['/after', 'node']
    ]);
    expect(fs[1]!.requestBody?.data).toBe('abc');

    // HTTP/1.0 (on this detected port a byte stream: the app answers) and a malformed request (node:http: 400)
    const old = await raw(port, ['GET /old HTTP/1.0\r\nHost: api\r\n\r\n'], (t) => t.endsWith('done'));
    expect(old).toMatch(/^HTTP\/1\.1 200 OK/);
    const bad = await raw(port, ['GET / HTTP/1.1\r\nHost: api\r\nBad Header\r\n\r\n'], () => false);
    // as Envoy's HTTP/1 codec answers it: the reason as a text/plain body, and the connection closed
    expect(bad).toMatch(
      /^HTTP\/1\.1 400 Bad Request\r\ncontent-type: text\/plain\r\ncontent-length: 11\r\nserver: istio-envoy\r\ndate: .+ GMT\r\nconnection: close\r\n\r\nBad Request$/
    );
  });

  it('a client that leaves mid-response: the flow is DC and the app connection is dropped', async () => {
    let appSock: net.Socket | undefined;
    const port = await mesh(
      await app((req, res) => {
        appSock = req.socket;
        res.write('partial');
      })
    );
    await raw(port, ['GET /slow HTTP/1.1\r\nHost: api\r\n\r\n'], (t) => t.includes('partial'));
    const [f] = await flows(1);
    expect([f!.status, f!.flags]).toEqual([200, 'DC']);
    await until(() => appSock?.destroyed, 'the app connection to close');
  });

  for (const fastLane of [true, false]) {
    it(`a caller that leaves before its body is all sent: a DC flow, status 0 (${fastLane ? 'fast lane' : 'node:http'})`, async () => {
      const port = await mesh(
        await app((req, res) => {
          req.resume();
          req.on('end', () => res.end('whole'));
        }),
        { fastLane }
      );
      // the head and ten of its hundred body bytes, then the caller goes away
      const s = net.connect(port, '127.0.0.1');
      await new Promise((r) => s.on('connect', r));
      s.write('POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: 100\r\n\r\nonly ten b');
      await new Promise((r) => setTimeout(r, 50));
      s.destroy();
      const [f] = await flows(1);
      expect([f!.status, f!.flags, f!.path, f!.method]).toEqual([0, 'DC', '/upload', 'POST']);
      expect(f!.requestBody).toMatchObject({ size: 100, truncated: true });
      const metrics = (await running!.mesh.metrics()).text;
      expect(metrics).toMatch(
        /istio_requests_total\{reporter="destination"[^}]*response_code="0"[^}]*response_flags="DC"[^}]*\} 1/
      );
    });
  }

  it('large responses to clients at once, one of them slow to read, arrive byte for byte and are captured so', async () => {
    // the app's bytes reach the sidecar through one read buffer shared by its plaintext connections (READ_BUFFER in
    // fast-lane.ts): a read kept by reference past the next one would mix responses or garble the captured bodies
    const size = 3 * 1024 * 1024;
    const pattern = (k: number) => {
      const b = Buffer.allocUnsafe(size);
      for (let i = 0; i < size; i++) b[i] = (i * 7 + k * 13 + (i >> 12)) & 0xff;
      return b;
    };
    const bodies = [pattern(1), pattern(2), pattern(3)];
    const port = await mesh(
      await app((req, res) => {
        const k = Number(req.url!.slice(1));
        if (k === 3)
          res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked
        else res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
        res.end(bodies[k - 1]);
      })
    );
    const get = (k: number, slow: boolean) =>
      new Promise<Buffer>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: `/${k}`, headers: { host: 'api' } }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => {
              parts.push(d);
              if (slow && parts.length % 8 === 1) {
                res.pause();
                setTimeout(() => res.resume(), 20);
              }
            });
            res.on('end', () => resolve(Buffer.concat(parts)));
            res.on('error', reject);
          })
          .on('error', reject);
      });
    const got = await Promise.all([get(1, true), get(2, false), get(3, true)]);
    got.forEach((b, i) => expect(b.equals(bodies[i]!), `response ${i + 1}`).toBe(true));
    const fs = await flows(3);
    const kept = Object.fromEntries(
      fs.map((f) => [f.path, [f.responseBody?.truncated, Buffer.from(f.responseBody!.data, 'base64')]])
    );
    for (const k of [1, 2, 3]) {
      const [truncated, data] = kept[`/${k}`] as [boolean, Buffer];
      expect(truncated).toBe(true);
      expect(data.length).toBe(1024 * 1024);
      expect(data.equals(bodies[k - 1]!.subarray(0, data.length)), `captured body ${k}`).toBe(true);
    }
    expect(fs.map(lane)).toEqual(['fast', 'fast', 'fast']);
  });

  it('fastLane: false (LOCALMESH_FAST_LANE=0) keeps every request on node:http', async () => {
    const port = await mesh(await app((_req, res) => res.end('plain')), { fastLane: false });
    const text = await raw(port, ['GET /n HTTP/1.1\r\nHost: api\r\n\r\n'], (t) => t.endsWith('plain'));
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const [f] = await flows(1);
    expect(lane(f!)).toBe('node');
  });

  it('node:http writes as Envoy does: no connection header on a persistent connection, to the caller or the app', async () => {
    const heads: (string | undefined)[] = [];
    const port = await mesh(
      await app((req, res) => {
        heads.push(req.headers.connection);
        req.resume();
        req.on('end', () => res.end('done'));
      }),
      { fastLane: false }
    );
    const text = await raw(
      port,
      [
        'POST /a HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        'GET /b HTTP/1.1\r\nHost: api\r\n\r\n'
      ],
      (t) => count(t, 'done') === 2
    );
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(2);
    expect(text.toLowerCase()).not.toContain('connection:');
    expect(heads).toEqual([undefined, undefined]);
    // a response that ends the connection still says so
    const last = await raw(port, ['GET /c HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n'], () => false);
    expect(last).toMatch(/\r\nconnection: close\r\n/i);
  });

  it("status lines carry Envoy's reason phrases, whatever the app sent, on both lanes", async () => {
    const app1 = await app((req, res) => {
      const status = Number(req.url!.slice(1));
      res.writeHead(status, 'Made Up', { 'content-length': '2' });
      res.end('ok');
    });
    for (const fastLane of [true, false]) {
      await running?.close();
      const port = await mesh(app1, { fastLane });
      const lines: string[] = [];
      for (const status of [201, 418, 451, 555]) {
        const text = await raw(port, [`GET /${status} HTTP/1.1\r\nHost: api\r\n\r\n`], (t) => t.endsWith('ok'));
        lines.push(text.slice(0, text.indexOf('\r\n')));
      }
      expect(lines).toEqual([
        'HTTP/1.1 201 Created',
        'HTTP/1.1 418 Unknown',
        'HTTP/1.1 451 Unknown',
        'HTTP/1.1 555 Unknown'
      ]);
    }
  });

  it('connection: close from the client closes after the response', async () => {
    const port = await mesh(await app((_req, res) => res.end('bye')));
    const text = await raw(port, ['GET / HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n'], () => false);
    expect(text).toMatch(/\r\nconnection: close\r\n\r\nbye$/);
  });
});

describe('outbound fast lane (two hops, mutual TLS between the sidecars)', () => {
  async function twoHops(appPort: number, istio: Record<string, string> = {}): Promise<number> {
    running = await startMesh({
      meshYaml: meshYaml({
        client: { workloads: [{ name: 'client-v1', instances: ['127.0.0.1:1'] }] },
        api: { workloads: [{ name: 'api-v1', instances: [`127.0.0.1:${appPort}`] }] }
      }),
      istio
    });
    return running.outbound('client-v1');
  }

  it('a chunked response crosses both sidecars as chunks, captured decoded by both; absolute-form targets', async () => {
    const port = await twoHops(
      await app((_req, res) => {
        res.write('alpha,');
        setImmediate(() => res.end('beta'));
      })
    );
    const text = await raw(port, ['GET http://api:9080/stream HTTP/1.1\r\nHost: api:9080\r\n\r\n'], (t) =>
      t.endsWith('0\r\n\r\n')
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/\r\ntransfer-encoding: chunked\r\n/);
    expect(text).toMatch(/\r\nserver: envoy\r\n/);
    expect(text).toMatch(/\r\n\r\n6\r\nalpha,\r\n4\r\nbeta\r\n0\r\n\r\n$/);
    const fs = await flows(2);
    expect(fs.map((f) => [f.reporter, f.status, f.responseBody?.data, f.connectionSecurity])).toEqual([
      ['destination', 200, 'alpha,beta', 'mutual_tls'],
      ['source', 200, 'alpha,beta', 'mutual_tls']
    ]);
    // both sidecars say which lane served the call: the inbound in its inbound step, the outbound in its endpoint step
    expect(lane(fs[0]!)).toBe('fast');
    expect(fs[1]!.trace.find((t) => t.step === 'endpoint')?.detail).toMatch(/\(fast lane\)$/);
  });

  it('retries a retriable status on a fresh try, discarding the first response', async () => {
    let n = 0;
    const port = await twoHops(
      await app((_req, res) => {
        n++;
        res.statusCode = n === 1 ? 503 : 200;
        res.end(n === 1 ? 'busy' : 'ok');
      }),
      {
        'vs.yaml':
          'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: api}\nspec:\n  hosts: [api]\n  http:\n  - route: [{destination: {host: api}}]\n    retries: {attempts: 2, retryOn: "503"}\n'
      }
    );
    const text = await raw(port, ['GET http://api:9080/r HTTP/1.1\r\nHost: api:9080\r\n\r\n'], (t) => t.endsWith('ok'));
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const fs = await flows(3);
    const source = fs.find((f) => f.reporter === 'source')!;
    expect([source.status, source.attempts, source.attemptLog.map((a) => a.status), source.flags]).toEqual([
      200,
      2,
      [503, 200],
      '-'
    ]);
  });

  it("a caller that leaves before its body is all sent: DC status 0 on the caller's flow, its service resolved, nothing sent on", async () => {
    let reached = 0;
    const port = await twoHops(
      await app((req, res) => {
        reached++;
        req.resume();
        req.on('end', () => res.end('whole'));
      })
    );
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.on('connect', r));
    s.write('POST http://api:9080/upload HTTP/1.1\r\nHost: api:9080\r\nContent-Length: 100\r\n\r\nonly ten b');
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
    const source = await until(async () => (await flows(1)).find((f) => f.reporter === 'source'), 'the source flow');
    expect([source!.status, source!.flags, source!.destinationService]).toEqual([
      0,
      'DC',
      'api.default.svc.cluster.local'
    ]);
    expect(source!.requestBody).toMatchObject({ size: 100, truncated: true });
    const metrics = (await running!.mesh.metrics()).text;
    expect(metrics).toMatch(
      /istio_requests_total\{reporter="source"[^}]*destination_service="api\.default\.svc\.cluster\.local"[^}]*response_code="0"[^}]*response_flags="DC"[^}]*\} 1/
    );
    expect(reached).toBe(0);
  });

  it("a client that leaves mid-response: DC on the caller's flow, and the cut reaches the app", async () => {
    let appSock: net.Socket | undefined;
    const port = await twoHops(
      await app((req, res) => {
        appSock = req.socket;
        res.write('started');
      })
    );
    const text = await raw(port, ['GET http://api:9080/slow HTTP/1.1\r\nHost: api:9080\r\n\r\n'], (t) =>
      t.includes('started')
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const source = await until(async () => (await flows(1)).find((f) => f.reporter === 'source'), 'the source flow');
    expect([source!.status, source!.flags]).toEqual([200, 'DC']);
    await until(() => appSock?.destroyed, 'the app connection to close');
  });
});
