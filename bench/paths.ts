/**
 * What the benchmark measures: the paths (direct, the baselines, localmesh's one- and two-hop configurations) and
 * the mesh files that build the localmesh ones.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Size of the upstream's JSON answer. */
export const BODY_BYTES = 1024;
/** The request path every client sends. */
export const REQUEST_PATH = '/bench/items/42';

export type PathId =
  | 'direct'
  | 'nginx'
  | 'mockttp'
  | 'mitmproxy'
  | 'node-floor'
  | 'http-proxy'
  | 'undici'
  | 'mesh-1hop'
  | 'mesh-1hop-nocapture'
  | 'mesh-1hop-node'
  | 'mesh-2hop-plain'
  | 'mesh-2hop-mtls'
  | 'mesh-2hop-mtls-capture'
  | 'mesh-2hop-vs50';

export interface PathDef {
  id: PathId;
  label: string;
  /** Proxies between the client and the upstream. */
  hops: number;
  /** Whose CPU counts as "the proxy's". */
  proxy: 'none' | 'nginx' | 'mockttp' | 'mitmproxy' | 'bare' | 'engine' | 'engine-nocapture' | 'engine-node';
  /** For proxy `bare`: which bare data plane (bare-proxy-child.ts). */
  bare?: 'node-http' | 'http-proxy' | 'undici';
  /** Measured at saturation only, not at the fixed rate (the bare data planes: only their CPU is compared). */
  saturationOnly?: boolean;
  /** Where the bare client connects: the listener key of the engine, or a baseline. */
  listener?: string;
  /** Answers carry Envoy's `server` header (a check that the path really crosses a sidecar). */
  envoy?: boolean;
}

export const CALLER = 'client-v1';

export const PATHS: PathDef[] = [
  { id: 'direct', label: 'direct (no proxy)', hops: 0, proxy: 'none' },
  { id: 'nginx', label: 'nginx (1 worker, keepalive upstream)', hops: 1, proxy: 'nginx' },
  { id: 'mockttp', label: 'mockttp forwarding', hops: 1, proxy: 'mockttp' },
  { id: 'mitmproxy', label: 'mitmproxy reverse mode', hops: 1, proxy: 'mitmproxy' },
  {
    id: 'node-floor',
    label: 'bare node:http proxy, keep-alive Agent (the Node floor)',
    hops: 1,
    proxy: 'bare',
    bare: 'node-http',
    saturationOnly: true
  },
  {
    id: 'http-proxy',
    label: 'bare http-proxy, keep-alive Agent',
    hops: 1,
    proxy: 'bare',
    bare: 'http-proxy',
    saturationOnly: true
  },
  {
    id: 'undici',
    label: 'bare node:http server + undici Pool',
    hops: 1,
    proxy: 'bare',
    bare: 'undici',
    saturationOnly: true
  },
  {
    id: 'mesh-1hop',
    label: 'localmesh 1 hop (inbound sidecar)',
    hops: 1,
    proxy: 'engine',
    listener: 'in:api-v1#0',
    envoy: true
  },
  {
    id: 'mesh-1hop-nocapture',
    label: 'localmesh 1 hop, capture off (routing, telemetry, tracing; no flow stored)',
    hops: 1,
    proxy: 'engine-nocapture',
    listener: 'in:api-v1#0',
    envoy: true
  },
  {
    id: 'mesh-1hop-node',
    label: 'localmesh 1 hop on node:http (LOCALMESH_FAST_LANE=0)',
    hops: 1,
    proxy: 'engine-node',
    listener: 'in:api-v1#0',
    envoy: true
  },
  {
    id: 'mesh-2hop-plain',
    label: 'localmesh 2 hops plaintext (PERMISSIVE)',
    hops: 2,
    proxy: 'engine',
    listener: `up:${CALLER}:api-plain.default`,
    envoy: true
  },
  {
    id: 'mesh-2hop-mtls',
    label: 'localmesh 2 hops mTLS (capture off)',
    hops: 2,
    proxy: 'engine-nocapture',
    listener: `up:${CALLER}:api.default`,
    envoy: true
  },
  {
    id: 'mesh-2hop-mtls-capture',
    label: 'localmesh 2 hops mTLS + capture (SQLite, bodies)',
    hops: 2,
    proxy: 'engine',
    listener: `up:${CALLER}:api.default`,
    envoy: true
  },
  {
    id: 'mesh-2hop-vs50',
    label: 'localmesh 2 hops mTLS, VirtualService of 50 rules',
    hops: 2,
    proxy: 'engine',
    listener: `up:${CALLER}:api-vs.default`,
    envoy: true
  }
];

