/**
 * Integration: workload certificates rotate at half life while the mesh serves (istio-semantics §2). The inbound
 * sidecar terminates mutual TLS with a TLS server per identity, so after a rotation new connections get the new
 * certificate, connections opened before keep working, and sidecar-to-sidecar calls go on. Real TLS, short-lived
 * certificates (3 s, rotated every 1.5 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { MeshCa } from '../engine/tls/ca.js';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, web: Stub;
let m: Running;
let client: { key: string; cert: string; ca: string };

beforeAll(async () => {
  [caller, web] = await Promise.all([stub('caller'), stub('web')]);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', serviceAccount: 'caller-sa', instances: [caller.address] }] },
        web: { workloads: [{ name: 'web-v1', serviceAccount: 'web-sa', instances: [web.address] }] }
      })
    },
    { leafTtlMs: 3000 }
  );
  // a client certificate of the mesh, valid for an hour: the test's own connections outlive the sidecars' rotations
  const ca = await MeshCa.loadOrCreate(path.join(m.dir, '.localmesh'));
  const me = await ca.issue('spiffe://cluster.local/ns/default/sa/caller-sa', Date.now(), 3600_000);
  client = {
    key: me.key,
    cert: me.cert,
    ca: fs.readFileSync(MeshCa.files(path.join(m.dir, '.localmesh')).cert, 'utf8')
  };
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller.close(), web.close()]);
});

/** A keep-alive mutual-TLS connection to web's inbound sidecar, as a client sidecar opens it. */
function connect(): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      {
        host: '127.0.0.1',
        port: m.inbound('web-v1'),
        ...client,
        ALPNProtocols: ['istio-http/1.1'],
        checkServerIdentity: () => undefined
      },
      () => resolve(s)
    );
    s.once('error', reject);
  });
}

/** One GET on an open connection; resolves with the status line. */
function get(s: tls.TLSSocket, p: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        s.off('data', onData);
        resolve(got.slice(0, got.indexOf('\r\n')));
      }
    };
    s.on('data', onData);
    s.write(`GET ${p} HTTP/1.1\r\nhost: web:9080\r\n\r\n`);
  });
}

const serial = (s: tls.TLSSocket) => s.getPeerCertificate().serialNumber;

describe('certificate rotation at the inbound sidecar', () => {
  it('new connections get the new certificate, an open one keeps working, sidecar calls go on', async () => {
    const before = await connect();
    const first = serial(before);
    expect(await get(before, '/before')).toBe('HTTP/1.1 200 OK');
    // rotated within ~1.5 s; bounded by until's tries (200 × 25 ms) and polled with fresh connections
    // until returns only a truthy value: the connection that got the new certificate
    const after = (await until(async () => {
      const s = await connect();
      if (serial(s) !== first) return s;
      s.destroy();
      return null;
    }, 'the rotated certificate'))!;
    expect(await get(after, '/after')).toBe('HTTP/1.1 200 OK');
    expect(await get(before, '/still-open')).toBe('HTTP/1.1 200 OK');
    expect(web.seen.map((s) => s.url)).toEqual(expect.arrayContaining(['/before', '/after', '/still-open']));
    before.destroy();
    after.destroy();
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/through-sidecars', {
      headers: { 'x-request-id': 'rot-1' }
    });
    expect(r.status).toBe(200);
    const dst = (await m.mesh.listFlows({ limit: 100 })).find(
      (f) => f.requestId === 'rot-1' && f.reporter === 'destination'
    );
    expect(dst?.connectionSecurity).toBe('mutual_tls');
    expect(dst?.sourcePrincipal).toBe('spiffe://cluster.local/ns/default/sa/caller-sa');
  });
});
