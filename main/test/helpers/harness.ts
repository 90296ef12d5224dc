/**
 * Test harness: real stub upstreams on 127.0.0.1 ephemeral ports, a temporary project folder with a localmesh.yaml
 * and Istio YAML, a real engine, and a raw HTTP client (no keep-alive surprises).
 */
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMesh, type Mesh, type MeshOptions } from '../../engine/mesh.js';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type StubBehaviour = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  seen: Seen,
  n: number
) => void | Promise<void>;

export interface Stub {
  name: string;
  port: number;
  address: string;
  seen: Seen[];
  behave(b: StubBehaviour | undefined): void;
  close(): Promise<void>;
}

/** An upstream app that answers JSON naming itself, and records what it saw. */
export async function stub(name: string, behaviour?: StubBehaviour): Promise<Stub> {
  const seen: Seen[] = [];
  let b = behaviour;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString()
      };
      seen.push(s);
      if (b) return void b(req, res, s, seen.length);
      const body = JSON.stringify({ stub: name, url: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    seen,
    behave: (nb) => (b = nb),
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      })
  };
}

/** What holds the dead ports (see deadPort) until the test process ends. */
const holding: net.Socket[] = [];
/**
 * A port nothing listens on, which no other listener can be given while the tests run: the local port of a
 * connection this process keeps open (to a server of its own). A connection to it is refused, as to any closed port;
 * a port bound and released instead could be handed, in the meantime, to a server in another test file running
 * beside this one (vitest runs files in parallel), and a "refused" call then reached that server (seen in CI).
 */
export async function deadPort(): Promise<number> {
  const server = net.createServer((accepted) => accepted.unref());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  // nothing here keeps the process alive; the accepted end stays with the server, which listens on another port
  server.unref();
  sock.unref();
  holding.push(sock);
  return sock.localPort!;
}

export interface ProjectSpec {
  /** YAML text of spec.services (indented by the caller as a list) or a JS object turned into YAML. */
  meshYaml: string;
  istio?: Record<string, string>;
}

export function writeProject(spec: ProjectSpec): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-test-'));
  const file = path.join(dir, 'localmesh.yaml');
  fs.writeFileSync(file, spec.meshYaml);
  fs.mkdirSync(path.join(dir, 'istio'), { recursive: true });
  for (const [name, text] of Object.entries(spec.istio ?? {})) fs.writeFileSync(path.join(dir, 'istio', name), text);
  return { dir, file };
}

export interface Running {
  mesh: Mesh;
  dir: string;
  file: string;
  outbound(workload: string): number;
  inbound(workload: string, index?: number): number;
  upstream(workload: string, service: string): number;
  close(): Promise<void>;
}

export async function startMesh(spec: ProjectSpec, opts: MeshOptions = {}): Promise<Running> {
  const { dir, file } = writeProject(spec);
  const mesh = await createMesh(file, { seed: 42, watch: false, ...opts });
  const port = (key: string) => {
    const p = mesh.listeners().get(key);
    if (p === undefined) throw new Error(`no listener ${key}: ${[...mesh.listeners().keys()].join(', ')}`);
    return p;
  };
  return {
    mesh,
    dir,
    file,
    outbound: (w) => port(`out:${w}`),
    inbound: (w, i = 0) => port(`in:${w}#${i}`),
    upstream: (w, s) => port(`up:${w}:${s}.default`),
    close: async () => {
      await mesh.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  raw: Buffer;
}

/** One request with a fresh connection. `url` may be absolute (proxy form) or a path (Host header form). */
export function request(
  port: number,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: url,
        headers: opts.headers,
        agent: false,
        setHost: !opts.headers?.host && !opts.headers?.Host
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString(), raw });
        });
        res.on('error', reject);
      }
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Through an outbound sidecar as an HTTP proxy: GET http://<authority><path>. */
export function viaProxy(
  port: number,
  authority: string,
  p: string,
  opts: Parameters<typeof request>[2] = {}
): Promise<Reply> {
  return request(port, `http://${authority}${p}`, opts);
}

/** Mesh YAML for services given as {name: [{workload, labels, instances, sidecar?}]}. */
export function meshYaml(
  services: Record<
    string,
    {
      workloads: {
        name: string;
        labels?: Record<string, string>;
        instances: string[];
        sidecar?: boolean;
        serviceAccount?: string;
      }[];
      port?: number;
      namespace?: string;
      protocol?: 'auto' | 'http' | 'tcp';
    }
  >,
  extra = '',
  istio: string[] = ['./istio']
): string {
  const lines = [
    'apiVersion: localmesh.dev/v1alpha1',
    'kind: Mesh',
    'metadata: {name: test}',
    'spec:',
    `  istio: ${JSON.stringify(istio)}`
  ];
  if (extra) lines.push(extra);
  lines.push('  services:');
  for (const [name, s] of Object.entries(services)) {
    lines.push(`  - name: ${name}`, `    port: ${s.port ?? 9080}`);
    if (s.namespace) lines.push(`    namespace: ${s.namespace}`);
    if (s.protocol) lines.push(`    protocol: ${s.protocol}`);
    lines.push('    workloads:');
    for (const w of s.workloads) {
      lines.push(`    - name: ${w.name}`);
      lines.push(`      labels: ${JSON.stringify(w.labels ?? { app: name })}`);
      if (w.serviceAccount) lines.push(`      serviceAccount: ${w.serviceAccount}`);
      lines.push(`      instances: ${JSON.stringify(w.instances)}`);
      if (w.sidecar === false) lines.push('      sidecar: false');
    }
  }
  return lines.join('\n') + '\n';
}

/** Wait until `fn` returns truthy, polling on events of the loop (bounded; never a fixed sleep as the assertion). */
export async function until<T>(fn: () => T | Promise<T>, what: string, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
