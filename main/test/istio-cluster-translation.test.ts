/**
 * Integration: how Istio turns a DestinationRule into the client sidecar's clusters (pilot's cluster_tls,
 * cluster_traffic_policy and cluster_builder unit tests), seen through real requests: what the upstream gets (TLS or
 * plaintext, which SNI, a client certificate). Real servers on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadPort, meshYaml, request, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub;
let web: Stub;
let plain: Stub;
let guarded: Stub;
let named: Stub;
let widened: Stub;
let selected: Stub;
let m: Running;
/** A TLS server that records the SNI of every ClientHello it gets, and a plaintext HTTP server. */
let sniff: tls.Server;
let http1: http.Server;
const hellos: { sni: string | null }[] = [];
/** An HTTPS server whose certificate a CRL of its CA revokes (caCrl); its files in `pkiDir`. */
let revoked: https.Server;
let pkiDir: string;

/** A CA, a server certificate it issues for crl.example.com, and two CRLs of the CA: one empty, one revoking it. */
function crlPki(dir: string): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=crl test CA', '-days', '2');
  run('req', '-new', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=crl.example.com');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:crl.example.com\n');
  run(
    'x509',
    '-req',
    '-in',
    'srv.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '7',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
    '-out',
    'srv.pem'
  );
  fs.writeFileSync(path.join(dir, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'crlnumber'), '01\n');
  fs.writeFileSync(
    path.join(dir, 'ca.cnf'),
    '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n'
  );
  const ca = ['-config', 'ca.cnf', '-keyfile', 'ca.key', '-cert', 'ca.pem'];
  run('ca', ...ca, '-gencrl', '-out', 'empty-crl.pem');
  run('ca', ...ca, '-revoke', 'srv.pem');
  run('ca', ...ca, '-gencrl', '-out', 'revoked-crl.pem');
}

beforeAll(async () => {
  const now = Date.now();
  const self = await generate([{ name: 'commonName', value: 'sniff.example.com' }], {
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + 3600_000)
  });
  const context = tls.createSecureContext({ key: self.private, cert: self.cert });
  sniff = tls.createServer({
    key: self.private,
    cert: self.cert,
    SNICallback: (name, cb) => {
      hellos.push({ sni: name });
      cb(null, context);
    }
  });
  sniff.on('tlsClientError', () => undefined);
  http1 = http.createServer((_req, res) => res.end('plain'));
  const listen = async (s: net.Server) => {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as net.AddressInfo).port;
  };
  const tlsPort = await listen(sniff);
  const plainPort = await listen(http1);
  const dead = await deadPort();
  pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-crl-'));
  crlPki(pkiDir);
  const pem = (f: string) => path.join(pkiDir, f);
  revoked = https.createServer(
    { key: fs.readFileSync(pem('srv.key')), cert: fs.readFileSync(pem('srv.pem')) },
    (_req, res) => res.end('crl tls ok')
  );
  const revokedPort = await listen(revoked);
  const crlTls = (crl: string) =>
    `{mode: SIMPLE, caCertificates: ${pem('ca.pem')}, caCrl: ${pem(crl)}, subjectAltNames: [crl.example.com]}`;
  const entry = (name: string, tlsSpec: string, port = tlsPort) => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}.example.com]
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
  web = await stub('web');
  plain = await stub('plain');
  named = await stub('named');
  const slow = (_req: unknown, res: http.ServerResponse): void => {
    setTimeout(() => res.end('slow'), 300);
  };
  guarded = await stub('guarded', slow);
  widened = await stub('widened', slow);
  selected = await stub('selected', slow);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
        plain: { workloads: [{ name: 'plain-v1', instances: [plain.address] }] },
        named: { workloads: [{ name: 'named-v1', instances: [named.address] }] },
        guarded: { workloads: [{ name: 'guarded-v1', instances: [guarded.address] }] },
        widened: { workloads: [{ name: 'widened-v1', instances: [widened.address] }] },
        selected: { workloads: [{ name: 'selected-v1', instances: [selected.address] }] }
      }),
      istio: {
        'rules.yaml':
          entry('istiosni', '{mode: ISTIO_MUTUAL, sni: custom.sni.example}') +
          entry('istiodefault', '{mode: ISTIO_MUTUAL}') +
          entry('cred', '{mode: SIMPLE, credentialName: ext-credential}', plainPort) +
          entry('crlok', crlTls('empty-crl.pem'), revokedPort) +
          entry('crlrevoked', crlTls('revoked-crl.pem'), revokedPort) +
          `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: named}
spec: {host: named, trafficPolicy: {tls: {mode: ISTIO_MUTUAL, sni: any.name.example}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: guarded}
spec:
  host: guarded
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 5}, http: {http1MaxPendingRequests: 5}}
    portLevelSettings:
    - port: {number: 9080}
      connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: widened}
spec:
  host: widened
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: selected}
spec:
  host: selected
  workloadSelector: {matchLabels: {app: selected}}
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: widened}
spec:
  workloadSelector: {labels: {app: widened}}
  inboundConnectionPool: {tcp: {maxConnections: 10}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: refused}
spec:
  hosts: [refused.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${dead}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: refused}
spec:
  hosts: [refused.example.com]
  http: [{route: [{destination: {host: refused.example.com}}], retries: {attempts: 0}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: refused}
spec:
  host: refused.example.com
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 1
      splitExternalLocalOriginErrors: true
      consecutiveLocalOriginFailures: 3
      baseEjectionTime: 60s
      maxEjectionPercent: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: plain}
spec: {host: plain, trafficPolicy: {tls: {sni: plain.custom.example}}}
`
      }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([
    caller.close(),
    web.close(),
    plain.close(),
    named.close(),
    guarded.close(),
    widened.close(),
    selected.close()
  ]);
  sniff.close();
  http1.close();
  revoked.close();
  fs.rmSync(pkiDir, { recursive: true, force: true });
  http1.closeAllConnections();
});

