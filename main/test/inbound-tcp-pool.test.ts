/**
 * Integration: the inbound cluster's connection circuit breaker on TCP (istio-semantics §1.3 connectionPool: "TCP:
 * connection refused/closed"). Envoy's tcp_proxy asks the cluster's resource manager before it connects
 * (tcp_proxy.cc establishUpstreamConnection: connections().canCreate()); past `tcp.maxConnections` the downstream
 * connection is closed without reaching the app, flag UO, and Istio's stats count it opened and closed. The limit is
 * the inbound cluster's, as for HTTP: a Sidecar's inboundConnectionPool, a Sidecar ingress listener's own
 * connectionPool, or the DestinationRule of the workload's own service. Real sockets: TCP apps that keep every
 * connection open until the test closes its end, raw clients straight to the inbound sidecar (plaintext) and through
 * a caller's sidecar (mutual TLS).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, until, type Running, type Stub } from './helpers/harness.js';

/** A TCP app that answers each chunk with its name and keeps the connection open; `open` counts those it has. */
interface HeldApp {
  address: string;
  port: number;
  accepted: number;
  open: number;
  server: net.Server;
}

async function heldApp(name: string): Promise<HeldApp> {
  const app = { accepted: 0, open: 0 } as HeldApp;
  app.server = net.createServer((s) => {
    app.accepted++;
    app.open++;
    s.on('data', (c: Buffer) => s.write(`${name}:${c.toString('latin1')}`));
    s.on('error', () => s.destroy());
    s.on('close', () => app.open--);
  });
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', r));
  app.port = (app.server.address() as net.AddressInfo).port;
  app.address = `127.0.0.1:${app.port}`;
  return app;
}

/**
 * Open a connection to `port` and send `data`: resolves with the socket and the first answer, or with what came
 * before the sidecar closed it (`closed`).
 */
function open(port: number, data: string): Promise<{ sock: net.Socket; got: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      resolve({ sock, got, closed });
    };
    sock.on('connect', () => sock.write(data));
    sock.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.endsWith('\r\n')) finish(false);
    });
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
  });
}

const SIDECARS = (ingressPort: number) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: db}
spec:
  workloadSelector: {labels: {app: db}}
  inboundConnectionPool:
    tcp: {maxConnections: 1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cache}
spec:
  host: cache
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: queue}
spec:
  workloadSelector: {labels: {app: queue}}
  inboundConnectionPool:
    tcp: {maxConnections: 5}
  ingress:
  - port: {number: ${ingressPort}, protocol: TCP, name: tcp-queue}
    connectionPool:
      tcp: {maxConnections: 1}
`;

let caller: Stub;
let db: HeldApp, cache: HeldApp, queue: HeldApp;
let m: Running;
const log: string[] = [];

beforeAll(async () => {
  caller = await stub('caller');
  [db, cache, queue] = await Promise.all([heldApp('db'), heldApp('cache'), heldApp('queue')]);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        // a port declared TCP
        db: { port: 5432, protocol: 'tcp', workloads: [{ name: 'db-v1', instances: [db.address] }] },
        // a port left to detection: what is not HTTP goes to the TCP chain
        cache: { port: 6379, workloads: [{ name: 'cache-v1', instances: [cache.address] }] },
        queue: { port: 5672, workloads: [{ name: 'queue-v1', instances: [queue.address] }] }
      }),
      istio: { 'pool.yaml': SIDECARS(queue.port) }
    },
    { store: 'memory', accessLog: (line) => log.push(line) }
  );
});
afterAll(async () => {
  await m.close();
  await caller.close();
  await Promise.all([db, cache, queue].map((a) => new Promise((r) => a.server.close(r))));
});

const metricLine = async (name: string, ...parts: string[]) =>
  (await m.mesh.metrics()).text.split('\n').find((l) => l.startsWith(`${name}{`) && parts.every((p) => l.includes(p)));

/**
 * With one connection held at the app through `port`, a second is closed by the inbound sidecar without reaching the
 * app; once the first is closed, its slot is given back and a new connection goes through.
 */
async function overflowAndRelease(port: number, app: HeldApp, name: string): Promise<void> {
  const before = app.accepted;
  const held = await open(port, 'ONE\r\n');
  expect(held).toMatchObject({ got: `${name}:ONE\r\n`, closed: false });
  const over = await open(port, 'TWO\r\n');
  expect(over).toMatchObject({ got: '', closed: true });
  // the app saw the held connection only
  expect(app.accepted).toBe(before + 1);
  held.sock.destroy();
  await until(() => app.open === 0, 'the held connection closed at the app');
  const again = await until(async () => {
    const r = await open(port, 'THREE\r\n');
    r.sock.destroy();
    return r.closed ? undefined : r;
  }, 'a connection through once the slot is free');
  expect(again!.got).toBe(`${name}:THREE\r\n`);
  expect(app.accepted).toBe(before + 2);
}

describe('inbound tcp.maxConnections (tcp_proxy to inbound|<port>||)', () => {
  it("a port declared TCP under the Sidecar's inboundConnectionPool: past one connection the next is closed, UO", async () => {
    await overflowAndRelease(m.inbound('db-v1'), db, 'db');
    // Istio's stats count the refused connection opened and closed, with its flag, at the destination
    for (const metric of ['istio_tcp_connections_opened_total', 'istio_tcp_connections_closed_total']) {
      const line = await until(
        () => metricLine(metric, 'reporter="destination"', 'destination_workload="db-v1"', 'response_flags="UO"'),
        `${metric} with UO`
      );
      expect(line).toMatch(/ 1$/);
    }
    // and the access log writes it with UO and the inbound cluster, nothing sent or received
    const uo = log.find((l) => l.includes(` inbound|${db.port}|| `) && / UO /.test(l));
    expect(uo).toMatch(
      /^\[[^\]]+\] "- - -" 0 UO - - "-" 0 0 \d+ - "-" "-" "-" "-" "127\.0\.0\.1:\d+" inbound\|\d+\|\| /
    );
  });

  it('the same through a caller sidecar (mutual TLS, ALPN istio): the caller sees its connection closed', async () => {
    const port = m.upstream('caller-v1', 'db');
    const held = await open(port, 'A\r\n');
    expect(held).toMatchObject({ got: 'db:A\r\n', closed: false });
    const before = db.accepted;
    const over = await open(port, 'B\r\n');
    expect(over).toMatchObject({ got: '', closed: true });
    expect(db.accepted).toBe(before);
    const line = await until(
      () =>
        metricLine(
          'istio_tcp_connections_opened_total',
          'reporter="destination"',
          'source_workload="caller-v1"',
          'connection_security_policy="mutual_tls"',
          'response_flags="UO"'
        ),
      'a UO connection from caller-v1 over mutual TLS'
    );
    expect(line).toContain('destination_workload="db-v1"');
    held.sock.destroy();
    await until(() => db.open === 0, 'the held connection closed at the app');
  });

  it("detected non-HTTP bytes under the DestinationRule of the workload's own service", async () => {
    await overflowAndRelease(m.inbound('cache-v1'), cache, 'cache');
  });

  it("a Sidecar ingress listener's own connectionPool (1) replaces inboundConnectionPool (5)", async () => {
    await overflowAndRelease(m.inbound('queue-v1'), queue, 'queue');
  });
});
