/**
 * Integration: the cases of Istio's telemetry integration tests (tests/integration/telemetry: api/stats_test.go with
 * common/stats.go, and outboundtrafficpolicy/) as they apply to sidecars, against a real mesh and its /metrics.
 * The stats cases: a-v1 calls b (both with sidecars, STRICT mTLS mesh-wide) and naked (no sidecar) on their http
 * port and b on its tcp port; the labels each reporter gives. The outbound traffic policy cases: a client whose
 * Sidecar imports one other namespace only, under ALLOW_ANY and REGISTRY_ONLY, calling a host it does not know over
 * HTTP, HTTPS (its own TLS, through CONNECT) and TCP, next to a ServiceEntry on the same ports. Then the 4xx/5xx and
 * broken-request samples around them: a route timeout and a caller that leaves (0, DC at the server), a request the
 * HTTP/1 codec cannot parse (400/431, DPE, and its access log line), heads up to Envoy's 60 KiB.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadPort, meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let a: Stub, b: Stub, c: Stub, naked: Stub, clientAny: Stub, clientReg: Stub, dest: Stub;
let bTcp: net.Server, httpsApp: tls.Server, tcpApp: net.Server, bigApp: http.Server;
let m: Running;
/** The access log (`--access-log`) the mesh wrote. */
const logLines: string[] = [];

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

beforeAll(async () => {
  [a, b, c, naked, clientAny, clientReg, dest] = await Promise.all(
    ['a', 'b', 'c', 'naked', 'client-any', 'client-reg', 'destination'].map((n) => stub(n))
  );
  // b's app also answers a non-HTTP stream (its tcp port): it echoes one line
  bTcp = net.createServer((s) => {
    s.on('data', (c: Buffer) => s.end(c));
    s.on('error', () => s.destroy());
  });
  const cert = await generate([{ name: 'commonName', value: 'destination' }], {
    notBeforeDate: new Date(Date.now() - 60_000),
    notAfterDate: new Date(Date.now() + 3600_000)
  });
  httpsApp = tls.createServer({ key: cert.private, cert: cert.cert }, (s) => {
    s.on('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'));
    s.on('error', () => s.destroy());
  });
  tcpApp = net.createServer((s) => {
    s.on('data', (c: Buffer) => s.end(c));
    s.on('error', () => s.destroy());
  });
  // an app that takes heads as large as Envoy does (node:http's default is 16 KiB): echoes x-big's length, answers
  // with as large a header
  bigApp = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('x-big-back', 'b'.repeat(20 * 1024));
      res.end(String(req.headers['x-big']?.length ?? 0));
    });
  });
  await Promise.all([bTcp, httpsApp, tcpApp, bigApp].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));

  const sidecar = (name: string, mode: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}, namespace: echo1}
spec:
  workloadSelector: {labels: {app: ${name}}}
  egress: [{hosts: ["service2/*", "istio-system/*"]}]
  outboundTrafficPolicy: {mode: ${mode}}
