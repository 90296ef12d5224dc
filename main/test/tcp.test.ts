/**
 * Integration: opaque TCP through the sidecars (sidecar/tcp.ts; istio-semantics §2, §3.1): a caller's dedicated
 * upstream port carries what is not HTTP to the service over mutual TLS (ALPN istio) by the VirtualService's tcp
 * routes; the inbound sidecar pipes it to the app after AuthorizationPolicy's TCP rules; plaintext that is not HTTP
 * reaches a PERMISSIVE workload and is reset by a STRICT one; both reporters count istio_tcp_* metrics.
 */
import net from 'node:net';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, until, type Running, type Stub } from './helpers/harness.js';

/** A TCP echo app that prefixes what it echoes with its name. */
async function echo(name: string): Promise<{ server: net.Server; address: string }> {
  const server = net.createServer((s) => {
    s.on('data', (c: Buffer) => s.write(Buffer.concat([Buffer.from(`${name}:`), c])));
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}

/** A TLS app (its own self-signed certificate) that answers each line with its name and the SNI it was asked for. */
async function tlsEcho(name: string): Promise<{ server: net.Server; address: string }> {
  const cert = await generate([{ name: 'commonName', value: name }], {
    notBeforeDate: new Date(Date.now() - 60_000),
    notAfterDate: new Date(Date.now() + 3600_000)
  });
  const server = tls.createServer({ key: cert.private, cert: cert.cert }, (s) => {
    s.on('data', (c: Buffer) => s.write(`${name} (${s.servername || 'no SNI'}): ${c.toString('latin1')}`));
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}

/** Speak TLS (the app's own, `servername` as SNI) through `port` and return the first answer to PING. */
function tlsExchange(port: number, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
    const timer = setTimeout(() => (s.destroy(), resolve('timeout')), 5000);
    s.on('secureConnect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      clearTimeout(timer);
      s.destroy();
      resolve(d.toString('latin1'));
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`error ${e.code ?? e.message}`);
    });
  });
}

/** Connect, write `data`, read until `until` matches or the connection ends (bounded). */
function exchange(
  port: number,
  data: string,
  until: (got: string) => boolean
): Promise<{ got: string; ended: boolean; error?: string }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = (ended: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ got, ended, error });
    };
    const timer = setTimeout(() => finish(false, 'timeout'), 5000);
    s.on('connect', () => s.write(data));
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (until(got)) finish(false);
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', (e: NodeJS.ErrnoException) => finish(true, e.code));
  });
}

const ISTIO = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: echo, subset: v1}, weight: 0}
    - {destination: {host: echo, subset: v2}, weight: 100}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pool}
spec:
  host: pool
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: limited}
spec:
  host: limited
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sticky}
spec:
  host: sticky
  trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: secure}
spec:
  host: secure
  subsets:
  - {name: a, labels: {version: a}}
  - {name: b, labels: {version: b}}
  - {name: c, labels: {version: c}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure}
spec:
  # the SNI names are hosts of the VirtualService too (Istio's webhook: validateSniHost)
  hosts: [secure, a.secure.test, "*.b.secure.test"]
  tls:
  - match: [{sniHosts: [a.secure.test], port: 8443}]
    route: [{destination: {host: secure, subset: a}}]
  - match: [{sniHosts: ["*.b.secure.test"]}]
    route: [{destination: {host: secure, subset: b}}]
  tcp:
  - route: [{destination: {host: secure, subset: c}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict-v1}
spec:
  selector: {matchLabels: {app: echo, version: v1}}
  mtls: {mode: STRICT}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: locked}
