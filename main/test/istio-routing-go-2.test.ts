/**
 * Integration: cases of Istio's pilot integration test tests/integration/pilot/common/routing.go (the later half:
 * protocol sniffing, HTTP/1.0, …) against real sidecars on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { meshYaml, startMesh, stub, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, web: Stub, auto: Stub;
let m: Running;

beforeAll(async () => {
  [caller, web, auto] = await Promise.all([stub('caller'), stub('web'), stub('auto')]);
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      web: { protocol: 'http', workloads: [{ name: 'web-v1', instances: [web.address] }] },
      auto: { protocol: 'auto', workloads: [{ name: 'auto-v1', instances: [auto.address] }] }
    })
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, web, auto].map((s) => s.close()));
});

/** Write `chunks` on one connection (the next when `done` says the answers so far are in) and read until it closes. */
function raw(port: number, chunks: string[], done = (_text: string, _sent: number) => false): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let text = '';
    let sent = 0;
    const next = () => {
      if (sent < chunks.length) c.write(chunks[sent++]!);
      else c.end();
    };
    c.on('connect', next);
    c.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text, sent)) next();
    });
    c.on('close', () => resolve(text));
    c.on('error', reject);
  });
}

const UPGRADE_REQUIRED = (server: string) =>
  new RegExp(
    `^HTTP/1\\.1 426 Upgrade Required\\r\\ncontent-type: text/plain\\r\\ncontent-length: 16\\r\\nserver: ${server}\\r\\ndate: .+ GMT\\r\\nconnection: close\\r\\n\\r\\nUpgrade Required$`
  );

describe('HTTP/1.0 (routing.go protocolSniffingCases "http10 to http" / "http10 to auto")', () => {
  it('to a port declared HTTP: the client sidecar answers 426 Upgrade Required and the app sees nothing', async () => {
    const before = web.seen.length;
    const text = await raw(m.upstream('caller-v1', 'web'), ['GET / HTTP/1.0\r\n\r\n']);
    expect(text).toMatch(UPGRADE_REQUIRED('envoy'));
    expect(web.seen.length).toBe(before);
  });

  it('through the outbound proxy port to a service declared HTTP: the same 426, recorded, and the connection closes', async () => {
    const before = web.seen.length;
    for (const req of [
      'GET http://web:9080/old HTTP/1.0\r\nx-request-id: http10-proxy\r\n\r\n',
      'GET /old HTTP/1.0\r\nHost: web.default.svc.cluster.local:9080\r\nx-request-id: http10-host\r\n\r\n'
    ]) {
      const text = await raw(m.outbound('caller-v1'), [req]);
      expect(text).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
      expect(text).toMatch(/\r\nconnection: close\r\n/i);
      expect(text).toMatch(/\r\n\r\nUpgrade Required$/);
    }
    expect(web.seen.length).toBe(before);
    const flows = await m.mesh.listFlows({ limit: 2, reporter: 'source' });
    expect(flows.map((f) => f.status)).toEqual([426, 426]);
    // a service left to detection is still served as HTTP on this port (there is no byte stream to hand over)
    expect(await raw(m.outbound('caller-v1'), ['GET http://auto:9080/p HTTP/1.0\r\n\r\n'])).toMatch(
      /^HTTP\/1\.1 200 OK/
    );
  });

  it('to a port left to detection: a byte stream, so the app answers the request itself', async () => {
    const text = await raw(m.upstream('caller-v1', 'auto'), ['GET /old HTTP/1.0\r\n\r\n']);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).not.toMatch(/x-envoy-upstream-service-time|server: envoy/i);
    // the app got the request as sent: no headers of the sidecars
    expect(auto.seen.at(-1)!.url).toBe('/old');
    expect(auto.seen.at(-1)!.headers['x-request-id']).toBeUndefined();
  });

  it('from a caller without a sidecar: 426 from a port declared HTTP, the app itself on a detected port', async () => {
    expect(await raw(m.inbound('web-v1'), ['GET / HTTP/1.0\r\n\r\n'])).toMatch(UPGRADE_REQUIRED('istio-envoy'));
    const text = await raw(m.inbound('auto-v1'), ['GET /in HTTP/1.0\r\n\r\n']);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).not.toMatch(/server: istio-envoy/i);
    expect(auto.seen.at(-1)!.url).toBe('/in');
  });

  it("Envoy counts the codec's 426 with flag DPE: istio_requests_total at the client and at the server sidecar", async () => {
    const samples = async (reporter: string) =>
      (await m.mesh.metrics()).text
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('istio_requests_total{') &&
            l.includes(`reporter="${reporter}"`) &&
            l.includes('response_code="426"')
        );
    const count = async (reporter: string) =>
      (await samples(reporter)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    const [source, destination] = [await count('source'), await count('destination')];
    expect(await raw(m.upstream('caller-v1', 'web'), ['GET / HTTP/1.0\r\n\r\n'])).toMatch(UPGRADE_REQUIRED('envoy'));
    expect(await raw(m.inbound('web-v1'), ['GET / HTTP/1.0\r\n\r\n'])).toMatch(UPGRADE_REQUIRED('istio-envoy'));
    expect(await count('source')).toBe(source + 1);
    expect(await count('destination')).toBe(destination + 1);
    // the codec refused the request before its headers reached a filter: no route, no service named at the source
    const at = await samples('source');
    expect(at.every((l) => l.includes('response_flags="DPE"'))).toBe(true);
    expect(
      at.some((l) => l.includes('source_workload="caller-v1"') && l.includes('destination_service="unknown"'))
    ).toBe(true);
    expect((await samples('destination')).some((l) => l.includes('destination_workload="web-v1"'))).toBe(true);
    // through the proxy port node:http read the request first: its flow records the reply with DPE
    const flows = await m.mesh.listFlows({ limit: 50, reporter: 'source' });
    expect(flows.filter((f) => f.status === 426).every((f) => f.flags === 'DPE')).toBe(true);
  });

  it('HTTP/1.1 on a port declared HTTP is routed as before, keep-alive included', async () => {
    const answers = (t: string) => t.split('HTTP/1.1 200 OK').length - 1;
    for (const port of [m.upstream('caller-v1', 'web'), m.inbound('web-v1')]) {
      const text = await raw(
        port,
        ['GET /a HTTP/1.1\r\nHost: web:9080\r\n\r\n', 'GET /b HTTP/1.1\r\nHost: web:9080\r\n\r\n'],
        (t, sent) => answers(t) === sent && t.endsWith('"}')
      );
      expect(answers(text)).toBe(2);
      expect(web.seen.slice(-2).map((s) => s.url)).toEqual(['/a', '/b']);
    }
  });
});