`;
  const istio = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: c, namespace: echo1}
spec:
  selector: {matchLabels: {app: c}}
  mtls: {mode: PERMISSIVE}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: c-timeout, namespace: echo1}
spec:
  hosts: [c]
  http:
  - match: [{uri: {prefix: /slow}}]
    timeout: 0.1s
    route: [{destination: {host: c}}]
  - route: [{destination: {host: c}}]
---
${sidecar('client-any', 'ALLOW_ANY')}---
${sidecar('client-reg', 'REGISTRY_ONLY')}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: http, namespace: service2}
spec:
  hosts: [istio.io]
  location: MESH_EXTERNAL
  ports:
  - {name: http-for-https, number: ${portOf(httpsApp)}, protocol: HTTP}
  - {name: http-for-tcp, number: ${portOf(tcpApp)}, protocol: HTTP}
  - {name: http-for-http, number: ${dest.port}, protocol: HTTP}
  resolution: DNS
`;
  type Svc = Parameters<typeof meshYaml>[0][string];
  const ns = (s: Svc): Svc => ({ namespace: 'echo1', port: 80, ...s });
  m = await startMesh(
    {
      meshYaml: meshYaml({
        a: ns({
          workloads: [
            { name: 'a-v1', labels: { app: 'a', version: 'v1' }, serviceAccount: 'a', instances: [a.address] }
          ]
        }),
        b: ns({
          workloads: [
            { name: 'b-v1', labels: { app: 'b', version: 'v1' }, serviceAccount: 'b', instances: [b.address] }
          ]
        }),
        c: ns({
          workloads: [{ name: 'c-v2', labels: { app: 'c', version: 'v2' }, instances: [c.address] }]
        }),
        big: ns({
          workloads: [{ name: 'big-v1', labels: { app: 'big' }, instances: [`127.0.0.1:${portOf(bigApp)}`] }]
        }),
        'b-tcp': ns({
          port: 9090,
          workloads: [
            {
              name: 'b-tcp-v1',
              labels: { app: 'b', version: 'v1' },
              serviceAccount: 'b',
              instances: [`127.0.0.1:${portOf(bTcp)}`]
            }
          ]
        }),
        naked: ns({
          workloads: [
            { name: 'naked-v1', labels: { app: 'naked', version: 'v1' }, instances: [naked.address], sidecar: false }
          ]
        }),
        'client-any': ns({
          workloads: [{ name: 'client-any-v1', labels: { app: 'client-any' }, instances: [clientAny.address] }]
        }),
        'client-reg': ns({
          workloads: [{ name: 'client-reg-v1', labels: { app: 'client-reg' }, instances: [clientReg.address] }]
        }),
        destination: ns({
          workloads: [
            { name: 'destination-v1', labels: { app: 'destination' }, instances: [dest.address], sidecar: false }
          ]
        })
      }),
      istio: { 'istio.yaml': istio }
    },
    { store: 'memory', accessLog: (line) => logLines.push(line) }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([a, b, c, naked, clientAny, clientReg, dest].map((s) => s.close()));
  bigApp.closeAllConnections();
  await Promise.all([bTcp, httpsApp, tcpApp, bigApp].map((s) => new Promise((r) => s.close(r))));
});

/** The lines of `metric` (a counter, or a histogram's `_bucket`/`_count`) whose labels include every one given. */
async function lines(metric: string, labels: Record<string, string>): Promise<string[]> {
  const text = (await m.mesh.metrics()).text;
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${metric}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
}
const value = (l: string | undefined) => Number(l?.split(' ').at(-1));
const listener = (key: string) => m.mesh.listeners().get(key)!;

