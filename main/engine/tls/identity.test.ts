import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import net from 'node:net';
import crypto from 'node:crypto';
import { MeshCa } from './ca.js';
import { IdentityManager } from './identity.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('workload identities', () => {
  it('rotate at half life; a connection opened before the rotation keeps working, new ones get the new certificate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-id-'));
    dirs.push(dir);
    const ca = await MeshCa.loadOrCreate(dir);
    const rotated: string[] = [];
    let onRotate: () => void = () => undefined;
    const ids = new IdentityManager(
      ca,
      'cluster.local',
      (id) => {
        rotated.push(id);
        onRotate();
      },
      4000
    );
    const first = await ids.ensure('default', 'web');
    expect(first.id).toBe('spiffe://cluster.local/ns/default/sa/web');
    // a TLS server that always uses the current identity's context
    const server = tls.createServer(
      { SNICallback: (_n, cb) => cb(null, tls.createSecureContext(ids.get('default', 'web')!.cert)) },
      (s) => s.on('data', (d) => s.write(d))
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const connect = () =>
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const c = tls.connect(
          { host: '127.0.0.1', port, servername: 'web', ca: ca.root.cert, checkServerIdentity: () => undefined },
          () => resolve(c)
        );
        c.on('error', reject);
      });
    const old = await connect();
    const oldSerial = old.getPeerCertificate().serialNumber;
    await new Promise<void>((resolve) => (onRotate = resolve)); // bounded by the test timeout
    ids.close();
    const fresh = await connect();
    expect(fresh.getPeerCertificate().serialNumber).not.toBe(oldSerial);
    expect(new crypto.X509Certificate(ids.get('default', 'web')!.cert.cert).serialNumber).not.toBe(
      new crypto.X509Certificate(first.cert.cert).serialNumber
    );
    const echoed = await new Promise<string>((resolve) => {
      old.once('data', (d) => resolve(d.toString()));
      old.write('still here');
    });
    expect(echoed).toBe('still here');
    expect(rotated).toContain(first.id);
    old.destroy();
    fresh.destroy();
    server.close();
  });
});
