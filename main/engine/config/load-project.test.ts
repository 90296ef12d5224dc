import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMesh } from '../mesh.js';
import { loadProject } from './load-project.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'localmesh-project-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A project folder with localmesh.yaml and the given Istio files (under istio/); returns the mesh file. */
function project(mesh: string, istio: Record<string, string> = {}): string {
  const dir = path.join(root, `case-${++counter}`);
  mkdirSync(path.join(dir, 'istio'), { recursive: true });
  for (const [name, text] of Object.entries(istio)) writeFileSync(path.join(dir, 'istio', name), text);
  const file = path.join(dir, 'localmesh.yaml');
  writeFileSync(file, mesh);
  return file;
}

const MESH = `apiVersion: localmesh.dev/v1alpha1
kind: Mesh
spec:
  istio: [./istio]
  services:
  - name: reviews
    port: 9080
    workloads:
    - name: reviews-v1
      labels: {app: reviews, version: v1}
      instances: ["127.0.0.1:19081"]
    - name: reviews-v2
      labels: {app: reviews, version: v2}
      instances: ["127.0.0.1:19082"]
`;

const vs = (kind = 'VirtualService', apiVersion = 'networking.istio.io/v1', meta = '') => `apiVersion: ${apiVersion}
kind: ${kind}
metadata:
  name: reviews${meta}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
`;
const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

