/**
 * Integration: real mutual TLS between sidecars (auto-mTLS), PeerAuthentication modes at the server sidecar,
 * DestinationRule tls modes at the client, XFCC and peer identities on flows (istio-semantics §1.3, §1.4, §1.8, §2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';
import { MeshCa } from '../engine/tls/ca.js';
import { meshYaml, request, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, web: Stub, locked: Stub, open: Stub, legacy: Stub;
let m: Running;

const ISTIO = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: PERMISSIVE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: locked}
spec:
  selector: {matchLabels: {app: locked}}
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: open}
spec:
  selector: {matchLabels: {app: open}}
  mtls: {mode: DISABLE}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: locked-plain}
spec:
  host: locked
  subsets:
  - name: plain
    labels: {app: locked}
    trafficPolicy: {tls: {mode: DISABLE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy}
spec:
  host: legacy
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web-pinned}
spec:
  host: web
  subsets:
  - name: pinned
    labels: {app: web}
    trafficPolicy:
      tls: {mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/someone-else"]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /pinned}}]
    route: [{destination: {host: web, subset: pinned}}]
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: locked}
spec:
  hosts: [locked]
  http:
  - match: [{uri: {prefix: /plain}}]
    route: [{destination: {host: locked, subset: plain}}]
  - route: [{destination: {host: locked}}]
`;

beforeAll(async () => {
  [caller, web, locked, open, legacy] = await Promise.all([
    stub('caller'),
    stub('web'),
    stub('locked'),
    stub('open'),
    stub('legacy')
  ]);
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', serviceAccount: 'caller-sa', instances: [caller.address] }] },
      web: { workloads: [{ name: 'web-v1', serviceAccount: 'web-sa', instances: [web.address] }] },
      locked: { workloads: [{ name: 'locked-v1', serviceAccount: 'locked-sa', instances: [locked.address] }] },
      open: { workloads: [{ name: 'open-v1', instances: [open.address] }] },
      legacy: { workloads: [{ name: 'legacy-v1', instances: [legacy.address], sidecar: false }] }
    }),
    istio: { 'security.yaml': ISTIO }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, web, locked, open, legacy].map((s) => s.close()));
});

const call = (authority: string, p: string, headers: Record<string, string> = {}) =>
  viaProxy(m.outbound('caller-v1'), authority, p, { headers });
const flows = async (rid: string) => (await m.mesh.listFlows({ limit: 200 })).filter((f) => f.requestId === rid);

describe('auto mTLS between sidecars', () => {
  it('the hop is mutual TLS with SPIFFE identities; the app gets x-forwarded-client-cert', async () => {
    const r = await call('web:9080', '/x', { 'x-request-id': 'mtls-1' });
    expect(r.status).toBe(200);
    const fl = await flows('mtls-1');
    const dst = fl.find((f) => f.reporter === 'destination')!;
    const src = fl.find((f) => f.reporter === 'source')!;
    expect(dst.connectionSecurity).toBe('mutual_tls');
    expect(dst.sourcePrincipal).toBe('spiffe://cluster.local/ns/default/sa/caller-sa');
    expect(dst.destinationPrincipal).toBe('spiffe://cluster.local/ns/default/sa/web-sa');
    expect(src.sourcePrincipal).toBe('spiffe://cluster.local/ns/default/sa/caller-sa');
    const xfcc = String(web.seen.at(-1)!.headers['x-forwarded-client-cert']);
    expect(xfcc).toMatch(
      /^By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/web-sa;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/caller-sa$/
    );
  });
  it("an app's own x-forwarded-client-cert does not reach the callee: only the caller's certificate speaks for it", async () => {
    const forged =
      'By=spiffe://cluster.local/ns/default/sa/web-sa;Hash=00;Subject="";URI=spiffe://cluster.local/ns/default/sa/admin';
    const r = await call('web:9080', '/forged', { 'x-request-id': 'mtls-1b', 'x-forwarded-client-cert': forged });
    expect(r.status).toBe(200);
    const xfcc = String(web.seen.at(-1)!.headers['x-forwarded-client-cert']);
    expect(xfcc).not.toContain('sa/admin');
    expect(xfcc).toMatch(
      /^By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/web-sa;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/caller-sa$/
    );
  });
  it('the mesh CA lives in the state dir with a 0600 key', () => {
    const key = path.join(m.dir, '.localmesh', 'ca', 'root-key.pem');
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);
  });
  it('a caller without a sidecar reaches a PERMISSIVE inbound sidecar in plaintext: no identity, no XFCC', async () => {
    const r = await request(m.inbound('web-v1'), '/plain-caller', {
      headers: {
        host: 'web:9080',
        'x-request-id': 'mtls-2',
        // a plaintext caller claiming an identity: Envoy drops the header on a connection that is not mutual TLS
        'x-forwarded-client-cert':
          'By=spiffe://cluster.local/ns/default/sa/web-sa;URI=spiffe://cluster.local/ns/default/sa/admin'
      }
    });
    expect(r.status).toBe(200);
    const dst = (await flows('mtls-2'))[0]!;
    expect(dst.connectionSecurity).toBe('none');
    expect(dst.sourcePrincipal).toBeNull();
    expect(web.seen.at(-1)!.headers['x-forwarded-client-cert']).toBeUndefined();
  });
});

describe('PeerAuthentication', () => {
  it('STRICT: a plaintext caller gets no HTTP response, the connection is reset (curl exit 56 in the Istio task)', async () => {
    const sock = net.connect(m.inbound('locked-v1'), '127.0.0.1');
    let got = '';
    let error = '';
    sock.on('data', (d) => (got += d.toString()));
    sock.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET / HTTP/1.1\r\nhost: locked:9080\r\n\r\n');
    await new Promise((r) => sock.once('close', r));
    expect(got).toBe('');
    expect(error).toBe('ECONNRESET');
    expect(locked.seen).toHaveLength(0);
  });
  it('STRICT: callers with a sidecar still get through over mTLS', async () => {
    const r = await call('locked:9080', '/ok', { 'x-request-id': 'mtls-3' });
    expect(r.status).toBe(200);
    expect((await flows('mtls-3')).find((f) => f.reporter === 'destination')?.connectionSecurity).toBe('mutual_tls');
  });
  it('DestinationRule tls DISABLE against STRICT: 503 UC "connection termination"', async () => {
    const r = await call('locked:9080', '/plain', { 'x-request-id': 'mtls-4' });
    expect(r.status).toBe(503);
    expect(r.body).toBe(
      'upstream connect error or disconnect/reset before headers. reset reason: connection termination'
    );
    expect((await flows('mtls-4')).find((f) => f.reporter === 'source')?.flags).toBe('UC');
  });
  it('DISABLE: the client sidecar sends plaintext (auto-mTLS), no XFCC reaches the app', async () => {
    const r = await call('open:9080', '/d', { 'x-request-id': 'mtls-5' });
    expect(r.status).toBe(200);
    const dst = (await flows('mtls-5')).find((f) => f.reporter === 'destination')!;
    expect(dst.connectionSecurity).toBe('none');
    expect(open.seen.at(-1)!.headers['x-forwarded-client-cert']).toBeUndefined();
  });
});

describe('DestinationRule ISTIO_MUTUAL to an app without sidecar', () => {
  it('the TLS handshake fails: 503 UF,URX after the default retries', async () => {
    const r = await call('legacy:9080', '/x', { 'x-request-id': 'mtls-6' });
    expect(r.status).toBe(503);
    expect(r.body).toMatch(
      /^upstream connect error or disconnect\/reset before headers\. retried and the latest reset reason: remote connection failure, transport failure reason: TLS_error:/
    );
    const flow = (await flows('mtls-6'))[0]!;
    expect(flow.flags).toBe('UF,URX');
    // no TLS connection was set up: no principals, no mutual TLS (istio-semantics §3.2)
    expect(flow).toMatchObject({ sourcePrincipal: null, destinationPrincipal: null, connectionSecurity: 'none' });
    const { text: metrics } = await m.mesh.metrics();
    const sample = metrics
      .split('\n')
      .find((l) => l.startsWith('istio_requests_total{') && l.includes('response_flags="UF,URX"'));
    expect(sample).toContain('source_principal="unknown"');
    expect(sample).toContain('destination_principal="unknown"');
  });
});

describe('server identity verification', () => {
  it('a server whose SPIFFE ID is not the expected one fails the handshake: 503 UF,URX, CERTIFICATE_VERIFY_FAILED', async () => {
    const before = web.seen.length;
    const r = await call('web:9080', '/pinned', { 'x-request-id': 'mtls-7' });
    expect(r.status).toBe(503);
    expect(r.body).toContain('CERTIFICATE_VERIFY_FAILED');
    expect((await flows('mtls-7')).find((f) => f.reporter === 'source')?.flags).toBe('UF,URX');
    expect(web.seen.length).toBe(before);
  });
});

/**
 * One HTTP/1.1 request over TLS to an inbound sidecar, as a client sidecar would send it (Istio ALPN), with the
 * given client certificate (or none). Resolves with what came back ('' when the connection closed without a
 * response), whether the TLS session was resumed, and the session to resume next time.
 */
