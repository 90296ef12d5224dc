/**
 * Integration: a VirtualService's `tls` and `tcp` routes on ServiceEntry hosts (sidecar/tcp.ts connectTunnel,
 * tcpDestination). Istio builds the outbound filter chains of an entry's port as pilot's tls.go does: on a port
 * declared TLS or HTTPS, one chain per `tls` match that fits the caller (port, sourceLabels, gateways), matched at
 * run time by the ClientHello's SNI (sniHosts) and destinationSubnets, and no default chain once one fits (a
 * ClientHello none takes falls through to the PassthroughCluster); on any other port the `tcp` routes (first match,
 * destinationSubnets against the connection's address), then the entry's own cluster. A route sends the connection to
 * its destination's cluster (`outbound|<port>|<subset>|<host>`: another entry, a subset, a mesh service), a subset no
 * DestinationRule defines has no cluster (NC), weights split connections, and the access log and istio_tcp_* metrics
 * name the route's destination. The app's TLS goes through a CONNECT tunnel (HTTPS_PROXY) end to end; the upstreams
 * answer with their own name (and the SNI they were asked for), so each test sees where a connection went.
 */
import net from 'node:net';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, until, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, other: Stub;
let m: Running;
const servers: net.Server[] = [];
const lines: string[] = [];
const port: Record<string, number> = {};

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