describe('stats_test.go: TestStatsFilter (STRICT mTLS mesh-wide)', () => {
  const common = {
    request_protocol: 'http',
    response_code: '200',
    source_app: 'a',
    source_version: 'v1',
    source_workload: 'a-v1',
    source_workload_namespace: 'echo1',
    source_cluster: 'Kubernetes'
  };
  it('a-v1 → b: source and destination reporters carry the labels buildQuery expects', async () => {
    const r = await viaProxy(m.outbound('a-v1'), 'b', '/');
    expect(r.status).toBe(200);
    const expected = {
      ...common,
      destination_app: 'b',
      destination_version: 'v1',
      destination_service: 'b.echo1.svc.cluster.local',
      destination_service_name: 'b',
      destination_workload_namespace: 'echo1',
      destination_service_namespace: 'echo1'
    };
    const source = await until(
      async () => (await lines('istio_requests_total', { reporter: 'source', ...expected }))[0],
      'the source sample'
    );
    const destination = await until(
      async () => (await lines('istio_requests_total', { reporter: 'destination', ...expected }))[0],
      'the destination sample'
    );
    // mTLS between the sidecars: both principals at both ends; only the server knows the connection's policy
    for (const l of [source, destination]) {
      expect(l).toContain('source_principal="spiffe://cluster.local/ns/echo1/sa/a"');
      expect(l).toContain('destination_principal="spiffe://cluster.local/ns/echo1/sa/b"');
      expect(l).toContain('source_canonical_service="a",source_canonical_revision="v1"');
      expect(l).toContain('destination_canonical_service="b",destination_canonical_revision="v1"');
      expect(l).toContain('destination_workload="b-v1"');
      expect(l).toContain('destination_cluster="Kubernetes"');
      expect(l).toContain('grpc_response_status="",response_flags="-"');
    }
    expect(source).toContain('connection_security_policy="unknown"');
    expect(destination).toContain('connection_security_policy="mutual_tls"');
  });
  it('ValidateBucket: istio_request_duration_milliseconds has 20 buckets (19 bounds and +Inf)', async () => {
    await viaProxy(m.outbound('a-v1'), 'b', '/');
    const buckets = await lines('istio_request_duration_milliseconds_bucket', {
      source_app: 'a',
      reporter: 'source',
      response_code: '200'
    });
    expect(new Set(buckets.map((l) => /le="([^"]+)"/.exec(l)?.[1])).size).toBe(20);
  });
  it('a-v1 → naked (no sidecar): the client labels it from the endpoint: no app or version', async () => {
    const r = await viaProxy(m.outbound('a-v1'), 'naked', '/');
    expect(r.status).toBe(200);
    const source = await until(
      async () =>
        (
          await lines('istio_requests_total', {
            reporter: 'source',
            ...common,
            destination_app: 'unknown',
            destination_version: 'unknown',
            destination_service: 'naked.echo1.svc.cluster.local',
            destination_service_name: 'naked',
            destination_workload_namespace: 'echo1',
            destination_service_namespace: 'echo1'
          })
        )[0],
      'the source sample to naked'
    );
    // a plaintext upstream: no principal for either end at the client
    expect(source).toContain('source_principal="unknown"');
    expect(source).toContain('destination_principal="unknown"');
    expect(source).toContain('destination_workload="naked-v1"');
    expect(await lines('istio_requests_total', { reporter: 'destination', destination_service_name: 'naked' })).toEqual(
      []
    );
  });
  it('TestStatsTCPFilter: a-v1 → b on its tcp port, istio_tcp_connections_opened_total at the destination', async () => {
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(listener('up:a-v1:b-tcp.echo1'), '127.0.0.1');
      let data = '';
      s.on('connect', () => s.write('PING\n'));
      s.on('data', (c: Buffer) => (data += c.toString()));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    expect(got).toBe('PING\n');
    const line = await until(
      async () =>
        (
          await lines('istio_tcp_connections_opened_total', {
            reporter: 'destination',
            request_protocol: 'tcp',
            destination_service_name: 'b-tcp',
            destination_canonical_revision: 'v1',
            destination_canonical_service: 'b',
            destination_app: 'b',
            destination_version: 'v1',
            destination_workload_namespace: 'echo1',
            destination_service_namespace: 'echo1',
            source_app: 'a',
            source_version: 'v1',
            source_workload: 'a-v1',
            source_workload_namespace: 'echo1',
            source_cluster: 'Kubernetes'
          })
        )[0],
      'the destination TCP sample'
    );
    expect(line).toContain('connection_security_policy="mutual_tls"');
  });
});

/** Speak TLS to `target` through a CONNECT tunnel on `proxyPort`; the answer, or what ended the exchange. */
function httpsViaConnect(proxyPort: number, target: string): Promise<string> {
  return new Promise((resolve) => {
    const raw = net.connect(proxyPort, '127.0.0.1');
    const timer = setTimeout(() => (raw.destroy(), resolve('timeout')), 5000);
    const done = (v: string) => (clearTimeout(timer), raw.destroy(), resolve(v));
    raw.once('connect', () => raw.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    raw.once('data', (d: Buffer) => {
      const head = d.toString('latin1');
      if (!head.startsWith('HTTP/1.1 200')) return done(`no tunnel: ${head}`);
      raw.off('close', ended);
      const t = tls.connect({ socket: raw, servername: 'destination', rejectUnauthorized: false });
      let body = '';
      t.on('secureConnect', () => t.write('GET / HTTP/1.1\r\nHost: destination\r\n\r\n'));
      t.on('data', (x: Buffer) => (body += x.toString('latin1')));
      t.on('close', () => done(body || 'closed'));
      t.on('error', (e) => done(body || `error ${e.message}`));
    });
    // until the tunnel is up: a refused CONNECT ends here
    const ended = () => done('closed');
    raw.once('close', ended);
    raw.on('error', (e) => done(`error ${e.message}`));
  });
}

describe('outboundtrafficpolicy: a host the client does not import (Sidecar egress service2/* only)', () => {
  it('ALLOW_ANY, HTTP: 200 from the host, PassthroughCluster at the source with response_code 200', async () => {
    const r = await viaProxy(m.outbound('client-any-v1'), dest.address, '/');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).stub).toBe('destination');
    const l = await until(
      async () =>
        (
          await lines('istio_requests_total', {
            reporter: 'source',
            source_workload: 'client-any-v1',
            destination_service_name: 'PassthroughCluster',
            response_code: '200'
          })
        )[0],
      'a PassthroughCluster sample'
    );
    // the Host header names the service; an original-destination endpoint has no metadata for the peer
    expect(l).toContain(`destination_service="${dest.address}"`);
    expect(l).toContain('destination_workload="unknown"');
    expect(l).toContain('response_flags="-"');
  });
  it('REGISTRY_ONLY, HTTP: 502 with an empty body, BlackHoleCluster at the source with response_code 502', async () => {
    const r = await viaProxy(m.outbound('client-reg-v1'), dest.address, '/');
    expect([r.status, r.body]).toEqual([502, '']);
    const l = await until(
      async () =>
        (
          await lines('istio_requests_total', {
            reporter: 'source',
            source_workload: 'client-reg-v1',
            destination_service_name: 'BlackHoleCluster',
            response_code: '502'
          })
        )[0],
      'a BlackHoleCluster sample'
    );
    // the route's direct response (block_all): no flag
    expect(l).toContain('response_flags="-"');
    expect(l).toContain(`destination_service="${dest.address}"`);
  });
  it('a ServiceEntry for another host on the same port changes nothing (the "conflict" cases)', async () => {
    // istio.io declares HTTP on the destination's port: the request names another host, so it is still unknown
    expect((await viaProxy(m.outbound('client-any-v1'), dest.address, '/conflict')).status).toBe(200);
    expect((await viaProxy(m.outbound('client-reg-v1'), dest.address, '/conflict')).status).toBe(502);
  });
  it("ALLOW_ANY, HTTPS (the app's TLS through CONNECT): 200, istio_tcp_connections_opened_total PassthroughCluster", async () => {
    const target = `127.0.0.1:${portOf(httpsApp)}`;
    expect(await httpsViaConnect(m.outbound('client-any-v1'), target)).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*ok$/);
    const l = await until(
      async () =>
        (
          await lines('istio_tcp_connections_opened_total', {
            reporter: 'source',
            source_workload: 'client-any-v1',
            destination_service_name: 'PassthroughCluster'
          })
        )[0],
      'a PassthroughCluster connection'
    );
    expect(l).toContain('request_protocol="tcp"');
  });
  it('REGISTRY_ONLY, HTTPS and TCP: closed, istio_tcp_connections_closed_total BlackHoleCluster at the source', async () => {
    const before = value(
      (
        await lines('istio_tcp_connections_closed_total', {
          reporter: 'source',
          source_workload: 'client-reg-v1',
          destination_service_name: 'BlackHoleCluster'
        })
      )[0] ?? '0'
    );
    expect(await httpsViaConnect(m.outbound('client-reg-v1'), `127.0.0.1:${portOf(httpsApp)}`)).not.toMatch(/200 OK/);
    expect(await httpsViaConnect(m.outbound('client-reg-v1'), `127.0.0.1:${portOf(tcpApp)}`)).not.toMatch(/200 OK/);
    const l = await until(async () => {
      const x = (
        await lines('istio_tcp_connections_closed_total', {
          reporter: 'source',
          source_workload: 'client-reg-v1',
          destination_service_name: 'BlackHoleCluster'
        })
      )[0];
      return x && value(x) === (Number.isNaN(before) ? 0 : before) + 2 ? x : undefined;
    }, 'two BlackHoleCluster connections closed');
    expect(l).toContain('request_protocol="tcp"');
  });
});