function tlsRequest(
  port: number,
  cert: { key: string; cert: string } | null,
  ca: string,
  p: string,
  session?: Buffer
): Promise<{ got: string; reused: boolean; session?: Buffer }> {
  return new Promise((resolve) => {
    const sock = tls.connect({
      host: '127.0.0.1',
      port,
      ...(cert ?? {}),
      ca,
      session,
      ALPNProtocols: ['istio-http/1.1'],
      checkServerIdentity: () => undefined
    });
    let got = '';
    let reused = false;
    let next: Buffer | undefined;
    sock.on('session', (s: Buffer) => (next = s));
    sock.on('secureConnect', () => {
      reused = sock.isSessionReused();
      sock.write(`GET ${p} HTTP/1.1\r\nhost: web:9080\r\nconnection: close\r\n\r\n`);
    });
    sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ got, reused, session: next }));
  });
}

describe('client certificates at the inbound sidecar', () => {
  const rootOf = () => fs.readFileSync(path.join(m.dir, '.localmesh', 'ca', 'root-cert.pem'), 'utf8');

  it('a client certificate from another CA is refused: no HTTP response, the app sees nothing', async () => {
    // the same SPIFFE ID a real caller has, signed by a CA the mesh does not trust
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-other-ca-'));
    const other = await MeshCa.create(otherDir, 'ec');
    const forged = await other.issue('spiffe://cluster.local/ns/default/sa/caller-sa');
    fs.rmSync(otherDir, { recursive: true, force: true });
    const before = locked.seen.length;
    const r = await tlsRequest(m.inbound('locked-v1'), forged, rootOf(), '/forged');
    expect(r.got).toBe('');
    expect(locked.seen.length).toBe(before);
  });

  it('a client without a certificate is refused the same way', async () => {
    const before = locked.seen.length;
    const r = await tlsRequest(m.inbound('locked-v1'), null, rootOf(), '/anonymous');
    expect(r.got).toBe('');
    expect(locked.seen.length).toBe(before);
  });

  it('a mesh client resumes its TLS session; the resumed connection keeps its identity (XFCC)', async () => {
    const ca = await MeshCa.loadOrCreate(path.join(m.dir, '.localmesh'));
    const me = await ca.issue('spiffe://cluster.local/ns/default/sa/caller-sa');
    const first = await tlsRequest(m.inbound('locked-v1'), me, rootOf(), '/full');
    expect(first.got).toMatch(/^HTTP\/1\.1 200 /);
    expect(first.reused).toBe(false);
    expect(first.session).toBeDefined();
    const second = await tlsRequest(m.inbound('locked-v1'), me, rootOf(), '/resumed', first.session);
    expect(second.reused).toBe(true);
    expect(second.got).toMatch(/^HTTP\/1\.1 200 /);
    const seen = locked.seen.at(-1)!;
    expect(seen.url).toBe('/resumed');
    expect(String(seen.headers['x-forwarded-client-cert'])).toMatch(
      /;URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/caller-sa$/
    );
  });
});

describe('live policy change', () => {
  it('switching the mesh to STRICT closes plaintext at every inbound sidecar', async () => {
    const file = path.join(m.dir, 'istio', 'security.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('mtls: {mode: PERMISSIVE}', 'mtls: {mode: STRICT}'));
    expect((await m.mesh.reload()).ok).toBe(true);
    await until(async () => {
      try {
        await request(m.inbound('web-v1'), '/again', { headers: { host: 'web:9080' } });
        return false;
      } catch {
        return true;
      }
    }, 'plaintext to be refused');
    expect((await call('web:9080', '/still')).status).toBe(200);
  });
});