spec:
  workloadSelector: {labels: {app: locked}}
  egress: [{hosts: ["./echo.default.svc.cluster.local"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: guarded-get-only}
spec:
  selector: {matchLabels: {app: guarded}}
  action: DENY
  rules:
  - to: [{operation: {methods: [GET]}}]
`;

let caller: Stub, locked: Stub;
const apps: net.Server[] = [];
let outside: { server: net.Server; address: string };
let m: Running;

beforeAll(async () => {
  [caller, locked] = await Promise.all([stub('caller'), stub('locked')]);
  const [v1, v2, guarded] = await Promise.all([echo('v1'), echo('v2'), echo('guarded')]);
  const lbApps = await Promise.all(['p1', 'p2', 's1', 's2', 's3', 'l1'].map((n) => echo(n)));
  apps.push(...lbApps.map((a) => a.server));
  const [secureA, secureB, secureC] = await Promise.all([
    tlsEcho('secure-a'),
    tlsEcho('secure-b'),
    tlsEcho('secure-c')
  ]);
  outside = await echo('outside');
  const [multiA, multiB, hopApp, hiddenApp, nosubsetApp] = await Promise.all(
    ['multi-a', 'multi-b', 'hop', 'hop-hidden', 'hop-nosubset'].map((n) => echo(n))
  );
  apps.push(multiA!.server, multiB!.server, hopApp!.server, hiddenApp!.server, nosubsetApp!.server);
  const portOf = (a: { address: string }) => a.address.split(':')[1];
  // a route's destination without a port: the connection's port (9000) when the destination has it
  const routes = `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi}
spec:
  hosts: [multi.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: 7100, name: tcp-b, protocol: TCP, targetPort: ${portOf(multiB!)}}
  - {number: 9000, name: tcp-a, protocol: TCP, targetPort: ${portOf(multiA!)}}
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: team}
spec:
  hosts: [private.example]
  exportTo: ["."]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 9000, name: tcp, protocol: TCP, targetPort: ${portOf(multiA!)}}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hop}
