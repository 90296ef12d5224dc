/**
 * Integration: a ServiceEntry's ports (istio-semantics §1.6). Istio builds one cluster per port of an entry,
 * `outbound|<port>||<host>`, holding each endpoint at that port's target (the endpoint's `ports` entry, else the
 * port's `targetPort`, else its number); a DNS entry without endpoints is its host at that target. So a request to
 * port 80 never reaches the endpoint of port 443, Istio's egress TLS origination task (port 80 with `targetPort:
 * 443` and a DestinationRule `tls: SIMPLE`) reaches the server's TLS port, and an app's HTTPS through the sidecar
 * (here a CONNECT tunnel) reaches port 443's endpoint. The client sidecar's istio_tcp_* samples for a connection to
 * an entry's endpoint are labelled from that endpoint's metadata, as its requests are.
 */
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../transports/http/admin-server.js';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, web: Stub, tlsPortStub: Stub;
let secure: https.Server;
let echo443: net.Server;
let m: Running;
let admin: AdminServer;
let dir: string;

/** A TCP app that answers each chunk with its name (the stand-in for port 443 of the external host). */
async function echo(name: string): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('data', (c: Buffer) => s.write(Buffer.concat([Buffer.from(`${name}:`), c])));
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

/** CONNECT `authority` through the outbound port, send `hello\n`, read until the echo (or the end). */
function tunnel(authority: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(m.outbound('caller-v1'), '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => (s.destroy(), resolve(`${got}<timeout>`)), 5000);
    s.on('connect', () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\nhello\n`));
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.endsWith('hello\n')) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.on('close', () => (clearTimeout(timer), resolve(got)));
    s.on('error', () => s.destroy());
  });
}

beforeAll(async () => {
  const validity = { notBeforeDate: new Date(Date.now() - 60_000), notAfterDate: new Date(Date.now() + 3600_000) };
  const ca = await generate([{ name: 'commonName', value: 'egress test CA' }], {
    ...validity,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true }
    ]
  });
  const leaf = await generate([{ name: 'commonName', value: 'edition.example.com' }], {
    ...validity,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'edition.example.com' }] }
    ]
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-se-ports-'));
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.cert);
  secure = https.createServer({ key: leaf.private, cert: leaf.cert }, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`tls origin got ${req.url} for ${req.headers.host}`);
  });
  await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
  [caller, web, tlsPortStub] = await Promise.all([stub('caller'), stub('web-80'), stub('web-443')]);
  echo443 = await echo('tls-port');
  const entries = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP}
  - {number: 443, name: https, protocol: HTTPS}
  endpoints: [{address: 127.0.0.1, ports: {http: ${web.port}, https: ${tlsPortStub.port}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: ${web.port}}
  - {number: 443, name: https, protocol: HTTPS, targetPort: ${portOf(echo443)}}
  endpoints: [{address: 127.0.0.1, labels: {app: shop-api, version: v7}}]
---
# istio.io "Egress TLS Origination": port 80 goes to the host's 443 (here the TLS stand-in's port) and the
# sidecar originates TLS; the app sends plain HTTP
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: origin}
spec:
  hosts: [edition.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 80, name: http-port, protocol: HTTP, targetPort: ${portOf(secure)}}
  - {number: 443, name: https-port, protocol: HTTPS}
  endpoints: [{address: localhost}]
---
# a DNS entry without endpoints is its host (the only name that resolves here: localhost) at the targetPort
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: by-name}
spec:
  hosts: [localhost]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: ${web.port}}
  - {number: 443, name: https, protocol: HTTPS, targetPort: ${tlsPortStub.port}}
---
# istio.io "Egress using Wildcard Hosts": a wildcard entry that sets no resolution (NONE, Istio's default); here its
# address stands for where the app's DNS would take it
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wildcard}
spec:
  hosts: ["*.wiki.example"]
  addresses: [127.0.0.1]
  ports:
  - {number: ${web.port}, name: http, protocol: HTTP}
  - {number: ${portOf(echo443)}, name: https, protocol: HTTPS}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: origin}
spec:
  host: edition.example.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE, caCertificates: ${path.join(dir, 'ca.pem')}}
`;
  m = await startMesh(
    {
      meshYaml: meshYaml({ caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] } }),
      istio: { 'egress.yaml': entries }
    },
    { store: 'memory' }
  );
  admin = await startAdminServer(m.mesh, { port: 0, metrics: () => m.mesh.metrics(), token: 'secret' });
});
afterAll(async () => {
  await admin?.close();
  await m?.close();
  await Promise.all([caller, web, tlsPortStub].map((s) => s?.close()));
  secure?.close();
  echo443?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("a ServiceEntry's ports are separate clusters", () => {
  it('a ServiceEntry without resolution is NONE (the original destination), for HTTP and for a tunnel', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), `127.0.0.1:${web.port}`, '/wiki');
    expect(r.status).toBe(200);
    expect(r.body).toBe(JSON.stringify({ stub: 'web-80', url: '/wiki' }));
    expect(await tunnel(`127.0.0.1:${portOf(echo443)}`)).toBe(
      'HTTP/1.1 200 Connection Established\r\n\r\ntls-port:hello\n'
    );
  });

  it("a request to port 80 always reaches port 80's endpoint (the endpoint's ports, or the port's targetPort)", async () => {
    for (const host of ['api.example.com', 'shop.example.com']) {
      const bodies = new Set<string>();
      for (let i = 0; i < 8; i++)
        bodies.add((await viaProxy(m.outbound('caller-v1'), host, `/p${i}`)).body.slice(0, 17));
      expect([...bodies]).toEqual(['{"stub":"web-80",']);
    }
    expect(tlsPortStub.seen).toEqual([]);
  });

  it('egress TLS origination: plain HTTP to port 80 leaves as TLS to the targetPort (SNI and name: the Host)', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'edition.example.com', '/politics');
    expect(r.status).toBe(200);
    expect(r.body).toBe('tls origin got /politics for edition.example.com');
  });

  it('a DNS entry without endpoints is its host at the targetPort of the port asked for', async () => {
    for (let i = 0; i < 3; i++)
      expect((await viaProxy(m.outbound('caller-v1'), 'localhost', `/n${i}`)).body).toBe(
        JSON.stringify({ stub: 'web-80', url: `/n${i}` })
      );
  });

  it("an app's HTTPS through the sidecar (CONNECT) reaches port 443's endpoint, and its TCP metrics name the endpoint", async () => {
    for (let i = 0; i < 4; i++)
      expect(await tunnel('shop.example.com:443')).toBe('HTTP/1.1 200 Connection Established\r\n\r\ntls-port:hello\n');
    const line = await until(async () => {
      const text = await (await fetch(`${admin.url}/metrics`)).text();
      return text
        .split('\n')
        .find(
          (l) =>
            l.startsWith('istio_tcp_connections_opened_total{reporter="source"') &&
            l.includes('destination_service="shop.example.com"')
        );
    }, 'a source TCP sample of shop.example.com');
    // the endpoint's metadata: its labels' canonical service and revision, the registry's cluster; no workload
    expect(line).toContain(
      'destination_workload="unknown",destination_workload_namespace="unknown",destination_principal="unknown",destination_app="unknown",destination_version="unknown",destination_service="shop.example.com",destination_canonical_service="shop-api",destination_canonical_revision="v7",destination_service_name="shop.example.com",destination_service_namespace="unknown",destination_cluster="Kubernetes",request_protocol="tcp",response_flags="-",connection_security_policy="unknown"'
    );
  });
});