/** Upstream ports the bench mesh uses: [direct/baselines, api, api-plain, api-vs, edit, client]. */
export const UPSTREAM_PORTS = 6;

export interface MeshPorts {
  api: number;
  apiPlain: number;
  apiVs: number;
  edit: number;
  client: number;
}

function service(name: string, workload: string, port: number): string[] {
  return [
    `  - name: ${name}`,
    '    port: 9080',
    '    workloads:',
    `    - name: ${workload}`,
    `      labels: {app: ${name}, version: v1}`,
    `      instances: ["127.0.0.1:${port}"]`
  ];
}

export function benchMeshYaml(p: MeshPorts, capture = true): string {
  return [
    'apiVersion: localmesh.dev/v1alpha1',
    'kind: Mesh',
    'metadata: {name: bench}',
    'spec:',
    '  istio: ["./istio"]',
    ...(capture ? [] : ['  capture: {enabled: false}']),
    '  services:',
    ...service('client', CALLER, p.client),
    ...service('api', 'api-v1', p.api),
    ...service('api-plain', 'api-plain-v1', p.apiPlain),
    ...service('api-vs', 'api-vs-v1', p.apiVs),
    ...service('edit', 'edit-v1', p.edit),
    ''
  ].join('\n');
}

/** The caller's sidecar speaks plaintext to api-plain (its inbound sidecar stays PERMISSIVE). */
export const DR_PLAIN = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api-plain}
spec:
  host: api-plain
  trafficPolicy: {tls: {mode: DISABLE}}
`;

/** 49 rules that do not match the benchmark's requests, then the one that does. */
export function vs50(): string {
  const lines = [
    'apiVersion: networking.istio.io/v1',
    'kind: VirtualService',
    'metadata: {name: api-vs}',
    'spec:',
    '  hosts: [api-vs]',
    '  http:'
  ];
  for (let i = 1; i <= 49; i++) {
    lines.push(`  - name: miss-${i}`);
    if (i % 3 === 0)
      lines.push(`    match: [{uri: {prefix: /bench/never-${i}}, headers: {x-bench-rule: {exact: r${i}}}}]`);
    else if (i % 3 === 1) lines.push(`    match: [{headers: {x-bench-rule: {exact: r${i}}}}]`);
    else lines.push(`    match: [{uri: {regex: '/bench/r${i}/[0-9]+'}}]`);
    lines.push('    route: [{destination: {host: api-vs}}]');
  }
  lines.push(
    '  - name: last',
    '    match: [{uri: {prefix: /bench}}]',
    '    route: [{destination: {host: api-vs}}]',
    ''
  );
  return lines.join('\n');
}

/** The VirtualService the edit-apply measurement rewrites: its answer header names the version. */
export function editVs(version: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edit}
spec:
  hosts: [edit]
  http:
  - name: only
    route: [{destination: {host: edit}}]
    headers: {response: {set: {x-bench-edit: "${version}"}}}
`;
}

export const EDIT_FILE = 'edit.yaml';

/** Write the bench mesh project into `dir`; returns the mesh file. */
/** The benchmark's project (`capture` false: spec.capture.enabled: false, for the capture-off path). */
export function writeBenchProject(dir: string, p: MeshPorts, capture = true): string {
  fs.mkdirSync(path.join(dir, 'istio'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'istio', 'dr-plain.yaml'), DR_PLAIN);
  fs.writeFileSync(path.join(dir, 'istio', 'vs-50.yaml'), vs50());
  fs.writeFileSync(path.join(dir, 'istio', EDIT_FILE), editVs('v0'));
  const file = path.join(dir, 'localmesh.yaml');
  fs.writeFileSync(file, benchMeshYaml(p, capture));
  return file;
}

/** A mesh of `n` services (one workload, one instance, a sidecar each; nothing to launch). */
export function writeStartupProject(dir: string, n: number): string {
  fs.mkdirSync(path.join(dir, 'istio'), { recursive: true });
  const lines = [
    'apiVersion: localmesh.dev/v1alpha1',
    'kind: Mesh',
    'metadata: {name: startup}',
    'spec:',
    '  istio: ["./istio"]',
    '  services:'
  ];
  for (let i = 0; i < n; i++) lines.push(...service(`svc-${i}`, `svc-${i}-v1`, 20000 + i));
  const file = path.join(dir, 'localmesh.yaml');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
