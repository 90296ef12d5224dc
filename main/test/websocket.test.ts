/**
 * Integration: WebSocket upgrades go through the sidecars' request pipeline (tunnel.ts): mutual TLS between the
 * sidecars with the caller's identity, AuthorizationPolicy and fault injection before the upgrade, and a flow and
 * an istio_requests_total sample with response code 101 at both reporters once the tunnel closes (istio-semantics
 * §1.0, §3.1). Raw sockets on 127.0.0.1; the app is a node:http server that accepts the upgrade and echoes bytes.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRecord } from '../contract/api.js';
import { meshYaml, startMesh, stub, type Running, type Stub } from './helpers/harness.js';

let caller: Stub;
let app: http.Server;
let m: Running;
/** Upgrade requests the app saw. */
const seen: http.IncomingHttpHeaders[] = [];

const ISTIO = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict}
spec:
  selector: {matchLabels: {app: chat}}
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin}
spec:
  selector: {matchLabels: {app: chat}}
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: chat}
spec:
  hosts: [chat]
  http:
  - match: [{uri: {prefix: /broken}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: chat}}]
  - route: [{destination: {host: chat}}]
`;

beforeAll(async () => {
  caller = await stub('caller');
  app = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('upgrade required');
  });
  app.on('upgrade', (req: http.IncomingMessage, sock: net.Socket) => {
    seen.push(req.headers);
    if (req.url === '/refuse') {
      sock.end('HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nno chat');
      return;
    }
    sock.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-app: chat\r\n\r\n');
    sock.on('data', (d) => sock.write(d));
    sock.on('end', () => sock.end());
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const port = (app.address() as net.AddressInfo).port;
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        chat: {
          workloads: [{ name: 'chat-v1', labels: { app: 'chat', version: 'v1' }, instances: [`127.0.0.1:${port}`] }]
        }
      }),
      istio: { 'istio.yaml': ISTIO }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  await m.close();
  await caller.close();
  await new Promise<void>((r) => app.close(() => r()));
});

/** Open an upgrade request to the caller's outbound sidecar; resolves with the socket and what it read so far. */
async function open(
  path: string
): Promise<{ sock: net.Socket; read: () => string; until: (s: string) => Promise<void> }> {
  const sock = net.connect(m.outbound('caller-v1'), '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let data = '';
  sock.on('data', (d: Buffer) => (data += d.toString('latin1')));
  sock.write(
    `GET http://chat:9080${path} HTTP/1.1\r\nhost: chat:9080\r\nconnection: Upgrade\r\nupgrade: websocket\r\n` +
      'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  );
  const until = async (s: string) => {
    for (let i = 0; i < 300 && !data.includes(s); i++) await new Promise((r) => setTimeout(r, 10));
    expect(data).toContain(s);
  };
  return { sock, read: () => data, until };
}

async function flowsOf(path: string, n: number): Promise<FlowRecord[]> {
  for (let i = 0; i < 300; i++) {
    const f = (await m.mesh.listFlows({ limit: 500 })).filter((x) => x.path === path);
    if (f.length >= n) return f;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`fewer than ${n} flows of ${path}`);
}

describe('WebSocket through both sidecars', () => {
  it('upgrades over mutual TLS between the sidecars, echoes both ways, and records 101 at both reporters when closed', async () => {
    const c = await open('/chat');
    await c.until('\r\n\r\n');
    expect(c.read()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(c.read().toLowerCase()).toContain('upgrade: websocket');
    expect(c.read()).toContain('server: envoy');
    c.sock.write('frame-1');
    await c.until('frame-1');
    // the app saw the caller's identity: the inbound sidecar terminated mutual TLS (the workload is STRICT)
    const h = seen.at(-1)!;
    expect(h['x-forwarded-client-cert']).toContain('URI=spiffe://cluster.local/ns/default/sa/default');
    expect(h['upgrade']).toBe('websocket');
    expect(h['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    c.sock.end();
    const flows = await flowsOf('/chat', 2);
    const src = flows.find((f) => f.reporter === 'source')!;
    const dst = flows.find((f) => f.reporter === 'destination')!;
    expect(src).toMatchObject({ status: 101, flags: '-', source: 'caller-v1', destination: 'chat-v1' });
    expect(dst).toMatchObject({ status: 101, flags: '-', source: 'caller-v1', connectionSecurity: 'mutual_tls' });
    const { text } = await m.mesh.metrics();
    for (const reporter of ['source', 'destination'])
      expect(text).toMatch(
        new RegExp(
          `istio_requests_total\\{reporter="${reporter}",source_workload="caller-v1",[^}]*destination_workload="chat-v1",[^}]*response_code="101"`
        )
      );
  });

  it('AuthorizationPolicy applies before the upgrade: 403 RBAC: access denied, and the app never sees it', async () => {
    const before = seen.length;
    const c = await open('/admin');
    await c.until('RBAC: access denied');
    expect(c.read()).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(seen.length).toBe(before);
    const flows = await flowsOf('/admin', 2);
    expect(flows.map((f) => f.status).sort()).toEqual([403, 403]);
    c.sock.destroy();
  });

  it('a fault abort applies to an upgrade request like to any other', async () => {
    const c = await open('/broken');
    await c.until('fault filter abort');
    expect(c.read()).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect((await flowsOf('/broken', 1))[0]).toMatchObject({ reporter: 'source', status: 503, flags: 'FI' });
    c.sock.destroy();
  });

  it('an app that answers without upgrading: its answer goes back as it is', async () => {
    const c = await open('/refuse');
    await c.until('no chat');
    expect(c.read()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const flows = await flowsOf('/refuse', 2);
    expect(flows.map((f) => f.status)).toEqual([400, 400]);
    c.sock.destroy();
  });
});