const call = (host: string, p: string) => viaProxy(m.outbound('caller-v1'), host, p);

describe('DestinationRule tls as Istio builds the cluster (cluster_tls.go)', () => {
  it('no tls in the rule: auto mTLS to a workload with a sidecar (the app gets x-forwarded-client-cert)', async () => {
    const r = await call('web:9080', '/auto');
    expect(r.status).toBe(200);
    expect(web.seen.at(-1)!.headers['x-forwarded-client-cert']).toBeDefined();
  });

  it('a tls block without a mode is DISABLE, not auto mTLS: plaintext to the sidecar, no client certificate', async () => {
    const r = await call('plain:9080', '/nomode');
    expect(r.status).toBe(200);
    expect(plain.seen.at(-1)!.url).toBe('/nomode');
    expect(plain.seen.at(-1)!.headers['x-forwarded-client-cert']).toBeUndefined();
  });

  it("ISTIO_MUTUAL sends the rule's sni when it names one", async () => {
    hellos.length = 0;
    const r = await call('istiosni.example.com', '/sni');
    expect(r.status).toBe(503);
    expect(hellos.length).toBeGreaterThan(0);
    expect(hellos.map((h) => h.sni)).toEqual(hellos.map(() => 'custom.sni.example'));
  });

  it("ISTIO_MUTUAL with the rule's sni to a sidecar: its inbound listener does not match on SNI, mutual TLS as usual", async () => {
    const r = await call('named:9080', '/named');
    expect(r.status).toBe(200);
    expect(String(named.seen.at(-1)!.headers['x-forwarded-client-cert'])).toContain('spiffe://');
  });

  it('ISTIO_MUTUAL without sni sends the cluster name as SNI', async () => {
    hellos.length = 0;
    const r = await call('istiodefault.example.com', '/sni');
    expect(r.status).toBe(503);
    expect(hellos[0]?.sni).toBe('outbound_.80_._.istiodefault.example.com');
  });

  it('SIMPLE with a credentialName in a rule without workloadSelector: the sidecar builds no TLS, plaintext', async () => {
    const r = await call('cred.example.com', '/cred');
    expect(r.status).toBe(200);
    expect(r.body).toBe('plain');
  });

  it('SIMPLE with caCrl: a server certificate the CRL revokes fails verification; one it does not, passes', async () => {
    const ok = await call('crlok.example.com', '/crl');
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('crl tls ok');
    const r = await call('crlrevoked.example.com', '/crl');
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/^upstream connect error .*TLS/);
  });
});

describe('outlierDetection as Istio builds the cluster (cluster_traffic_policy.go)', () => {
  it('splitExternalLocalOriginErrors: connect failures eject after consecutiveLocalOriginFailures, not as 5xx', async () => {
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await call('refused.example.com', `/refused${i}`)).body);
    // consecutive5xxErrors 1 does not count them: the first three reach the endpoint and fail to connect
    for (const b of bodies.slice(0, 3)) expect(b).toMatch(/^upstream connect error .*connection failure/);
    expect(bodies[3]).toBe('no healthy upstream');
  });
});

describe("the DestinationRule's connectionPool at the destination's inbound cluster (cluster.go, TestConnectionPoolSettings)", () => {
  const direct = (w: string, host: string, i: number) =>
    request(m.inbound(`${w}-v1`), `/in${i}`, { headers: { host: `${host}:9080` } });

  it("without a Sidecar inboundConnectionPool, the rule for the workload's service limits its inbound sidecar", async () => {
    // callers without a sidecar, straight to the inbound sidecar: the service port's portLevelSettings apply
    const rs = await Promise.all([1, 2, 3, 4].map((i) => direct('guarded', 'guarded', i)));
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 503, 503]);
    for (const r of rs.filter((x) => x.status === 503)) expect(r.headers['x-envoy-overloaded']).toBe('true');
    const flows = (await m.mesh.listFlows({ limit: 100 })).filter((f) => /^\/in\d$/.test(f.path) && f.status === 503);
    expect(flows.map((f) => [f.reporter, f.flags])).toEqual([
      ['destination', 'UO'],
      ['destination', 'UO']
    ]);
  });

  it('a rule with a workloadSelector applies to outbound clusters only, never to the inbound one', async () => {
    const rs = await Promise.all([1, 2, 3, 4].map((i) => direct('selected', 'selected', i)));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });

  it("a Sidecar's inboundConnectionPool replaces the rule's at the inbound sidecar", async () => {
    const rs = await Promise.all([1, 2, 3, 4].map((i) => direct('widened', 'widened', i)));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });
});
