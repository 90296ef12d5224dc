/**
 * Integration: how long an upstream connection lives (istio-semantics §1.3 connectionPool; Istio's applyConnectionPool
 * sets the cluster's HTTP protocol options): `http.maxRequestsPerConnection` (1 disables keep-alive: one request per
 * upstream connection), `http.idleTimeout` (else `tcp.idleTimeout`) closes a connection idle that long, and
 * `tcp.maxConnectionDuration` closes a connection that old once its request ends; for TCP services `tcp.idleTimeout`
 * is the tcp_proxy's idle timeout. Outbound clusters (a DestinationRule; apps without a sidecar, so the app sees the
 * caller sidecar's connections) and the inbound cluster (a Sidecar's inboundConnectionPool), on the fast lane and on
 * node:http (`fastLane: false`). Real sockets; each app records its connections by the caller's port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { meshYaml, request, startMesh, until, viaProxy, type Running } from './helpers/harness.js';

interface Conn {
  port: number;
  open: boolean;
  requests: number;
}

interface App {
  address: string;
  conns: Conn[];
  close(): Promise<void>;
}

/** An HTTP app that records each connection it accepts; `?wait=ms` holds the answer that long. */
async function app(): Promise<App> {
  const conns: Conn[] = [];
  const server = http.createServer((req, res) => {
    const c = conns.find((x) => x.port === req.socket.remotePort);
    if (c) c.requests++;
    const wait = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('wait') ?? 0);
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    }, wait);
  });
  server.keepAliveTimeout = 60_000; // only the sidecar closes connections here
  server.on('connection', (s: net.Socket) => {
    const c: Conn = { port: s.remotePort!, open: true, requests: 0 };
    conns.push(c);
    s.on('close', () => (c.open = false));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    conns,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      })
  };
}

/** A TCP echo app that records whether its connections are open. */
async function echo(): Promise<{ address: string; conns: Conn[]; server: net.Server }> {
  const conns: Conn[] = [];
  const server = net.createServer((s) => {
    const c: Conn = { port: s.remotePort!, open: true, requests: 0 };
    conns.push(c);
    s.on('data', (d: Buffer) => s.write(d));
    s.on('error', () => s.destroy());
    s.on('close', () => (c.open = false));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, conns, server };
}

const dr = (name: string, pool: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}}
spec:
  host: ${name}
  trafficPolicy:
    connectionPool: ${pool}
---
`;

const HTTP_APPS = ['once', 'twice', 'plain', 'idle', 'aged', 'inb', 'meshed'] as const;

for (const fastLane of [true, false]) {
  describe(`connectionPool lifecycle (${fastLane ? 'fast lane' : 'node:http'})`, () => {
    const apps = {} as Record<(typeof HTTP_APPS)[number], App>;
    let tcpApp: Awaited<ReturnType<typeof echo>>;
    let agedTcp: Awaited<ReturnType<typeof echo>>;
    let m: Running;

    beforeAll(async () => {
      for (const n of HTTP_APPS) apps[n] = await app();
      tcpApp = await echo();
      agedTcp = await echo();
      const caller = await app();
      const external = (n: (typeof HTTP_APPS)[number]) => ({
        workloads: [{ name: `${n}-v1`, labels: { app: n }, instances: [apps[n].address], sidecar: false }]
      });
      m = await startMesh(
        {
          meshYaml: meshYaml({
            caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
            once: external('once'),
            twice: external('twice'),
            plain: external('plain'),
            idle: external('idle'),
            aged: external('aged'),
            inb: { workloads: [{ name: 'inb-v1', labels: { app: 'inb' }, instances: [apps.inb.address] }] },
            meshed: { workloads: [{ name: 'meshed-v1', labels: { app: 'meshed' }, instances: [apps.meshed.address] }] },
            tcpidle: {
              protocol: 'tcp',
              workloads: [{ name: 'tcpidle-v1', instances: [tcpApp.address], sidecar: false }]
            },
            tcpaged: {
              protocol: 'tcp',
              workloads: [{ name: 'tcpaged-v1', instances: [agedTcp.address], sidecar: false }]
            }
          }),
          istio: {
            'rules.yaml':
              dr('once', '{http: {maxRequestsPerConnection: 1}}') +
              dr('twice', '{http: {maxRequestsPerConnection: 2}}') +
              dr('idle', '{http: {idleTimeout: 150ms}}') +
              dr('aged', '{tcp: {maxConnectionDuration: 200ms}}') +
              dr('tcpidle', '{tcp: {idleTimeout: 150ms}}') +
              dr('tcpaged', '{tcp: {maxConnectionDuration: 300ms}}') +
              dr('meshed', '{http: {maxRequestsPerConnection: 1}}') +
              `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: inb}
spec:
  workloadSelector: {labels: {app: inb}}
  inboundConnectionPool:
    http: {maxRequestsPerConnection: 1}