describe('loadProject: a mesh file with errors', () => {
  it('every problem of the mesh file and of the Istio files, mesh file first; the count of what was read', () => {
    // a bad address hid the duplicate workload, and the Istio files were not read at all (0 resources in 0 files)
    const file = project(
      `apiVersion: localmesh.dev/v1alpha1
kind: Mesh
spec:
  istio: [./istio]
  services:
  - name: a
    port: 8080
    workloads:
    - name: a
      instances: ["127.0.0.1:99999"]
    - name: a
      instances: ["127.0.0.1:21302"]
`,
      {
        'vs.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a}
spec:
  hosts: [a]
  http:
  - route:
    - destination: {host: ghost}
`,
        'dr.yaml': 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a}\n'
      }
    );
    const p = loadProject(file);
    expect(p.issues.map((i) => [i.code, path.basename(i.where.file), i.path])).toEqual([
      ['LM005', 'localmesh.yaml', 'spec.services[0].workloads[0].instances[0]'],
      ['LM004', 'localmesh.yaml', 'spec.services[0].workloads[1].name'],
      ['IST0101', 'vs.yaml', 'spec.http[0].route[0].destination.host']
    ]);
    expect(p.mesh).toBeUndefined();
    expect(p.files.map((f) => path.basename(f))).toEqual(['dr.yaml', 'vs.yaml']);
    expect(p.resources.map((r) => r.kind)).toEqual(['DestinationRule', 'VirtualService']);
  });

  it('the Istio files are checked against the services that could be read (a subset of a kept workload)', () => {
    const file = project(MESH.replace('"127.0.0.1:19082"', '"127.0.0.1:abc"'), { 'dr.yaml': DR, 'vs.yaml': vs() });
    const p = loadProject(file);
    // reviews-v2's only instance is bad, but its labels still make subset v2 select a workload (no IST0173)
    expect(p.issues.map((i) => i.code)).toEqual(['LM005']);
    expect(p.resources).toHaveLength(2);
  });

  it('a service the mesh file names but could not be read is not an unknown host to the Istio files', () => {
    const file = project(MESH.replace('port: 9080', 'port: abc'), { 'dr.yaml': DR, 'vs.yaml': vs() });
    const p = loadProject(file);
    // its own error says what is wrong; no IST0174 for the DestinationRule, no IST0101 for the route
    expect(p.issues.map((i) => [i.code, i.path])).toEqual([['LM003', 'spec.services[0].port']]);
    // a host no service of the file names is still unknown
    const other = project(MESH.replace('port: 9080', 'port: abc'), {
      'dr.yaml': DR.replace('host: reviews', 'host: nosuch')
    });
    expect(loadProject(other).issues.map((i) => i.code)).toContain('IST0174');
  });

  it('a missing Istio path is LM006; the other paths are still read', () => {
    const file = project(MESH.replace('[./istio]', '[./missing, ./istio]'), { 'vs.yaml': vs('VirtualServce') });
    const p = loadProject(file);
    expect(p.issues.map((i) => [i.code, i.path])).toEqual([
      ['LM006', 'spec.istio[0]'],
      ['IST0106', 'kind']
    ]);
  });
});

describe('loadProject: Istio documents kubectl apply would refuse block the config', () => {
  it.each([
    ['a kind typo', vs('VirtualServce'), 'did you mean VirtualService?'],
    ['a kind in lower case', vs('virtualservice'), 'did you mean VirtualService?'],
    ['an unserved version', vs('VirtualService', 'networking.istio.io/v2'), 'not a served version'],
    ['a kind under another Istio group', vs('VirtualService', 'security.istio.io/v1'), 'not a served version'],
    ['an unknown metadata field', vs('VirtualService', undefined, '\n  namespce: prod'), 'did you mean "namespace"?']
  ])('%s', (_, text, message) => {
    const p = loadProject(project(MESH, { 'dr.yaml': DR, 'vs.yaml': text }));
    expect(p.issues.filter((i) => i.severity === 'error').map((i) => i.code)).toEqual(['IST0106']);
    expect(p.issues[0]!.message).toContain(message);
    expect(p.mesh).toBeUndefined();
  });

  it('a JWKS beside the Istio YAML does not', () => {
    const p = loadProject(project(MESH, { 'dr.yaml': DR, 'vs.yaml': vs(), 'jwks.json': '{"keys": []}' }));
    expect(p.issues.map((i) => [i.severity, i.code])).toEqual([['info', 'IST0014']]);
    expect(p.mesh).toBeDefined();
  });
});

/** A base port with `n` consecutive free ports on 127.0.0.1. */
async function freeRange(n: number): Promise<number> {
  const canListen = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await canListen(p);
    if (ok) return base;
  }
  throw new Error(`no ${n} free consecutive ports`);
}

describe('a running mesh', () => {
  it('a live reload of a kind typo, an unserved version or a metadata typo is rejected; the last good config runs', async () => {
    const file = project(MESH, { 'dr.yaml': DR, 'vs.yaml': vs() });
    const mesh = await createMesh(file, {
      watch: false,
      launch: false,
      store: 'memory',
      stateDir: path.join(path.dirname(file), '.localmesh')
    });
    try {
      const running = () => mesh.snapshot.resources.map((r) => `${r.kind}/${r.namespace}/${r.name}`).sort();
      expect(running()).toEqual(['DestinationRule/default/reviews', 'VirtualService/default/reviews']);
      for (const text of [
        vs('VirtualServce'),
        vs('VirtualService', 'networking.istio.io/v2'),
        vs('VirtualService', undefined, '\n  namespce: prod')
      ]) {
        writeFileSync(path.join(path.dirname(file), 'istio', 'vs.yaml'), text);
        const r = await mesh.reload();
        expect(r.ok).toBe(false);
        expect(r.issues.map((i) => i.code)).toContain('IST0106');
        expect(mesh.snapshot.version).toBe(1);
        expect(running()).toEqual(['DestinationRule/default/reviews', 'VirtualService/default/reviews']);
      }
    } finally {
      await mesh.close();
    }
  });

  it('the sidecars take exactly the ports validate reserves from portBase; up refuses an instance inside them', async () => {
    // 2 workloads × (outbound + 1 inbound + 1 per service) = 6 ports
    const base = await freeRange(6);
    const withBase = (instances: [number, number]) =>
      MESH.replace('  istio: [./istio]\n', `  istio: [./istio]\n  portBase: ${base}\n`)
        .replace('"127.0.0.1:19081"', `"127.0.0.1:${instances[0]}"`)
        .replace('"127.0.0.1:19082"', `"localhost:${instances[1]}"`);
    const ok = project(withBase([base - 1, base + 6]));
    expect(loadProject(ok).issues).toEqual([]);
    const mesh = await createMesh(ok, {
      watch: false,
      launch: false,
      store: 'memory',
      stateDir: path.join(path.dirname(ok), '.localmesh')
    });
    try {
      expect([...mesh.listeners().values()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5].map((i) => base + i));
    } finally {
      await mesh.close();
    }
    // the last port of the range: the REVIEWS_URL port of reviews-v2
    const bad = project(withBase([base - 1, base + 5]));
    expect(loadProject(bad).issues.map((i) => [i.code, i.path])).toEqual([
      ['LM007', 'spec.services[0].workloads[1].instances[0]']
    ]);
    await expect(
      createMesh(bad, { watch: false, launch: false, store: 'memory', stateDir: path.join(path.dirname(bad), '.lm') })
    ).rejects.toMatchObject({ code: 'LM007' });
  });
});
