/**
 * Integration: two egress cases where Istio's sidecar is not routing a mesh service.
 *
 * - ALLOW_ANY and a mesh service the caller's Sidecar does not import, reached by its address (its dedicated port,
 *   which stands for its ClusterIP:port, or its name, which cluster DNS makes that ClusterIP): the caller's Envoy has
 *   no route or cluster for it, so the request goes by the catch-all route (`allow_any`) to the PassthroughCluster,
 *   whose original destination kube-proxy hands to one of the service's pods. Plaintext, no VirtualService of the
 *   caller's (one its Sidecar imports from istio-system included), `destination_service_name="PassthroughCluster"`;
 *   the callee's inbound sidecar applies its own policy, so STRICT refuses it. TCP likewise (tcp_proxy). REGISTRY_ONLY
 *   still blackholes it.
 * - A DNS ServiceEntry whose endpoint is a name: Envoy's STRICT_DNS cluster makes each address the name resolves to a
 *   host, so %UPSTREAM_HOST% and the flow's endpoint are `IP:port`, not the name.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, request, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let limited: Stub, free: Stub, reg: Stub, api: Stub, other: Stub, locked: Stub, dnsApp: Stub;
let tcpApps: net.Server[] = [];
let echo: net.Server, echo2: net.Server, vault: net.Server, dnsEcho: net.Server;
const vaultSeen: string[] = [];
let m: Running;
const lines: string[] = [];

/** A TCP app that answers each chunk with `<name>:<chunk>`. */
async function tcpApp(name: string, seen?: string[]): Promise<net.Server> {
  const s = net.createServer((c) => {
    c.on('data', (d: Buffer) => {
      seen?.push(d.toString('latin1'));
      c.write(`${name}:${d.toString('latin1')}`);
    });
    c.on('end', () => c.end());
    c.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

/** Connect, write `data`, read until a line of the app's ends (after a CONNECT's 200, if any) or the connection does. */
function exchange(port: number, data: string): Promise<{ got: string; ended: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = (ended: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ got, ended });
    };
    const timer = setTimeout(() => finish(false), 5000);
    s.on('connect', () => s.write(data));
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.endsWith('\n') && !got.endsWith('\r\n\r\n')) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
  });
}

beforeAll(async () => {
  [limited, free, reg, api, other, locked, dnsApp] = await Promise.all([
    stub('limited'),
    stub('free'),
    stub('reg'),
    stub('api'),
    stub('other'),
    stub('locked'),
    stub('dns-app')
  ]);
  tcpApps = [
    (echo = await tcpApp('echo')),
    (echo2 = await tcpApp('echo2')),
    (vault = await tcpApp('vault', vaultSeen)),
    (dnsEcho = await tcpApp('dns-echo'))
  ];
  const egress = `  egress: [{hosts: ["./api.default.svc.cluster.local", "istio-system/*"]}]`;
  const istio = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: limited}
spec:
  workloadSelector: {labels: {app: limited}}
${egress}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reg}
spec:
  workloadSelector: {labels: {app: reg}}
${egress}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
# in istio-system, so the limited caller's Sidecar imports these VirtualServices (istio-system/*), not the services
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other, namespace: istio-system}
spec:
  hosts: [other.default.svc.cluster.local]
  http:
  - match: [{uri: {prefix: /fault}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: other.default.svc.cluster.local}}]
  - headers: {request: {set: {x-vs: applied}}}
    route: [{destination: {host: other.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: istio-system}
spec:
  hosts: [echo.default.svc.cluster.local]
  tcp:
  - route: [{destination: {host: echo2.default.svc.cluster.local}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict}
spec:
  selector: {matchLabels: {strict: "yes"}}
  mtls: {mode: STRICT}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns-by-name}
spec:
  hosts: [dns.example.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${dnsApp.port}}]
  endpoints: [{address: localhost}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns-tcp}
spec:
  hosts: [dnstcp.example.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 7000, name: tcp, protocol: TCP, targetPort: ${portOf(dnsEcho)}}]
  endpoints: [{address: localhost}]