spec:
  hosts: [hop]
  tcp: [{route: [{destination: {host: multi.example}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hop-hidden}
spec:
  hosts: [hop-hidden]
  tcp: [{route: [{destination: {host: private.example}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hop-nosubset}
spec:
  hosts: [hop-nosubset]
  tcp: [{route: [{destination: {host: hop, subset: nosuch}}]}]
`;
  // a server-first protocol: a greeting on connect, then an echo
  const mail = net.createServer((c) => {
    c.write('220 mail ready\r\n');
    c.on('data', (d: Buffer) => c.write(`echo ${d.toString('latin1')}`));
    c.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => mail.listen(0, '127.0.0.1', r));
  // answers once the client has finished sending (half-closed its side): how many bytes it got
  const counter = net.createServer({ allowHalfOpen: true }, (c) => {
    let n = 0;
    c.on('data', (d: Buffer) => (n += d.length));
    c.on('end', () => c.end(`got ${n} bytes\r\n`));
    c.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
  apps.push(
    v1.server,
    v2.server,
    guarded.server,
    outside.server,
    mail,
    counter,
    secureA.server,
    secureB.server,
    secureC.server
  );
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      locked: { workloads: [{ name: 'locked-v1', instances: [locked.address] }] },
      echo: {
        port: 9000,
        workloads: [
          { name: 'echo-v1', labels: { app: 'echo', version: 'v1' }, instances: [v1.address] },
          { name: 'echo-v2', labels: { app: 'echo', version: 'v2' }, instances: [v2.address] }
        ]
      },
      guarded: { port: 9000, workloads: [{ name: 'guarded-v1', instances: [guarded.address] }] },
      pool: { port: 9100, workloads: [{ name: 'pool-v1', instances: [lbApps[0]!.address, lbApps[1]!.address] }] },
      limited: { port: 9300, workloads: [{ name: 'limited-v1', instances: [lbApps[5]!.address] }] },
      sticky: {
        port: 9200,
        workloads: [{ name: 'sticky-v1', instances: [lbApps[2]!.address, lbApps[3]!.address, lbApps[4]!.address] }]
      },
      secure: {
        port: 8443,
        workloads: [
          { name: 'secure-a', labels: { app: 'secure', version: 'a' }, instances: [secureA.address] },
          { name: 'secure-b', labels: { app: 'secure', version: 'b' }, instances: [secureB.address] },
          { name: 'secure-c', labels: { app: 'secure', version: 'c' }, instances: [secureC.address] }
        ]
      },
      counter: {
        port: 7000,
        protocol: 'tcp',
        workloads: [{ name: 'counter-v1', instances: [`127.0.0.1:${(counter.address() as net.AddressInfo).port}`] }]
      },
      hop: { port: 9000, protocol: 'tcp', workloads: [{ name: 'hop-v1', instances: [hopApp!.address] }] },
      'hop-hidden': {
        port: 9000,
        protocol: 'tcp',
        workloads: [{ name: 'hop-hidden-v1', instances: [hiddenApp!.address] }]
      },
      'hop-nosubset': {
        port: 9000,
        protocol: 'tcp',
        workloads: [{ name: 'hop-nosubset-v1', instances: [nosubsetApp!.address] }]
      },
      mail: {
        port: 2525,
        protocol: 'tcp',
        workloads: [{ name: 'mail-v1', instances: [`127.0.0.1:${(mail.address() as net.AddressInfo).port}`] }]
      }
    }),
    istio: { 'tcp.yaml': ISTIO + routes }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller.close(), locked.close()]);
  await Promise.all(apps.map((s) => new Promise((r) => s.close(r))));
});

const metricLines = async (name: string) =>
  (await m.mesh.metrics()).text.split('\n').filter((l) => l.startsWith(`${name}{`));

describe('opaque TCP between sidecars', () => {
  it("a caller's upstream port carries a non-HTTP stream by the tcp route (weight 100 to v2) over mutual TLS", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await exchange(m.upstream('caller-v1', 'echo'), 'PING\r\n', (g) => g.endsWith('\r\n'));
      expect(r.got).toBe('v2:PING\r\n');
    }
    // a connection counts as closed once both of its ends are gone, just after the client saw its answer
    const opened = await until(async () => {
      const l = await metricLines('istio_tcp_connections_closed_total');
      return l.length === 2 && l.every((x) => x.endsWith(' 3')) ? l : undefined;
    }, 'three closed connections at both reporters');
    const source = opened!.find((l) => l.includes('reporter="source"'))!;
    expect(source).toContain('source_workload="caller-v1"');
    expect(source).toContain('destination_workload="echo-v2"');
    expect(source).toContain('destination_principal="spiffe://cluster.local/ns/default/sa/default"');
    expect(source).toContain('request_protocol="tcp",response_flags="-",connection_security_policy="unknown"} 3');
    const dest = opened!.find((l) => l.includes('reporter="destination"'))!;
    // the calling workload is known at the server too (Istio's in-band metadata exchange)
    expect(dest).toContain('source_workload="caller-v1"');
    expect(dest).toContain('source_principal="spiffe://cluster.local/ns/default/sa/default"');
    expect(dest).toContain('connection_security_policy="mutual_tls"} 3');
    expect(dest).not.toContain('response_code');
    // bytes from the reporter's view: received from its downstream, sent back to it
    const received = await metricLines('istio_tcp_received_bytes_total');
    const sent = await metricLines('istio_tcp_sent_bytes_total');
    expect(received.find((l) => l.includes('reporter="source"'))).toMatch(/ 18$/);
    expect(sent.find((l) => l.includes('reporter="destination"'))).toMatch(/ 27$/);
  });

  it('AuthorizationPolicy on TCP: a DENY rule of HTTP-only fields denies every connection (Istio drops the fields)', async () => {
    const r = await exchange(m.upstream('caller-v1', 'guarded'), 'PING\r\n', () => false);
    expect(r.got).toBe('');
    expect(r.ended).toBe(true);
  });
});

describe("a tcp route's destination", () => {
  it("without a port: the connection's port when the destination has it (not the destination's first)", async () => {
    const r = await exchange(m.upstream('caller-v1', 'hop'), 'PING\r\n', (g) => g.endsWith('\r\n'));
    expect(r.got).toBe('multi-a:PING\r\n');
  });
  it('to a subset no DestinationRule defines: no cluster (NC, as for HTTP), the connection closes', async () => {
    const r = await exchange(m.upstream('caller-v1', 'hop-nosubset'), 'PING\r\n', () => false);
    expect([r.got, r.ended]).toEqual(['', true]);
    const closed = await until(
      async () =>
        (await metricLines('istio_tcp_connections_closed_total')).find(
          (l) => l.includes('response_flags="NC"') && l.includes('destination_service="hop.default.svc.cluster.local"')
        ),
      'an NC connection to hop counted'
    );
    expect(closed).toContain('source_workload="caller-v1"');
  });
  it('one the caller does not import (exportTo "." of another namespace): no cluster, the connection closes (NC)', async () => {
    const r = await exchange(m.upstream('caller-v1', 'hop-hidden'), 'PING\r\n', () => false);
    expect([r.got, r.ended]).toEqual(['', true]);
    const closed = await until(
      async () =>
        (await metricLines('istio_tcp_connections_closed_total')).find(
          (l) => l.includes('response_flags="NC"') && l.includes('destination_service="private.example"')
        ),
      'an NC connection to private.example counted'
    );
    expect(closed).toContain('source_workload="caller-v1"');
  });
});

describe('protocol: tcp', () => {
  it('a server-first protocol works through both sidecars: the greeting arrives before the client says anything', async () => {
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(m.upstream('caller-v1', 'mail'), '127.0.0.1');
      let buf = '';
      const timer = setTimeout(() => (s.destroy(), resolve(`timeout: ${buf}`)), 5000);
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (buf === '220 mail ready\r\n') s.write('QUIT\r\n');
        if (buf.endsWith('echo QUIT\r\n')) {
          clearTimeout(timer);
          s.destroy();
          resolve(buf);
        }
      });
      s.on('error', () => resolve(`error: ${buf}`));
    });
    expect(got).toBe('220 mail ready\r\necho QUIT\r\n');
  });
});

/** Connect, send `data`, half-close (FIN) and read until the other side closes (bounded). */
function sendAndHalfClose(port: number, data: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let got = '';
    const timer = setTimeout(() => (s.destroy(), resolve(`timeout: ${got}`)), 5000);
    s.on('connect', () => s.end(data));
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('end', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`error ${e.code}: ${got}`);
    });
  });
}

describe("the DestinationRule's loadBalancer picks a TCP connection's endpoint", () => {
  const who = async (service: string) =>
    (await exchange(m.upstream('caller-v1', service), 'X\r\n', (g) => g.endsWith('\r\n'))).got.split(':')[0];
  it('ROUND_ROBIN alternates between the two instances', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await who('pool'))!);
    expect(new Set(seen)).toEqual(new Set(['p1', 'p2']));
    for (let i = 1; i < seen.length; i++) expect(seen[i], seen.join(' ')).not.toBe(seen[i - 1]);
  });
  it('consistentHash on the source IP keeps every connection from this caller on one instance', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add((await who('sticky'))!);
    expect(seen.size).toBe(1);
  });
});

describe('connectionPool.tcp.maxConnections on TCP', () => {
  it("past the limit a caller's new connection is closed (UO) without reaching the app; a freed slot takes the next", async () => {
    const port = m.upstream('caller-v1', 'limited');
    // the first connection stays open
    const held = net.connect(port, '127.0.0.1');
    const first = await new Promise<string>((resolve) => {
      held.once('connect', () => held.write('ONE\r\n'));
      held.once('data', (d: Buffer) => resolve(d.toString('latin1')));
      held.once('error', (e) => resolve(`error ${e.message}`));
    });
    expect(first).toBe('l1:ONE\r\n');
    const over = await exchange(port, 'TWO\r\n', (g) => g.endsWith('\r\n'));
    expect(over).toMatchObject({ got: '', ended: true });
    const uo = await until(
      async () =>
        (await metricLines('istio_tcp_connections_opened_total')).find(
          (l) => l.includes('destination_service_name="limited"') && l.includes('response_flags="UO"')
        ),
      'a UO connection to limited'
    );
    expect(uo).toContain('reporter="source",source_workload="caller-v1"');
    held.destroy();
    // once the held connection is gone, a new one goes through
    const again = await until(async () => {
      const r = await exchange(port, 'THREE\r\n', (g) => g.endsWith('\r\n'));
      return r.got === 'l1:THREE\r\n' ? r.got : undefined;
    }, 'a connection after the slot freed');
    expect(again).toBe('l1:THREE\r\n');
  });
});

describe('SNI routing (tls routes)', () => {
  it("an app's own TLS is routed by its ClientHello's SNI, passed through to the app untouched; no match: tcp routes", async () => {
    const port = m.upstream('caller-v1', 'secure');
    // exact sniHosts (and the port matches)
    expect(await tlsExchange(port, 'a.secure.test')).toBe('secure-a (a.secure.test): PING\r\n');
    // a *. wildcard, any depth below it
    expect(await tlsExchange(port, 'x.b.secure.test')).toBe('secure-b (x.b.secure.test): PING\r\n');
    expect(await tlsExchange(port, 'y.z.b.secure.test')).toBe('secure-b (y.z.b.secure.test): PING\r\n');
    // no tls route matches (a *. wildcard does not match the bare suffix): the tcp route, subset c
    expect(await tlsExchange(port, 'other.test')).toBe('secure-c (other.test): PING\r\n');
    expect(await tlsExchange(port, 'b.secure.test')).toBe('secure-c (b.secure.test): PING\r\n');
  });
});

describe('half-close', () => {
  it('a client that half-closes after sending still gets the answer the app sends after that (Envoy tcp_proxy)', async () => {
    expect(await sendAndHalfClose(m.upstream('caller-v1', 'counter'), 'x'.repeat(100))).toBe('got 100 bytes\r\n');
  });
  it('the same from a caller without a sidecar, through the inbound sidecar only', async () => {
    expect(await sendAndHalfClose(m.inbound('counter-v1'), 'y'.repeat(70))).toBe('got 70 bytes\r\n');
  });
});

describe('plaintext TCP from a caller without a sidecar', () => {
  it('PERMISSIVE: bytes that are not HTTP reach the app', async () => {
    const r = await exchange(m.inbound('echo-v2'), '*1\r\n$4\r\nPING\r\n', (g) => g.endsWith('PING\r\n'));
    expect(r.got).toBe('v2:*1\r\n$4\r\nPING\r\n');
    const lines = await until(
      async () =>
        (await metricLines('istio_tcp_connections_opened_total')).find(
          (l) => l.includes('reporter="destination"') && l.includes('source_workload="unknown"')
        ),
      'a plaintext connection at the destination'
    );
    expect(lines).toContain('connection_security_policy="none"');
  });
  it('STRICT: the connection is reset, no byte reaches the app', async () => {
    const r = await exchange(m.inbound('echo-v1'), 'PING\r\n', () => false);
    expect(r.got).toBe('');
    expect(r.ended).toBe(true);
  });
  it('HTTP on the same port still goes to the HTTP chain (the echo app answers raw bytes, not HTTP)', async () => {
    const r = await exchange(m.inbound('echo-v2'), 'GET / HTTP/1.1\r\nHost: echo\r\n\r\n', (g) =>
      g.includes('\r\n\r\n')
    );
    // the HTTP chain reads the app's answer as a response: the echo's bytes are not one, so the sidecar answers
    // with its own 5xx instead of relaying them
    expect(r.got).toMatch(/^HTTP\/1\.1 50\d /);
    expect(r.got).toContain('server: istio-envoy');
  });
});

describe('CONNECT through the outbound proxy port (HTTPS_PROXY)', () => {
  const tunnel = (workload: string, authority: string) =>
    exchange(m.outbound(workload), `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\nhello\n`, (g) =>
      g.endsWith('hello\n')
    );
  it('ALLOW_ANY: a host the registry does not know is passed through (PassthroughCluster)', async () => {
    const r = await tunnel('caller-v1', outside.address);
    expect(r.got).toBe('HTTP/1.1 200 Connection Established\r\n\r\noutside:hello\n');
    const line = await until(
      async () =>
        (await metricLines('istio_tcp_connections_opened_total')).find((l) =>
          l.includes('destination_service_name="PassthroughCluster"')
        ),
      'a PassthroughCluster connection'
    );
    expect(line).toContain('reporter="source",source_workload="caller-v1"');
    // istio_stats: a TCP stream has no Host header to name the service, so only its name is the catch-all cluster
    expect(line).toContain('destination_service="unknown",');
    expect(line).toContain('destination_service_name="PassthroughCluster",');
  });
  it('a mesh service goes by its tcp routes (v2), over mutual TLS between the sidecars', async () => {
    const r = await tunnel('caller-v1', 'echo:9000');
    expect(r.got).toBe('HTTP/1.1 200 Connection Established\r\n\r\nv2:hello\n');
  });
  it("a mesh service's tls routes apply to the app's TLS through the tunnel (SNI of its ClientHello)", async () => {
    const viaTunnel = (servername: string) =>
      new Promise<string>((resolve) => {
        const raw = net.connect(m.outbound('caller-v1'), '127.0.0.1');
        const timer = setTimeout(() => (raw.destroy(), resolve('timeout')), 5000);
        raw.once('connect', () => raw.write('CONNECT secure:8443 HTTP/1.1\r\nHost: secure:8443\r\n\r\n'));
        raw.once('data', (d: Buffer) => {
          if (!d.toString('latin1').startsWith('HTTP/1.1 200')) return resolve(`no tunnel: ${d.toString('latin1')}`);
          const t = tls.connect({ socket: raw, servername, rejectUnauthorized: false });
          t.on('secureConnect', () => t.write('PING\r\n'));
          t.on('data', (x: Buffer) => {
            clearTimeout(timer);
            t.destroy();
            resolve(x.toString('latin1'));
          });
          t.on('error', (e) => resolve(`error ${e.message}`));
        });
      });
    expect(await viaTunnel('a.secure.test')).toBe('secure-a (a.secure.test): PING\r\n');
    expect(await viaTunnel('q.b.secure.test')).toBe('secure-b (q.b.secure.test): PING\r\n');
    expect(await viaTunnel('none.test')).toBe('secure-c (none.test): PING\r\n');
  });
  it("REGISTRY_ONLY: a service outside the Sidecar's egress hosts, by its dedicated port, is closed unreached", async () => {
    const r = await exchange(m.upstream('locked-v1', 'mail'), '', () => false);
    // the mail app greets whoever connects: nothing came, so nothing reached it
    expect([r.got, r.ended]).toEqual(['', true]);
    const line = await until(
      async () =>
        (await metricLines('istio_tcp_connections_closed_total')).find(
          (l) =>
            l.includes('source_workload="locked-v1"') &&
            l.includes('destination_service_name="BlackHoleCluster"') &&
            l.includes('response_flags="UH"')
        ),
      'a BlackHoleCluster connection from the dedicated port'
    );
    expect(line).toBeDefined();
    // an imported one is reached as ever
    expect((await exchange(m.upstream('locked-v1', 'echo'), 'PING\r\n', (g) => g.endsWith('\r\n'))).got).toMatch(
      /^v[12]:PING\r\n$/
    );
  });
  it('REGISTRY_ONLY (a Sidecar): an unknown host is closed, nothing reaches it', async () => {
    const r = await tunnel('locked-v1', outside.address);
    // Istio's sidecar takes the app's connection and then closes it: the tunnel opens, then ends
    expect(r.got).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    expect(r.ended).toBe(true);
    // the BlackHoleCluster has no endpoint: Envoy's tcp_proxy closes the connection as no healthy upstream (UH)
    const line = await until(
      async () =>
        (await metricLines('istio_tcp_connections_closed_total')).find(
          (l) => l.includes('source_workload="locked-v1"') && l.includes('destination_service_name="BlackHoleCluster"')
        ),
      'a BlackHoleCluster connection'
    );
    expect(line).toContain('destination_service="unknown",');
    expect(line).toContain('response_flags="UH",');
  });
});