/** A plain TCP app that answers each chunk with its name. */
async function tcpApp(name: string): Promise<void> {
  const server = net.createServer((s) => {
    s.on('data', (c: Buffer) => s.write(`${name}:${c.toString('latin1')}`));
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  port[name] = portOf(server);
}

/** A TLS app (its own self-signed certificate) that answers each chunk with its name and the SNI it was asked for. */
async function tlsApp(name: string): Promise<void> {
  const cert = await generate([{ name: 'commonName', value: name }], {
    notBeforeDate: new Date(Date.now() - 60_000),
    notAfterDate: new Date(Date.now() + 3600_000)
  });
  const server = tls.createServer({ key: cert.private, cert: cert.cert }, (s) => {
    s.on('data', (c: Buffer) => s.write(`${name} (${s.servername || 'no SNI'}): ${c.toString('latin1')}`));
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  port[name] = portOf(server);
}

/**
 * CONNECT `authority` through `workload`'s outbound port; then the app's own TLS with `sni` (or, without, plain
 * bytes) and `PING`; the first answer, or how it ended.
 */
function tunnel(workload: string, authority: string, sni?: string): Promise<string> {
  return new Promise((resolve) => {
    const raw = net.connect(m.outbound(workload), '127.0.0.1');
    let done = false;
    const finish = (v: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      raw.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish('timeout'), 5000);
    raw.once('connect', () => raw.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    raw.on('error', () => finish('error'));
    raw.once('data', (d: Buffer) => {
      if (!d.toString('latin1').startsWith('HTTP/1.1 200')) return finish(`no tunnel: ${d.toString('latin1')}`);
      if (sni === undefined) {
        raw.on('data', (x: Buffer) => finish(x.toString('latin1')));
        raw.on('close', () => finish('closed'));
        raw.write('PING');
        return;
      }
      const t = tls.connect({ socket: raw, servername: sni, rejectUnauthorized: false });
      t.on('secureConnect', () => t.write('PING'));
      t.on('data', (x: Buffer) => finish(x.toString('latin1')));
      t.on('error', () => finish('closed'));
      t.on('close', () => finish('closed'));
    });
  });
}

const metricLines = async (name: string) =>
  (await m.mesh.metrics()).text.split('\n').filter((l) => l.startsWith(`${name}{`));

beforeAll(async () => {
  [caller, other] = await Promise.all([stub('caller'), stub('other')]);
  await Promise.all([
    tlsApp('front'),
    tlsApp('back-v1'),
    tlsApp('back-v2'),
    tlsApp('solo'),
    tlsApp('vip-endpoint'),
    tlsApp('original'),
    tcpApp('db'),
    tcpApp('db-alt'),
    tcpApp('replica'),
    tcpApp('cache'),
    tcpApp('legacy')
  ]);
  const istio = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: front}
spec:
  hosts: [front.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints: [{address: 127.0.0.1, ports: {tls: ${port.front}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: back}
spec:
  hosts: [back.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 443, name: https, protocol: HTTPS}]
  endpoints:
  - {address: 127.0.0.1, ports: {https: ${port['back-v1']}}, labels: {app: back, version: v1}}
  - {address: 127.0.0.1, ports: {https: ${port['back-v2']}}, labels: {app: back, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: back}
spec:
  host: back.example.com
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front}
spec:
  hosts: [front.example.com, "*.front.example.com"]
  tls:
  - match: [{port: 443, sniHosts: [front.example.com]}]
    route: [{destination: {host: back.example.com, subset: v1, port: {number: 443}}}]
  - match: [{port: 443, sniHosts: [split.front.example.com]}]
    route:
    - {destination: {host: back.example.com, subset: v1, port: {number: 443}}, weight: 30}
    - {destination: {host: back.example.com, subset: v2, port: {number: 443}}, weight: 70}
  - match: [{port: 443, sniHosts: [gone.front.example.com]}]
    route: [{destination: {host: back.example.com, subset: v9, port: {number: 443}}}]
---
# tls routes for the other workload only; tcp routes are not built on a TLS port
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: solo}
spec:
  hosts: [solo.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints: [{address: 127.0.0.1, ports: {tls: ${port.solo}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: solo}
spec:
  hosts: [solo.example.com]
  tls:
  - match: [{sniHosts: [solo.example.com], sourceLabels: {app: other}}]
    route: [{destination: {host: back.example.com, subset: v2, port: {number: 443}}}]
  tcp:
  - route: [{destination: {host: replica.example.com, port: {number: 5432}}}]
---
# an entry with an address: the app reaches it by that IP, on the original destination's own port
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vip}
spec:
  hosts: [vip.example.com]
  addresses: [127.0.0.1]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: ${port.original}, name: tls, protocol: TLS}]
  endpoints: [{address: 127.0.0.1, ports: {tls: ${port['vip-endpoint']}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vip}
spec:
  hosts: [vip.example.com]
  tls:
  - match: [{sniHosts: [vip.example.com], destinationSubnets: [10.0.0.0/8]}]
    route: [{destination: {host: back.example.com, subset: v1, port: {number: 443}}}]
  - match: [{sniHosts: [vip.example.com], destinationSubnets: [127.0.0.0/8]}]
    route: [{destination: {host: back.example.com, subset: v2, port: {number: 443}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: 5432, name: tcp, protocol: TCP}
  - {number: 6543, name: tcp-alt, protocol: TCP}
  endpoints: [{address: 127.0.0.1, ports: {tcp: ${port.db}, tcp-alt: ${port['db-alt']}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: replica}
spec:
  hosts: [replica.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  endpoints: [{address: 127.0.0.1, ports: {tcp: ${port.replica}}, labels: {app: replica, version: r1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db.example.com]
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: replica.example.com, port: {number: 5432}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cache}
spec:
  hosts: [cache.example.com]
  addresses: [10.1.2.3]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 6379, name: redis, protocol: TCP}]
  endpoints: [{address: 127.0.0.1, ports: {redis: ${port.cache}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cache}
spec:
  hosts: [cache.example.com]
  tcp:
  - match: [{destinationSubnets: [10.9.0.0/16]}]
    route: [{destination: {host: replica.example.com, port: {number: 5432}}}]
  - match: [{destinationSubnets: [10.1.0.0/16]}]
    route: [{destination: {host: legacy, port: {number: 9000}}}]
`;
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        other: { workloads: [{ name: 'other-v1', instances: [other.address] }] },
        legacy: {
          port: 9000,
          protocol: 'tcp',
          workloads: [{ name: 'legacy-v1', instances: [`127.0.0.1:${port.legacy}`] }]
        }
      }),
      istio: { 'egress.yaml': istio }
    },
    { store: 'memory', accessLog: (line) => lines.push(line) }
  );
});
afterAll(async () => {
  await m?.close();
  await Promise.all([caller, other].map((s) => s?.close()));
  for (const s of servers) s.close();
});

const START = String.raw`\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\]`;
const ADDR = String.raw`127\.0\.0\.1:\d+`;

describe('VirtualService tls routes on a ServiceEntry host', () => {
  it('a tls route by sniHosts sends the app’s TLS to another entry (its subset), logged with that cluster', async () => {
    expect(await tunnel('caller-v1', 'front.example.com:443', 'front.example.com')).toBe(
      'back-v1 (front.example.com): PING'
    );
    const line = await until(
      () => lines.find((l) => l.includes('"- - -"') && l.includes(' outbound|443|v1|back.example.com ')),
      'the routed connection’s line'
    );
    // tcp_proxy's line: the route's cluster, its endpoint, the ClientHello's SNI as the requested server name
    expect(line).toMatch(
      new RegExp(
        String.raw`^${START} "- - -" 0 - - - "-" \d+ \d+ \d+ - "-" "-" "-" "-" "127\.0\.0\.1:${port['back-v1']}" outbound\|443\|v1\|back\.example\.com - ${ADDR} ${ADDR} front\.example\.com -$`
      )
    );
  });

  it('the istio_tcp_* metrics name the route’s destination service', async () => {
    expect(await tunnel('caller-v1', 'front.example.com:443', 'front.example.com')).toBe(
      'back-v1 (front.example.com): PING'
    );
    const sample = await until(
      async () =>
        (await metricLines('istio_tcp_connections_closed_total')).find(
          (l) => l.includes('source_workload="caller-v1"') && l.includes('destination_service="back.example.com"')
        ),
      'a closed connection to back.example.com'
    );
    expect(sample).toContain('reporter="source"');
    expect(sample).toContain('destination_service_name="back.example.com"');
    // the endpoint's labels (app, version) are its canonical service and revision, as for an entry's endpoint
    expect(sample).toContain('destination_canonical_service="back",destination_canonical_revision="v1"');
    // nothing went to the host the app asked for
    expect((await metricLines('istio_tcp_connections_opened_total')).join('\n')).not.toContain(
      'destination_service="front.example.com"'
    );
  });

  it('weights split connections (30/70, seeded)', async () => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < 20; i++) {
      const r = await tunnel('caller-v1', 'front.example.com:443', 'split.front.example.com');
      seen[r] = (seen[r] ?? 0) + 1;
    }
    const v1 = seen['back-v1 (split.front.example.com): PING'] ?? 0;
    const v2 = seen['back-v2 (split.front.example.com): PING'] ?? 0;
    expect(v1 + v2).toBe(20);
    // wide bounds around 6 / 14
    expect(v1).toBeGreaterThanOrEqual(1);
    expect(v2).toBeGreaterThanOrEqual(8);
  });

  it('a route to a subset no DestinationRule defines has no cluster: closed, NC', async () => {
    expect(await tunnel('caller-v1', 'front.example.com:443', 'gone.front.example.com')).toBe('closed');
    const line = await until(
      () => lines.find((l) => l.includes('"- - -"') && l.includes(' NC ')),
      'the NC connection’s line'
    );
    expect(line).toMatch(
      new RegExp(
        String.raw`^${START} "- - -" 0 NC - - "-" 0 0 \d+ - "-" "-" "-" "-" "-" - - ${ADDR} ${ADDR} gone\.front\.example\.com -$`
      )
    );
    const sample = await until(
      async () =>
        (await metricLines('istio_tcp_connections_closed_total')).find((l) => l.includes('response_flags="NC"')),
      'an NC sample'
    );
    expect(sample).toContain('destination_service="back.example.com"');
  });

  it('no tls match fits the caller (sourceLabels): the entry’s own endpoint; tcp routes do not apply on a TLS port', async () => {
    expect(await tunnel('caller-v1', 'solo.example.com:443', 'solo.example.com')).toBe('solo (solo.example.com): PING');
    expect(await tunnel('other-v1', 'solo.example.com:443', 'solo.example.com')).toBe(
      'back-v2 (solo.example.com): PING'
    );
    const line = await until(
      () => lines.find((l) => l.includes('"- - -"') && l.includes(' outbound|443||solo.example.com ')),
      'the default connection’s line'
    );
    expect(line).toContain(` "127.0.0.1:${port.solo}" outbound|443||solo.example.com `);
  });

  it('destinationSubnets match the address the app connected to; a ClientHello no route takes falls through', async () => {
    const authority = `127.0.0.1:${port.original}`;
    expect(await tunnel('caller-v1', authority, 'vip.example.com')).toBe('back-v2 (vip.example.com): PING');
    // the routes fit this caller, so the entry has no default chain: an unknown SNI goes to the original destination
    expect(await tunnel('caller-v1', authority, 'stray.example.com')).toBe('original (stray.example.com): PING');
    const line = await until(
      () => lines.find((l) => l.includes(' PassthroughCluster ') && l.includes(' stray.example.com ')),
      'the fallthrough line'
    );
    expect(line).toContain(`"127.0.0.1:${port.original}" PassthroughCluster `);
  });
});

describe('VirtualService tcp routes on a ServiceEntry host', () => {
  it('a tcp route by port sends the connection to another entry; another port goes to the entry itself', async () => {
    expect(await tunnel('caller-v1', 'db.example.com:5432')).toBe('replica:PING');
    expect(await tunnel('caller-v1', 'db.example.com:6543')).toBe('db-alt:PING');
    const routed = await until(
      () => lines.find((l) => l.includes(' outbound|5432||replica.example.com ')),
      'the routed connection’s line'
    );
    expect(routed).toMatch(
      new RegExp(
        String.raw`^${START} "- - -" 0 - - - "-" 4 12 \d+ - "-" "-" "-" "-" "127\.0\.0\.1:${port.replica}" outbound\|5432\|\|replica\.example\.com - ${ADDR} ${ADDR} - -$`
      )
    );
    await until(() => lines.find((l) => l.includes(' outbound|6543||db.example.com ')), 'the default port’s line');
    const sample = await until(
      async () =>
        (await metricLines('istio_tcp_sent_bytes_total')).find(
          (l) => l.includes('source_workload="caller-v1"') && l.includes('destination_service="replica.example.com"')
        ),
      'bytes sent back from replica.example.com'
    );
    expect(sample).toContain('destination_canonical_service="replica",destination_canonical_revision="r1"');
  });

  it('destinationSubnets against the entry’s address; a mesh service as the destination (mutual TLS)', async () => {
    expect(await tunnel('caller-v1', 'cache.example.com:6379')).toBe('legacy:PING');
    const sample = await until(
      async () =>
        (await metricLines('istio_tcp_connections_closed_total')).find(
          (l) =>
            l.includes('reporter="source"') &&
            l.includes('source_workload="caller-v1"') &&
            l.includes('destination_service="legacy.default.svc.cluster.local"')
        ),
      'a closed connection to legacy'
    );
    expect(sample).toContain('destination_workload="legacy-v1"');
    expect(sample).toContain('destination_principal="spiffe://cluster.local/ns/default/sa/default"');
  });
});