`;
  const w = (name: string, app: string, address: string, labels: Record<string, string> = { app }) => ({
    workloads: [{ name, labels, instances: [address] }]
  });
  m = await startMesh(
    {
      meshYaml: meshYaml({
        limited: w('limited-v1', 'limited', limited.address),
        free: w('free-v1', 'free', free.address),
        reg: w('reg-v1', 'reg', reg.address),
        api: w('api-v1', 'api', api.address),
        other: w('other-v1', 'other', other.address),
        locked: w('locked-v1', 'locked', locked.address, { app: 'locked', strict: 'yes' }),
        echo: { ...w('echo-v1', 'echo', `127.0.0.1:${portOf(echo)}`), port: 9000, protocol: 'tcp' },
        echo2: { ...w('echo2-v1', 'echo2', `127.0.0.1:${portOf(echo2)}`), port: 9000, protocol: 'tcp' },
        vault: {
          ...w('vault-v1', 'vault', `127.0.0.1:${portOf(vault)}`, { app: 'vault', strict: 'yes' }),
          port: 9000,
          protocol: 'tcp'
        }
      }),
      istio: { 'istio.yaml': istio }
    },
    { store: 'memory', accessLog: (line) => lines.push(line) }
  );
});
afterAll(async () => {
  await m?.close();
  await Promise.all([limited, free, reg, api, other, locked, dnsApp].map((s) => s?.close()));
  for (const s of tcpApps) s.close();
});

/** The access log line with this x-request-id that `pick` accepts, once its sidecar has finished it. */
async function lineOf(id: string, pick: (l: string) => boolean = () => true): Promise<string> {
  return (await until(() => lines.find((l) => l.includes(`"${id}"`) && pick(l)), `an access log line of ${id}`))!;
}
const metricLines = async (name: string) =>
  (await m.mesh.metrics()).text.split('\n').filter((l) => l.startsWith(`${name}{`));
const flowOf = async (id: string, reporter: 'source' | 'destination') =>
  (await until(
    async () =>
      (await m.mesh.listFlows({ limit: 200 })).find(
        (f) => f.reporter === reporter && f.requestHeaders['x-request-id'] === id
      ),
    `the ${reporter} flow of ${id}`
  ))!;
const esc = (s: string) => s.replace(/[.|[\]]/g, (c) => `\\${c}`);

describe('ALLOW_ANY: a mesh service the Sidecar does not import, reached by its address', () => {
  it('by its dedicated port: passed through, plaintext, to its instance, without the VirtualService', async () => {
    const before = other.seen.length;
    const r = await request(m.upstream('limited-v1', 'other'), '/fault', { headers: { 'x-request-id': 'pt-1' } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).stub).toBe('other');
    expect(other.seen).toHaveLength(before + 1);
    const seen = other.seen.at(-1)!;
    expect(seen.headers['x-vs']).toBeUndefined();
    // plaintext: the callee's sidecar got no client certificate to forward
    expect(seen.headers['x-forwarded-client-cert']).toBeUndefined();
    // a caller without that Sidecar gets the VirtualService's fault and header, over mutual TLS
    expect((await request(m.upstream('free-v1', 'other'), '/fault')).status).toBe(418);
    await request(m.upstream('free-v1', 'other'), '/x');
    expect(other.seen.at(-1)!.headers['x-vs']).toBe('applied');
    expect(other.seen.at(-1)!.headers['x-forwarded-client-cert']).toBeDefined();

    const client = await flowOf('pt-1', 'source');
    expect([client.destinationService, client.endpoint, client.destination]).toEqual([
      'PassthroughCluster',
      other.address,
      'other-v1'
    ]);
    expect(client.virtualService).toBeNull();
    expect((await flowOf('pt-1', 'destination')).connectionSecurity).toBe('none');
    expect(await lineOf('pt-1', (l) => !l.includes(' inbound|'))).toMatch(
      new RegExp(
        String.raw`"pt-1" "other:9080" "${esc(other.address)}" PassthroughCluster - 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ - allow_any$`
      )
    );
    const sample = await until(
      async () =>
        (await metricLines('istio_requests_total')).find(
          (l) =>
            l.includes('reporter="source"') &&
            l.includes('source_workload="limited-v1"') &&
            l.includes('destination_service="other:9080"')
        ),
      'the source sample'
    );
    expect(sample).toContain('destination_service_name="PassthroughCluster"');
    expect(sample).toContain('response_code="200"');
  });

  it('node:http (a chunked body) goes the same way', async () => {
    const r = await request(m.upstream('limited-v1', 'other'), '/fault', {
      method: 'POST',
      headers: { 'x-request-id': 'pt-chunked', 'transfer-encoding': 'chunked' },
      body: 'hello'
    });
    expect(r.status).toBe(200);
    expect(other.seen.at(-1)!.body).toBe('hello');
    expect(other.seen.at(-1)!.headers['x-vs']).toBeUndefined();
    expect((await flowOf('pt-chunked', 'source')).destinationService).toBe('PassthroughCluster');
  });

  it('by its name through the proxy port (cluster DNS makes it the ClusterIP): the same passthrough', async () => {
    const r = await viaProxy(m.outbound('limited-v1'), 'other:9080', '/fault', {
      headers: { 'x-request-id': 'pt-name' }
    });
    expect([r.status, JSON.parse(r.body).stub]).toEqual([200, 'other']);
    expect(other.seen.at(-1)!.headers['x-vs']).toBeUndefined();
    expect((await flowOf('pt-name', 'source')).destinationService).toBe('PassthroughCluster');
  });

  it("the callee's STRICT PeerAuthentication refuses the plaintext: 503, nothing reaches its app", async () => {
    const r = await request(m.upstream('limited-v1', 'locked'), '/x', { headers: { 'x-request-id': 'pt-strict' } });
    expect(r.status).toBe(503);
    expect(locked.seen).toHaveLength(0);
    const f = await flowOf('pt-strict', 'source');
    expect([f.destinationService, f.flags]).toEqual(['PassthroughCluster', 'UC']);
    // through mutual TLS (a caller that imports it) it is served
    expect((await request(m.upstream('free-v1', 'locked'), '/x')).status).toBe(200);
  });

  it('REGISTRY_ONLY is unchanged: 502, nothing reaches it', async () => {
    const before = other.seen.length;
    const r = await request(m.upstream('reg-v1', 'other'), '/x');
    expect([r.status, r.body]).toEqual([502, '']);
    expect(other.seen).toHaveLength(before);
  });

  it('TCP: passed through to the instance without the tcp route; STRICT resets it; REGISTRY_ONLY closes it', async () => {
    expect((await exchange(m.upstream('limited-v1', 'echo'), 'PING\n')).got).toBe('echo:PING\n');
    // a caller without that Sidecar follows the route to echo2
    expect((await exchange(m.upstream('free-v1', 'echo'), 'PING\n')).got).toBe('echo2:PING\n');
    const line = await until(
      () => lines.find((l) => l.includes('"- - -"') && l.includes(' PassthroughCluster ')),
      'a tcp_proxy PassthroughCluster line'
    );
    expect(line).toContain(`"127.0.0.1:${portOf(echo)}" PassthroughCluster `);
    const opened = await until(
      async () =>
        (await metricLines('istio_tcp_connections_opened_total')).find(
          (l) =>
            l.includes('reporter="source"') &&
            l.includes('source_workload="limited-v1"') &&
            l.includes('destination_service_name="PassthroughCluster"')
        ),
      'a PassthroughCluster connection'
    );
    expect(opened).toBeDefined();

    const strict = await exchange(m.upstream('limited-v1', 'vault'), 'PING\n');
    expect([strict.got, strict.ended]).toEqual(['', true]);
    expect(vaultSeen).toHaveLength(0);
    expect((await exchange(m.upstream('free-v1', 'vault'), 'PING\n')).got).toBe('vault:PING\n');

    const blocked = await exchange(m.upstream('reg-v1', 'echo'), 'PING\n');
    expect([blocked.got, blocked.ended]).toEqual(['', true]);
  });

  it('TCP by its name through a CONNECT tunnel (the proxy port): the same passthrough, or BlackHole', async () => {
    const connect = 'CONNECT echo:9000 HTTP/1.1\r\nHost: echo:9000\r\n\r\nPING\n';
    const before = lines.length;
    expect((await exchange(m.outbound('limited-v1'), connect)).got).toBe(
      'HTTP/1.1 200 Connection Established\r\n\r\necho:PING\n'
    );
    const line = await until(
      () => lines.slice(before).find((l) => l.includes('"- - -"') && l.includes(' PassthroughCluster ')),
      'the tunnel passthrough line'
    );
    expect(line).toContain(`"127.0.0.1:${portOf(echo)}" PassthroughCluster `);
    // a caller that imports it follows its tcp route to echo2
    expect((await exchange(m.outbound('free-v1'), connect)).got).toBe(
      'HTTP/1.1 200 Connection Established\r\n\r\necho2:PING\n'
    );
    const blocked = await exchange(m.outbound('reg-v1'), connect);
    expect(blocked.got).not.toContain('echo');
  });
});

describe('a DNS ServiceEntry: the upstream host is the address its name resolved to', () => {
  const resolved = (port: number) => String.raw`(127\.0\.0\.1|\[::1\]):${port}`;

  it('HTTP: the flow endpoint and %UPSTREAM_HOST% are IP:port, on the fast lane and on node:http', async () => {
    const r = await viaProxy(m.outbound('free-v1'), 'dns.example.test', '/x', { headers: { 'x-request-id': 'dns-1' } });
    expect([r.status, JSON.parse(r.body).stub]).toEqual([200, 'dns-app']);
    expect((await flowOf('dns-1', 'source')).endpoint).toMatch(new RegExp(`^${resolved(dnsApp.port)}$`));
    expect(await lineOf('dns-1')).toMatch(
      new RegExp(
        String.raw`"dns-1" "dns\.example\.test" "${resolved(dnsApp.port)}" outbound\|80\|\|dns\.example\.test `
      )
    );
    const chunked = await viaProxy(m.outbound('free-v1'), 'dns.example.test', '/y', {
      method: 'POST',
      headers: { 'x-request-id': 'dns-2', 'transfer-encoding': 'chunked' },
      body: 'hi'
    });
    expect(chunked.status).toBe(200);
    expect((await flowOf('dns-2', 'source')).endpoint).toMatch(new RegExp(`^${resolved(dnsApp.port)}$`));
    // the endpoint's metadata still labels the sample (Envoy's resolved hosts keep it)
    const sample = (await metricLines('istio_requests_total')).find(
      (l) => l.includes('reporter="source"') && l.includes('destination_service="dns.example.test"')
    );
    expect(sample).toContain('destination_cluster="Kubernetes"');
  });

  it('TCP (a CONNECT tunnel): tcp_proxy logs the resolved address', async () => {
    const got = await exchange(
      m.outbound('free-v1'),
      'CONNECT dnstcp.example.test:7000 HTTP/1.1\r\nHost: dnstcp.example.test:7000\r\n\r\nhello\n'
    );
    expect(got.got).toBe('HTTP/1.1 200 Connection Established\r\n\r\ndns-echo:hello\n');
    const line = await until(
      () => lines.find((l) => l.includes('"- - -"') && l.includes(' outbound|7000||dnstcp.example.test ')),
      'the tunnel line'
    );
    expect(line).toMatch(
      new RegExp(String.raw`"${resolved(portOf(dnsEcho))}" outbound\|7000\|\|dnstcp\.example\.test `)
    );
  });
});
