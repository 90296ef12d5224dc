/**
 * Integration: DestinationRule tls SIMPLE / MUTUAL (istio-semantics §1.3 tls): the outbound sidecar originates TLS to
 * an external HTTPS server with the user's files, verifies it (caCertificates, subjectAltNames, insecureSkipVerify),
 * and a connection verified under one rule never serves another rule's request. Real certificates (selfsigned),
 * a real node:https server on 127.0.0.1.
 */
import fs from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub;
let server: https.Server;
let m: Running;
let dir: string;
/** Client certificate subjects the server saw ('' without one). */
const clients: string[] = [];

async function pki(): Promise<Record<'ca' | 'serverKey' | 'serverCert' | 'clientKey' | 'clientCert', string>> {
  const now = Date.now();
  const validity = { notBeforeDate: new Date(now - 60_000), notAfterDate: new Date(now + 3600_000) };
  const ca = await generate([{ name: 'commonName', value: 'test CA' }], {
    ...validity,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true }
    ]
  });
  const leaf = (cn: string, altNames: { type: 2; value: string }[]) =>
    generate([{ name: 'commonName', value: cn }], {
      ...validity,
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        { name: 'subjectAltName', altNames }
      ]
    });
  const srv = await leaf('ext.example.com', [{ type: 2, value: 'ext.example.com' }]);
  const cli = await leaf('client.example.com', [{ type: 2, value: 'client.example.com' }]);
  return { ca: ca.cert, serverKey: srv.private, serverCert: srv.cert, clientKey: cli.private, clientCert: cli.cert };
}

beforeAll(async () => {
  const p = await pki();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-tls-orig-'));
  for (const [k, v] of Object.entries(p)) fs.writeFileSync(path.join(dir, `${k}.pem`), v);
  server = https.createServer(
    { key: p.serverKey, cert: p.serverCert, ca: p.ca, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
      clients.push(peer && peer.subject ? String(peer.subject.CN) : '');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('tls ok');
    }
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const f = (k: string) => path.join(dir, `${k}.pem`);
  const entry = (name: string, tlsSpec: string, sans?: string) => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}.example.com]${sans ? `\n  subjectAltNames: [${sans}]` : ''}
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${port}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}}
spec: {host: ${name}.example.com, trafficPolicy: {tls: ${tlsSpec}}}
`;
  caller = await stub('caller');
  m = await startMesh(
    {
      meshYaml: meshYaml({ caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] } }),
      istio: {
        'egress.yaml':
          entry('simple', `{mode: SIMPLE, caCertificates: ${f('ca')}, sni: ext.example.com}`) +
          entry('skip', '{mode: SIMPLE, insecureSkipVerify: true}') +
          entry('good', `{mode: SIMPLE, caCertificates: ${f('ca')}, subjectAltNames: [ext.example.com]}`) +
          entry('bad', `{mode: SIMPLE, caCertificates: ${f('ca')}, subjectAltNames: [evil.example.com]}`) +
          entry('segood', `{mode: SIMPLE, caCertificates: ${f('ca')}}`, 'ext.example.com') +
          entry('sebad', `{mode: SIMPLE, caCertificates: ${f('ca')}}`, 'evil.example.com') +
          entry(
            'seoverride',
            `{mode: SIMPLE, caCertificates: ${f('ca')}, subjectAltNames: [ext.example.com]}`,
            'evil.example.com'
          ) +
          entry(
            'mutual',
            `{mode: MUTUAL, caCertificates: ${f('ca')}, clientCertificate: ${f('clientCert')}, privateKey: ${f('clientKey')}, subjectAltNames: [ext.example.com]}`
          )
      }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  await m.close();
  await caller.close();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const call = (host: string, p: string) => viaProxy(m.outbound('caller-v1'), host, p);

describe('DestinationRule tls SIMPLE and MUTUAL', () => {
  it('SIMPLE with caCertificates only: the server is verified against them, no client certificate', async () => {
    const r = await call('simple.example.com', '/a');
    expect(r.status).toBe(200);
    expect(r.body).toBe('tls ok');
    expect(clients.at(-1)).toBe('');
  });
  it('SIMPLE with insecureSkipVerify: no CA needed', async () => {
    expect((await call('skip.example.com', '/b')).body).toBe('tls ok');
  });
  it('subjectAltNames: a matching name passes; one that does not fails the handshake, pooled connections or not', async () => {
    const bad1 = await call('bad.example.com', '/d1');
    expect(bad1.status).toBe(503);
    expect(bad1.body).toContain('CERTIFICATE_VERIFY_FAILED');
    expect((await call('good.example.com', '/c')).body).toBe('tls ok');
    // a connection the good rule verified and pooled must not serve the bad rule's request
    const bad2 = await call('bad.example.com', '/d2');
    expect(bad2.status).toBe(503);
    expect(bad2.body).toContain('CERTIFICATE_VERIFY_FAILED');
  });
  it("a ServiceEntry's subjectAltNames are verified when the DestinationRule names none; the rule's take precedence", async () => {
    const bad = await call('sebad.example.com', '/e1');
    expect(bad.status).toBe(503);
    expect(bad.body).toContain('CERTIFICATE_VERIFY_FAILED');
    expect((await call('segood.example.com', '/e2')).body).toBe('tls ok');
    expect((await call('seoverride.example.com', '/e3')).body).toBe('tls ok');
  });
  it('MUTUAL: the server gets the client certificate from the rule', async () => {
    const r = await call('mutual.example.com', '/m');
    expect(r.body).toBe('tls ok');
    expect(clients.at(-1)).toBe('client.example.com');
  });
});
