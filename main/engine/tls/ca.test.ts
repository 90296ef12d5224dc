import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import tls from 'node:tls';
import net from 'node:net';
import { MeshCa, spiffeFromSan, spiffeId } from './ca.js';

const dirs: string[] = [];
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-ca-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('mesh CA', () => {
  it('is created once with a 0600 key and 10-year validity, then reused', async () => {
    const dir = tmp();
    const now = Date.UTC(2026, 10, 22);
    const ca = await MeshCa.loadOrCreate(dir, 'ec', now);
    const f = MeshCa.files(dir);
    expect(fs.statSync(f.key).mode & 0o777).toBe(0o600);
    const info = ca.info();
    expect(Date.parse(info.validTo) - now).toBeGreaterThan(9.9 * 365 * 864e5);
    const again = await MeshCa.loadOrCreate(dir, 'ec', now);
    expect(again.info().fingerprint256).toBe(info.fingerprint256);
    const rotated = await MeshCa.create(dir, 'ec', now);
    expect(rotated.info().fingerprint256).not.toBe(info.fingerprint256);
  });

  it('a broken CA file is a coded error, not a crash', async () => {
    const dir = tmp();
    await MeshCa.loadOrCreate(dir);
    fs.writeFileSync(MeshCa.files(dir).cert, 'not a certificate');
    await expect(MeshCa.loadOrCreate(dir)).rejects.toMatchObject({ code: 'LM108' });
  });

  it.each(['ec', 'rsa'] as const)(
    'issues %s leaves: empty subject, one critical SPIFFE URI SAN, 24 h, both usages, renew at half life',
    async (alg) => {
      const ca = await MeshCa.loadOrCreate(tmp(), alg);
      const now = Date.now();
      const id = spiffeId('cluster.local', 'default', 'bookinfo-reviews');
      const leaf = await ca.issue(id, now);
      const x = new crypto.X509Certificate(leaf.cert);
      expect(x.subject ?? '').toBe('');
      expect(x.subjectAltName).toBe(`URI:${id}`);
      expect(x.checkIssued(new crypto.X509Certificate(ca.root.cert))).toBe(true);
      expect(x.verify(new crypto.X509Certificate(ca.root.cert).publicKey)).toBe(true);
      const legacy = x.toLegacyObject() as unknown as { ext_key_usage: string[] };
      expect(legacy.ext_key_usage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
      expect(Date.parse(x.validTo) - Date.parse(x.validFrom)).toBeGreaterThanOrEqual(24 * 3600_000);
      expect(leaf.renewAt - now).toBe(12 * 3600_000);
      expect(x.publicKey.asymmetricKeyType).toBe(alg);
    }
  );

  it('two leaves make a real mutual TLS connection and each side reads the other SPIFFE ID', async () => {
    const ca = await MeshCa.loadOrCreate(tmp());
    const [srv, cli] = await Promise.all([
      ca.issue(spiffeId('cluster.local', 'default', 'reviews')),
      ca.issue(spiffeId('cluster.local', 'default', 'productpage'))
    ]);
    const server = tls.createServer(
      {
        key: srv.key,
        cert: srv.cert,
        ca: ca.root.cert,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['istio-http/1.1']
      },
      (s) => {
        s.end(spiffeFromSan(s.getPeerCertificate().subjectaltname) ?? 'none');
      }
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const got = await new Promise<{ data: string; serverId: string | null; alpn: string | false | null }>(
      (resolve, reject) => {
        const c = tls.connect(
          {
            host: '127.0.0.1',
            port,
            key: cli.key,
            cert: cli.cert,
            ca: ca.root.cert,
            ALPNProtocols: ['istio-http/1.1'],
            checkServerIdentity: () => undefined
          },
          () => {
            let data = '';
            c.on('data', (d) => (data += d));
            c.on('end', () =>
              resolve({ data, serverId: spiffeFromSan(c.getPeerCertificate().subjectaltname), alpn: c.alpnProtocol })
            );
          }
        );
        c.on('error', reject);
      }
    );
    server.close();
    expect(got.data).toBe('spiffe://cluster.local/ns/default/sa/productpage');
    expect(got.serverId).toBe('spiffe://cluster.local/ns/default/sa/reviews');
    expect(got.alpn).toBe('istio-http/1.1');
  });
});
