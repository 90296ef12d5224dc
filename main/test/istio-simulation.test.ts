/**
 * Integration: cases from Istio's pilot simulation tests (pilot/pkg/networking/core/sidecar_simulation_test.go,
 * serviceentry_simulation_test.go, httproute_test.go), which push config through pilot and simulate a request
 * against the generated Envoy config. Here each simulated request is a real request through a caller's outbound
 * sidecar, and the cluster it would hit is the stub that answers (or the 502 of REGISTRY_ONLY's block_all).
 */
import net from 'node:net';
import http from 'node:http';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let client: Stub, scoped: Stub, wide: Stub, known: Stub, alt: Stub, api: Stub, web: Stub, pair: Stub, teamer: Stub;
let http80: http.Server, http8080: http.Server;
let db: net.Server, db2: net.Server;
let m: Running;

const listen = async (body: string) => {
  const s = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
};
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

beforeAll(async () => {
  [client, scoped, wide, known, alt, api, web, pair, teamer] = await Promise.all(
    ['client', 'scoped', 'wide', 'known', 'alt', 'api', 'web', 'pair', 'teamer'].map((n) => stub(n))
  );
  [http80, http8080] = await Promise.all([listen('port 80'), listen('port 8080')]);
  // server-first TCP apps: each greets with its name
  [db, db2] = await Promise.all(
    ['db', 'db2'].map(async (name) => {
      const s = net.createServer((c) => c.end(name));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return s;
    })
  );
  const istio = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: scoped}
spec:
  workloadSelector: {labels: {app: scoped}}
  egress: [{hosts: ["./*"]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: wide}
spec:
  workloadSelector: {labels: {app: wide}}
  egress: [{hosts: ["./*", "team/*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: known-from-team, namespace: team}
spec:
  hosts: [known.default.svc.cluster.local]
  http:
  - route: [{destination: {host: alt.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db-from-team, namespace: team}
spec:
  hosts: [db.default.svc.cluster.local]
  tcp:
  - route: [{destination: {host: db2.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ghost}
spec:
  hosts: [ghost]
  http:
  - route: [{destination: {host: alt}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: alt-aliases}
spec:
  hosts: [alt, alt-alias.internal]
  http:
  - route: [{destination: {host: alt}}]
    headers: {response: {set: {x-vs: alt-aliases}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-ext}
spec:
  hosts: [api.ext.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${api.port}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wild-ext}
spec:
  hosts: ["*.ext.internal"]
  http:
  - route: [{destination: {host: api.ext.internal}}]
    headers: {response: {set: {x-vs: wild-ext}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-dotted}
spec:
  hosts: [web.default]
  http:
  - route: [{destination: {host: alt}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pair-newer, creationTimestamp: "2021-01-01T00:00:00Z"}
spec:
  hosts: [pair]
  http:
  - route: [{destination: {host: known}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pair-older, namespace: team, creationTimestamp: "2019-01-01T00:00:00Z"}
spec:
  hosts: [pair.default.svc.cluster.local]
  http:
  - route: [{destination: {host: alt.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: squat-web}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${api.port}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: opaque}
spec:
  hosts: [opaque.example.org]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: 9000, name: tcp, protocol: TCP, targetPort: ${portOf(http80)}}
  - {number: 9001, name: http, protocol: HTTP, targetPort: ${portOf(http80)}}
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: opaque-fault}
spec:
  hosts: [opaque.example.org]
  http:
  - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: opaque.example.org}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shared-team, namespace: team}
spec:
  hosts: [shared.example.org]
  exportTo: ["."]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${portOf(http80)}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shared-other, namespace: other}
spec:
  hosts: [shared.example.org]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP, targetPort: ${portOf(http8080)}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi-http}
spec:
  hosts: [multi.example.org]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${portOf(http80)}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi-alt}
spec:
  hosts: [multi.example.org]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http-alt, protocol: HTTP, targetPort: ${portOf(http8080)}}]
  endpoints: [{address: 127.0.0.1}]
`;
  m = await startMesh(
    {
      meshYaml: meshYaml(
        {
          client: { workloads: [{ name: 'client-v1', instances: [client.address] }] },
          scoped: { workloads: [{ name: 'scoped-v1', instances: [scoped.address] }] },
          wide: { workloads: [{ name: 'wide-v1', instances: [wide.address] }] },
          known: { workloads: [{ name: 'known-v1', instances: [known.address] }] },
          alt: { workloads: [{ name: 'alt-v1', instances: [alt.address] }] },
          web: { port: 80, workloads: [{ name: 'web-v1', instances: [web.address] }] },
          pair: { workloads: [{ name: 'pair-v1', instances: [pair.address] }] },
          teamer: { namespace: 'team', workloads: [{ name: 'teamer-v1', instances: [teamer.address] }] },
          db: { protocol: 'tcp', workloads: [{ name: 'db-v1', instances: [`127.0.0.1:${portOf(db)}`] }] },
          db2: { protocol: 'tcp', workloads: [{ name: 'db2-v1', instances: [`127.0.0.1:${portOf(db2)}`] }] }
        },
        '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}'
      ),
      istio: { 'istio.yaml': istio }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([client, scoped, wide, known, alt, api, web, pair, teamer].map((s) => s.close()));
  http80.close();
  http8080.close();
  db.close();
  db2.close();
});

const from = (w: string, host: string) => viaProxy(m.outbound(w), host, '/x');
const stubOf = (r: { status: number; body: string }) => (r.status === 200 ? JSON.parse(r.body).stub : r.status);

describe('Sidecar egress hosts import VirtualServices too (TestSidecarRoutes "sidecar filter", cross namespace)', () => {
  it('a caller without a Sidecar gets the VirtualService of another namespace (exportTo "*")', async () => {
    expect(stubOf(await from('client-v1', 'known:9080'))).toBe('alt');
  });
  it('egress "./*" imports the services of its namespace but not a VirtualService written in another: default route', async () => {
    expect(stubOf(await from('scoped-v1', 'known:9080'))).toBe('known');
  });
  it('egress "team/*" imports the VirtualServices of namespace team', async () => {
    expect(stubOf(await from('wide-v1', 'known:9080'))).toBe('alt');
  });
  it('the same for tcp routes: a connection to db goes to db2 only where the VirtualService is imported', async () => {
    const greeting = (w: string) =>
      new Promise<string>((resolve, reject) => {
        let got = '';
        net
          .connect(m.upstream(w, 'db'), '127.0.0.1')
          .on('data', (d) => (got += d.toString()))
          .on('close', () => resolve(got))
          .on('error', reject);
      });
    expect(await greeting('client-v1')).toBe('db2');
    expect(await greeting('scoped-v1')).toBe('db');
    expect(await greeting('wide-v1')).toBe('db2');
  });
});

describe('a VirtualService\'s hosts that name no service (httproute_test "virtual service hosts with subsets")', () => {
  it("are virtual hosts on the ports of the services it names: alt-alias.internal:9080 goes by the VirtualService's routes", async () => {
    const r = await from('client-v1', 'alt-alias.internal:9080');
    expect(stubOf(r)).toBe('alt');
    expect(r.headers['x-vs']).toBe('alt-aliases');
  });
  it('a short host naming no service is its FQDN alone, on port 80: no short-name forms', async () => {
    expect(stubOf(await from('client-v1', 'ghost.default.svc.cluster.local'))).toBe('alt');
    expect((await from('client-v1', 'ghost')).status).toBe(502);
  });
  it('and not on port 80, where no service of the VirtualService listens: block_all (502) under REGISTRY_ONLY', async () => {
    const r = await from('client-v1', 'alt-alias.internal');
    expect(r.status).toBe(502);
    expect(alt.seen.some((s) => s.headers.host === 'alt-alias.internal')).toBe(false);
  });
  it('a wildcard host that matches a service applies to it (TestSidecarRoutes "wildcard match with sidecar")', async () => {
    const r = await from('client-v1', 'api.ext.internal');
    expect(stubOf(r)).toBe('api');
    expect(r.headers['x-vs']).toBe('wild-ext');
  });
  it('and makes no wildcard virtual host of its own: another name under it is an unknown host (502)', async () => {
    const r = await from('client-v1', 'nope.ext.internal');
    expect(r.status).toBe(502);
    expect(api.seen.some((s) => s.headers.host === 'nope.ext.internal')).toBe(false);
  });
});

describe('several VirtualServices for one host (TestSidecarRoutes "cross namespace conflict")', () => {
  it('the oldest by creationTimestamp wins for sidecars, whatever its namespace and file order', async () => {
    expect(stubOf(await from('client-v1', 'pair:9080'))).toBe('alt');
  });
});

describe('a ServiceEntry naming a Kubernetes service host of its namespace (ServiceEntry vs Service)', () => {
  it("the service keeps the host: the entry's endpoint gets nothing", async () => {
    const before = api.seen.length;
    expect(stubOf(await from('client-v1', 'web.default.svc.cluster.local'))).toBe('web');
    expect(api.seen.length).toBe(before);
  });
});

describe('a VirtualService host written as a partial name (httproute_test "virtual service conflict")', () => {
  it('host `web.default` is not qualified: it routes a request whose Host is literally web.default (port 80)', async () => {
    expect(stubOf(await from('client-v1', 'web.default'))).toBe('alt');
  });
  it('and not the service under its other names: `web` and the FQDN keep the default route', async () => {
    expect(stubOf(await from('client-v1', 'web'))).toBe('web');
    expect(stubOf(await from('client-v1', 'web.default.svc.cluster.local'))).toBe('web');
  });
});

describe('ServiceEntries for one host in two namespaces (exportTo; the entries do not merge)', () => {
  it('a caller sees the one exported to it: from default, the public entry of namespace other (port 8080)', async () => {
    const r = await from('client-v1', 'shared.example.org:8080');
    expect(r.status).toBe(200);
    expect(r.body).toBe('port 8080');
  });
  it("the same through a CONNECT tunnel (HTTPS_PROXY): the public entry's endpoint is reached", async () => {
    const sock = net.connect(m.outbound('client-v1'), '127.0.0.1');
    let got = '';
    sock.on('data', (d) => (got += d.toString()));
    await new Promise((r) => sock.once('connect', r));
    sock.write('CONNECT shared.example.org:8080 HTTP/1.1\r\nhost: shared.example.org:8080\r\n\r\n');
    await until(() => got.includes('\r\n\r\n'), 'the tunnel');
    expect(got.split('\r\n')[0]).toBe('HTTP/1.1 200 Connection Established');
    got = '';
    sock.write('GET / HTTP/1.1\r\nhost: shared.example.org\r\nconnection: close\r\n\r\n');
    await new Promise((r) => sock.once('close', r));
    expect(got).toContain('port 8080');
  });
  it("a caller of team gets its namespace's private entry first; the other namespace's port is not merged in", async () => {
    const r = await from('teamer-v1', 'shared.example.org:80');
    expect(r.status).toBe(200);
    expect(r.body).toBe('port 80');
    expect((await from('teamer-v1', 'shared.example.org:8080')).status).toBe(502);
  });
});

describe('protocol per port (TestPassthroughTraffic, TestInbound "http to tcp")', () => {
  it("a ServiceEntry port declared TCP has no HTTP routes: the VirtualService's http rules do not apply there", async () => {
    const r = await from('client-v1', 'opaque.example.org:9000');
    expect(r.status).toBe(200);
    expect(r.body).toBe('port 80');
  });
  it('they apply on its HTTP port', async () => {
    expect((await from('client-v1', 'opaque.example.org:9001')).status).toBe(418);
  });
});

describe('ServiceEntries sharing a host (TestServiceEntryDuplicatedHostname)', () => {
  it("two entries of one namespace for one host merge their ports: each port reaches its own entry's endpoint", async () => {
    const r80 = await from('client-v1', 'multi.example.org');
    expect(r80.status).toBe(200);
    expect(r80.body).toBe('port 80');
    const r8080 = await from('client-v1', 'multi.example.org:8080');
    expect(r8080.status).toBe(200);
    expect(r8080.body).toBe('port 8080');
  });
});

describe('PeerAuthentication port-level and scope (peer_authentication_simulation_test TestPeerAuthenticationPassthrough)', () => {
  let caller: Stub, ps: Stub, pd: Stub, psvc: Stub, nsd: Stub, nso: Stub, two: Stub;
  let pm: Running;
  beforeAll(async () => {
    [caller, ps, pd, psvc, nsd, nso, two] = await Promise.all(
      ['caller', 'ps', 'pd', 'psvc', 'nsd', 'nso', 'two'].map((n) => stub(n))
    );
    const pa = (
      name: string,
      ns: string,
      app: string | undefined,
      mode: string,
      port?: [number, string],
      created = '2020-01-01T00:00:00Z'
    ) =>
      `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${created}"}
spec:
${app ? `  selector: {matchLabels: {app: ${app}}}\n` : ''}  mtls: {mode: ${mode}}
${port ? `  portLevelMtls: {"${port[0]}": {mode: ${port[1]}}}\n` : ''}`;
    pm = await startMesh(
      {
        meshYaml: meshYaml({
          caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
          ps: { workloads: [{ name: 'ps-v1', instances: [ps.address] }] },
          pd: { workloads: [{ name: 'pd-v1', instances: [pd.address] }] },
          psvc: { workloads: [{ name: 'psvc-v1', instances: [psvc.address] }] },
          nsd: { namespace: 'sec', workloads: [{ name: 'nsd-v1', instances: [nsd.address] }] },
          nso: { namespace: 'sec', workloads: [{ name: 'nso-v1', instances: [nso.address] }] },
          two: { workloads: [{ name: 'two-v1', instances: [two.address] }] }
        }),
        istio: {
          'pa.yaml': [
            pa('ps', 'default', 'ps', 'STRICT', [ps.port, 'DISABLE']),
            pa('pd', 'default', 'pd', 'DISABLE', [pd.port, 'STRICT']),
            // the service port (9080) is not the workload's port: the entry matches no port, STRICT holds
            pa('psvc', 'default', 'psvc', 'STRICT', [9080, 'DISABLE']),
            pa('default', 'sec', undefined, 'STRICT'),
            pa('nso', 'sec', 'nso', 'PERMISSIVE'),
            // two selector policies for one workload: the oldest counts, whatever the file order
            pa('two-newer', 'default', 'two', 'STRICT', undefined, '2021-01-01T00:00:00Z'),
            pa('two-older', 'default', 'two', 'PERMISSIVE', undefined, '2019-01-01T00:00:00Z')
          ].join('---\n')
        }
      },
      { store: 'memory' }
    );
  });
  afterAll(async () => {
    await pm.close();
    await Promise.all([caller, ps, pd, psvc, nsd, nso, two].map((s) => s.close()));
  });

  /** A plaintext request from a caller without a sidecar, straight to the workload's inbound sidecar. */
  const plaintext = async (workload: string): Promise<string> => {
    const sock = net.connect(pm.inbound(workload), '127.0.0.1');
    let got = '';
    let error = '';
    sock.on('data', (d) => (got += d.toString()));
    sock.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /p HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    await new Promise((r) => sock.once('close', r));
    return got.split('\r\n')[0] || error;
  };

  it('STRICT with the workload port DISABLE: plaintext is served on that port', async () => {
    expect(await plaintext('ps-v1')).toBe('HTTP/1.1 200 OK');
  });
  it('DISABLE with the workload port STRICT: plaintext is reset on that port', async () => {
    expect(await plaintext('pd-v1')).toBe('ECONNRESET');
    expect(pd.seen).toHaveLength(0);
  });
  it('portLevelMtls keyed by the service port instead of the workload port does not apply: STRICT', async () => {
    expect(await plaintext('psvc-v1')).toBe('ECONNRESET');
  });
  it('a selector policy overrides its namespace-wide policy; the namespace-wide one holds for the rest', async () => {
    expect(await plaintext('nso-v1')).toBe('HTTP/1.1 200 OK');
    expect(await plaintext('nsd-v1')).toBe('ECONNRESET');
  });
  it('of two selector policies for one workload the oldest by creationTimestamp applies (PERMISSIVE here)', async () => {
    expect(await plaintext('two-v1')).toBe('HTTP/1.1 200 OK');
  });
  it('a caller with a sidecar reaches both ports: plaintext to DISABLE (auto-mTLS), mutual TLS to STRICT', async () => {
    const to = (host: string, id: string) =>
      viaProxy(pm.outbound('caller-v1'), host, '/m', { headers: { 'x-request-id': id } });
    const flowsOf = async (id: string) => (await pm.mesh.listFlows({ limit: 50 })).filter((f) => f.requestId === id);
    expect((await to('ps:9080', 'pa-1')).status).toBe(200);
    expect((await to('pd:9080', 'pa-2')).status).toBe(200);
    expect((await flowsOf('pa-1')).find((f) => f.reporter === 'destination')?.connectionSecurity).toBe('none');
    expect((await flowsOf('pa-2')).find((f) => f.reporter === 'destination')?.connectionSecurity).toBe('mutual_tls');
  });
});

describe('TLS that the inbound sidecar does not terminate, by declared protocol (sidecar_simulation_test TestInbound)', () => {
  let hp: Stub, hd: Stub, ap: Stub;
  let im: Running;
  let hello: Buffer;
  beforeAll(async () => {
    [hp, hd, ap] = await Promise.all(['hp', 'hd', 'ap'].map((n) => stub(n)));
    im = await startMesh(
      {
        meshYaml: meshYaml({
          hp: { protocol: 'http', workloads: [{ name: 'hp-v1', instances: [hp.address] }] },
          hd: { protocol: 'http', workloads: [{ name: 'hd-v1', instances: [hd.address] }] },
          ap: { workloads: [{ name: 'ap-v1', instances: [ap.address] }] }
        }),
        istio: {
          'pa.yaml': `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: hd}
spec:
  selector: {matchLabels: {app: hd}}
  mtls: {mode: DISABLE}
`
        }
      },
      { store: 'memory' }
    );
    // a TLS ClientHello without Istio's ALPN, as a caller's own TLS client sends it
    const grab = net.createServer();
    await new Promise<void>((r) => grab.listen(0, '127.0.0.1', r));
    hello = await new Promise<Buffer>((resolve) => {
      grab.once('connection', (c) => c.once('data', (d: Buffer) => (resolve(d), c.destroy())));
      tls
        .connect({ port: (grab.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'hp' })
        .on('error', () => {});
    });
    grab.close();
  });
  afterAll(async () => {
    await im.close();
    await Promise.all([hp, hd, ap].map((s) => s.close()));
  });

  /** The bytes the inbound sidecar sends back to a ClientHello before the connection closes. */
  const answer = async (workload: string): Promise<string> => {
    const sock = net.connect(im.inbound(workload), '127.0.0.1');
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write(hello);
    await new Promise((r) => sock.once('close', r));
    return got;
  };

  it('PERMISSIVE, port declared HTTP: no filter chain matches, the connection closes with nothing sent', async () => {
    expect(await answer('hp-v1')).toBe('');
  });
  it("DISABLE, port declared HTTP: the plaintext HTTP chain's codec answers 400 Bad Request", async () => {
    const got = await answer('hd-v1');
    expect(got.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(got).toContain('server: istio-envoy');
  });
  it('PERMISSIVE, port left to detection: the TLS goes to the app as TCP (its own answer comes back)', async () => {
    const got = await answer('ap-v1');
    expect(got.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(got).not.toContain('istio-envoy');
  });
});