describe("a tunnel the sidecar cannot open: accepted, then closed (the app's connection as Istio's sidecar takes it)", () => {
  // Istio's sidecar accepts the app's connection before it knows the upstream and then closes it: curl's TLS fails
  // with exit code 35 (istio.io's egress task, REGISTRY_ONLY), where a CONNECT refused outright fails with 56
  const tunnel = (workload: string, target: string) =>
    rawExchange(m.outbound(workload), `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  it('REGISTRY_ONLY: an unknown host (BlackHoleCluster)', async () => {
    expect(await tunnel('client-reg-v1', `127.0.0.1:${portOf(tcpApp)}`)).toBe(
      'HTTP/1.1 200 Connection Established\r\n\r\n'
    );
  });
  it('ALLOW_ANY: a host that refuses the connection (PassthroughCluster, UF)', async () => {
    expect(await tunnel('client-any-v1', `127.0.0.1:${await deadPort()}`)).toBe(
      'HTTP/1.1 200 Connection Established\r\n\r\n'
    );
  });
});

describe('a caller without a sidecar under STRICT', () => {
  it('plaintext to b is refused by its sidecar: no HTTP exchange, so no sample', async () => {
    const before = await lines('istio_requests_total', { reporter: 'destination', source_workload: 'unknown' });
    const r = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: m.inbound('b-v1'), path: '/', agent: false }, (res) =>
        resolve(String(res.statusCode))
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(r).toMatch(/^E/);
    expect(await lines('istio_requests_total', { reporter: 'destination', source_workload: 'unknown' })).toEqual(
      before
    );
  });
});

/** Send `raw` on a fresh connection to `port` and return all that comes back until the connection closes. */
function rawExchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('connect', () => s.write(raw));
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
}

describe("a request Envoy's HTTP/1 codec cannot parse: 400, counted with flag DPE", () => {
  // a header line without a colon: the codec fails before the headers are complete, so no Host names a service
  const bad = 'GET /x HTTP/1.1\r\nHost: b\r\nno colon here\r\n\r\n';
  it('at the client sidecar: the source reporter, every destination label unknown', async () => {
    expect(await rawExchange(m.outbound('a-v1'), bad)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const l = await until(
      async () => (await lines('istio_requests_total', { reporter: 'source', response_flags: 'DPE' }))[0],
      'a DPE sample at the source'
    );
    expect(l).toContain('source_workload="a-v1",source_canonical_service="a",source_canonical_revision="v1"');
    expect(l).toContain('source_principal="unknown",source_app="a",source_version="v1",source_cluster="Kubernetes"');
    expect(l).toContain(
      'destination_workload="unknown",destination_workload_namespace="unknown",destination_principal="unknown",' +
        'destination_app="unknown",destination_version="unknown",destination_service="unknown",' +
        'destination_canonical_service="unknown",destination_canonical_revision="latest",' +
        'destination_service_name="unknown",destination_service_namespace="unknown",destination_cluster="unknown",' +
        'request_protocol="http",response_code="400",grpc_response_status="",response_flags="DPE",' +
        'connection_security_policy="unknown"}'
    );
  });
  it("at the server sidecar (a caller without sidecar, PERMISSIVE): the workload's canonical name for the service", async () => {
    expect(await rawExchange(m.inbound('c-v2'), bad)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const l = await until(
      async () => (await lines('istio_requests_total', { reporter: 'destination', response_flags: 'DPE' }))[0],
      'a DPE sample at the destination'
    );
    expect(l).toContain(
      'reporter="destination",source_workload="unknown",source_canonical_service="unknown",' +
        'source_canonical_revision="latest",source_workload_namespace="unknown",source_principal="unknown",' +
        'source_app="unknown",source_version="unknown",source_cluster="unknown",destination_workload="c-v2",' +
        'destination_workload_namespace="echo1",destination_principal="unknown",destination_app="c",' +
        'destination_version="v2",destination_service="c",destination_canonical_service="c",' +
        'destination_canonical_revision="v2",destination_service_name="c",destination_service_namespace="echo1",' +
        'destination_cluster="Kubernetes",request_protocol="http",response_code="400",grpc_response_status="",' +
        'response_flags="DPE",connection_security_policy="none"}'
    );
  });
  it("the access log has its line, as Envoy logs the stream: no request, the codec's details, no route", async () => {
    const lineOf = (port: number) =>
      until(
        () => logLines.find((l) => l.includes(` 127.0.0.1:${port} `) && l.includes(' DPE ')),
        `the access log line at ${port}`
      );
    const ADDR = String.raw`127\.0\.0\.1:\d+`;
    const START = String.raw`\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\]`;
    for (const port of [m.outbound('a-v1'), m.inbound('c-v2')]) {
      await rawExchange(port, bad);
      expect(await lineOf(port)).toMatch(
        new RegExp(
          String.raw`^${START} "- - HTTP/1\.1" 400 DPE http1\.codec_error - "-" 0 11 0 - "-" "-" "-" "-" "-" - - 127\.0\.0\.1:${port} ${ADDR} - -$`
        )
      );
    }
    // headers over the codec's limit: 431, with the codec's own details
    const big = `GET /x HTTP/1.1\r\nHost: b\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`;
    expect(await rawExchange(m.outbound('client-any-v1'), big)).toMatch(/^HTTP\/1\.1 431 /);
    expect(
      await until(
        () => logLines.find((l) => l.includes(`127.0.0.1:${m.outbound('client-any-v1')} `) && l.includes(' 431 ')),
        'the 431 line'
      )
    ).toContain('"- - HTTP/1.1" 431 DPE http1.headers_too_large - "-" 0 31 0 ');
  });
});

describe("Envoy's max_headers_count (100): more header lines get the codec's 431, counted with DPE", () => {
  const head = (n: number) =>
    `GET /many HTTP/1.1\r\nHost: c\r\n${Array.from({ length: n - 1 }, (_, i) => `x-h${i}: ${i}\r\n`).join('')}\r\n`;
  it('100 header lines pass; 101 get 431 Request Header Fields Too Large and the connection closes', async () => {
    const before = c.seen.length;
    const ok = await rawExchange(
      m.inbound('c-v2'),
      head(100).replace('\r\n\r\n', '\r\nconnection: close\r\n\r\n').replace('x-h98: 98\r\n', '')
    );
    expect(ok).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.seen.length).toBe(before + 1);
    const got = await rawExchange(m.inbound('c-v2'), head(101));
    expect(got).toMatch(
      /^HTTP\/1\.1 431 Request Header Fields Too Large\r\ncontent-type: text\/plain\r\ncontent-length: 31\r\nserver: istio-envoy\r\n/
    );
    expect(got).toMatch(/\r\n\r\nRequest Header Fields Too Large$/);
    expect(c.seen.length).toBe(before + 1);
  });
  it("at the client sidecar too, with the access log's details http1.too_many_headers", async () => {
    const port = m.outbound('a-v1');
    expect(await rawExchange(port, head(101))).toMatch(/^HTTP\/1\.1 431 /);
    expect(
      await until(
        () => logLines.find((l) => l.includes(` 127.0.0.1:${port} `) && l.includes('http1.too_many_headers')),
        'the access log line'
      )
    ).toContain('"- - HTTP/1.1" 431 DPE http1.too_many_headers - "-" 0 31 0 ');
    const l = await until(
      async () =>
        (await lines('istio_requests_total', { reporter: 'source', source_workload: 'a-v1', response_code: '431' }))[0],
      'a 431 sample at the source'
    );
    expect(l).toContain('response_flags="DPE"');
  });
});

describe('a caller that leaves before the response (response_code 0, DC)', () => {
  it('both reporters count the request with code 0 and flag DC', async () => {
    b.behave((_req, res) => void setTimeout(() => res.end('late'), 300));
    try {
      const s = net.connect(m.outbound('a-v1'), '127.0.0.1');
      s.on('connect', () => s.write('GET http://b/slow HTTP/1.1\r\nHost: b\r\n\r\n'));
      s.on('error', () => {});
      // gone once the request reached the app: no response has started at either sidecar
      await until(() => b.seen.some((x) => x.url === '/slow'), 'the request at b');
      s.destroy();
      const found = await until(async () => {
        const l = await lines('istio_requests_total', {
          source_workload: 'a-v1',
          destination_service_name: 'b',
          response_code: '0',
          response_flags: 'DC'
        });
        return l.length === 2 ? l : undefined;
      }, 'a DC sample at both reporters');
      expect(found!.map((l) => /reporter="(\w+)"/.exec(l)?.[1]).sort()).toEqual(['destination', 'source']);
    } finally {
      b.behave(undefined);
    }
  });
});

describe('a route timeout (request-timeouts): 504 UT at the source, the cut request 0 DC at the destination', () => {
  it('both reporters count it', async () => {
    c.behave((_req, res) => void setTimeout(() => res.end('late'), 400));
    try {
      const r = await viaProxy(m.outbound('a-v1'), 'c', '/slow');
      expect([r.status, r.body]).toEqual([504, 'upstream request timeout']);
      const codes = await until(async () => {
        const l = await lines('istio_requests_total', { source_workload: 'a-v1', destination_service_name: 'c' });
        const slow = l.filter((x) => !x.includes('response_code="200"'));
        return slow.length === 2 ? slow : undefined;
      }, 'both samples of the timed-out request');
      expect(
        codes!.map((l) => /reporter="(\w+)".*response_code="(\d+)".*response_flags="([^"]+)"/.exec(l)!.slice(1)).sort()
      ).toEqual([
        ['destination', '0', 'DC'],
        ['source', '504', 'UT']
      ]);
    } finally {
      c.behave(undefined);
    }
  });
});

describe("heads up to Envoy's 60 KiB limit (max_request_headers_kb, max_response_headers_kb)", () => {
  it('a 20 KiB request header and a 20 KiB response header pass both sidecars, on either lane', async () => {
    const big = 'a'.repeat(20 * 1024);
    // a plain GET (the raw-socket lane) and a chunked POST (node:http)
    const get = `GET http://big/x HTTP/1.1\r\nHost: big\r\nx-big: ${big}\r\nconnection: close\r\n\r\n`;
    const post = `POST http://big/x HTTP/1.1\r\nHost: big\r\nx-big: ${big}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n`;
    for (const raw of [get, post]) {
      const r = await rawExchange(m.outbound('a-v1'), raw);
      expect(r.slice(0, 15)).toBe('HTTP/1.1 200 OK');
      expect(r).toContain(`\r\nx-big-back: ${'b'.repeat(20 * 1024)}\r\n`);
      expect(r.endsWith(String(big.length)) || r.includes(`\r\n${big.length}\r\n`)).toBe(true);
    }
  });
});