describe('a server-first TCP service (routing.go serverFirstTestCases)', () => {
  let app: net.Server;
  let client: Stub;
  let sf: Running;
  beforeAll(async () => {
    client = await stub('client');
    app = net.createServer((s) => {
      s.on('error', () => s.destroy());
      s.write('220 ready\r\n');
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    sf = await startMesh({
      meshYaml: meshYaml({
        client: { workloads: [{ name: 'client-v1', instances: [client.address] }] },
        db: {
          protocol: 'tcp',
          workloads: [{ name: 'db-v1', instances: [`127.0.0.1:${(app.address() as net.AddressInfo).port}`] }]
        }
      }),
      istio: {
        'db.yaml': `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  trafficPolicy: {tls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  mtls: {mode: DISABLE}
`
      }
    });
  });
  afterAll(async () => {
    await sf.close();
    await client.close();
    await new Promise((r) => app.close(r));
  });

  /** The first line the server sends, without the client sending anything ('' if none within a second). */
  const greeting = (port: number) =>
    new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      let text = '';
      const done = () => {
        c.destroy();
        resolve(text);
      };
      const timer = setTimeout(done, 1000);
      c.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (text.includes('\n')) {
          clearTimeout(timer);
          done();
        }
      });
      c.on('error', done);
    });

  it('TLS DISABLE on both sides: no detection anywhere, so the greeting comes through at once', async () => {
    expect(await greeting(sf.upstream('client-v1', 'db'))).toBe('220 ready\r\n');
    // a caller without a sidecar, straight to the inbound sidecar
    expect(await greeting(sf.inbound('db-v1'))).toBe('220 ready\r\n');
  });
});

describe('the Host the app gets through a dedicated upstream port (routing.go hostCases, protocolSniffingCases)', () => {
  it("a Host naming the service, in any form and with any port, goes on as sent; the port's own Host becomes the service's", async () => {
    const port = m.upstream('caller-v1', 'web');
    for (const host of ['web.default.svc.cluster.local', 'web.default.svc:12345', 'web:9080', 'web']) {
      const r = await raw(port, [`GET /h HTTP/1.1\r\nHost: ${host}\r\nconnection: close\r\n\r\n`]);
      expect(r).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(web.seen.at(-1)!.headers.host).toBe(host);
    }
    await raw(port, [`GET /h HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`]);
    expect(web.seen.at(-1)!.headers.host).toBe('web:9080');
  });
});