`
          }
        },
        { store: 'memory', fastLane }
      );
      await caller.close();
    });
    afterAll(async () => {
      await m.close();
      for (const a of Object.values(apps)) await a.close();
      tcpApp.server.close();
      agedTcp.server.close();
    });

    const call = async (service: string, path = '/') => {
      const r = await viaProxy(m.outbound('caller-v1'), `${service}:9080`, path);
      expect(r.status).toBe(200);
    };

    it('maxRequestsPerConnection 1: each request on a new upstream connection, closed after its answer', async () => {
      for (let i = 0; i < 3; i++) await call('once', `/r${i}`);
      const conns = apps.once.conns;
      expect(conns.map((c) => c.requests)).toEqual([1, 1, 1]);
      await until(() => conns.every((c) => !c.open), 'every connection closed');
    });

    it('maxRequestsPerConnection 2: two requests a connection', async () => {
      for (let i = 0; i < 4; i++) await call('twice', `/r${i}`);
      expect(apps.twice.conns.map((c) => c.requests)).toEqual([2, 2]);
      await until(() => apps.twice.conns.every((c) => !c.open), 'both connections closed');
    });

    it('with no connectionPool the sidecar keeps one connection for requests in turn', async () => {
      for (let i = 0; i < 3; i++) await call('plain', `/r${i}`);
      expect(apps.plain.conns.map((c) => [c.requests, c.open])).toEqual([[3, true]]);
    });

    it('http.idleTimeout: an idle connection is closed by the sidecar, not left for the next request', async () => {
      await call('idle', '/first');
      await call('plain', '/control');
      await until(() => apps.idle.conns.length === 1 && !apps.idle.conns[0]!.open, 'the idle connection closed');
      // the same time idle in a pool with no idle timeout: still open
      expect(apps.plain.conns.filter((c) => c.open)).toHaveLength(1);
      await call('idle', '/second');
      expect(apps.idle.conns.map((c) => c.requests)).toEqual([1, 1]);
    });

    it('tcp.maxConnectionDuration: a connection past it is closed when its request ends, not during it', async () => {
      await call('aged', '/held?wait=400');
      // straight after the answer: the next request cannot have the connection that outlived 200 ms
      await call('aged', '/next');
      expect(apps.aged.conns.map((c) => c.requests)).toEqual([1, 1]);
      await until(() => !apps.aged.conns[0]!.open, 'the old connection closed after its answer');
    });

    it("Sidecar inboundConnectionPool maxRequestsPerConnection 1: the inbound sidecar's connections to the app", async () => {
      for (let i = 0; i < 3; i++) {
        const r = await request(m.inbound('inb-v1'), `/in${i}`, { headers: { host: 'inb:9080' } });
        expect(r.status).toBe(200);
      }
      expect(apps.inb.conns.map((c) => c.requests)).toEqual([1, 1, 1]);
    });

    it('maxRequestsPerConnection 1 between sidecars (mutual TLS): concurrent calls each get a connection of their own', async () => {
      const rs = await Promise.all(
        Array.from({ length: 12 }, (_, i) => viaProxy(m.outbound('caller-v1'), 'meshed:9080', `/c${i}?wait=50`))
      );
      expect(rs.map((r) => r.status)).toEqual(Array(12).fill(200));
      // the same DestinationRule limits the inbound cluster: the app sees one connection per request too
      expect(apps.meshed.conns.map((c) => c.requests)).toEqual(Array(12).fill(1));
    });

    it('tcp.maxConnectionDuration on a TCP service: the tcp_proxy closes a busy connection that old', async () => {
      const s = net.connect(m.upstream('caller-v1', 'tcpaged'), '127.0.0.1');
      let got = 0;
      let closed = false;
      s.on('data', (d: Buffer) => (got += d.length));
      s.on('close', () => (closed = true));
      s.on('error', () => undefined);
      // never idle: a byte every 40 ms until the sidecar closes the connection
      const tick = setInterval(() => s.writable && s.write('x'), 40);
      try {
        await until(() => closed, 'the connection closed by the sidecar while in use');
      } finally {
        clearInterval(tick);
      }
      expect(got).toBeGreaterThan(2);
      await until(() => agedTcp.conns.length === 1 && !agedTcp.conns[0]!.open, 'the app connection closed');
    });

    it('tcp.idleTimeout on a TCP service: the tcp_proxy closes a connection with no bytes either way', async () => {
      const s = net.connect(m.upstream('caller-v1', 'tcpidle'), '127.0.0.1');
      let got = '';
      let closed = false;
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('close', () => (closed = true));
      s.on('error', () => undefined);
      s.write('PING');
      await until(() => got === 'PING', 'the echo');
      await until(() => closed, 'the client connection closed by the sidecar');
      await until(() => tcpApp.conns.length === 1 && !tcpApp.conns[0]!.open, 'the app connection closed');
    });
  });
}
