import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMeshFile } from './load-mesh-file.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'localmesh-meshfile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** Write `text` as localmesh.yaml in a fresh folder; returns the file path. */
function meshFile(text: string): string {
  const dir = path.join(root, `case-${++counter}`);
  mkdirSync(dir);
  const file = path.join(dir, 'localmesh.yaml');
  writeFileSync(file, text);
  return file;
}

/** 1-based line/column of the first occurrence of `needle` in `text`. */
function loc(text: string, needle: string): { line: number; column: number } {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`needle not found: ${needle}`);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

const VALID = `apiVersion: localmesh.dev/v1alpha1
kind: Mesh
metadata: {name: bookinfo}
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
      instances: ["127.0.0.1:19082", "localhost:19083"]
  - name: ratings
    namespace: team-b
    port: 9080
    workloads:
    - name: ratings-v1
      instances: ["127.0.0.1:19091"]
`;

describe('loadMeshFile: valid file', () => {
  it('returns the mesh with defaults, the base dir and no issues; paths stay as written', () => {
    const file = meshFile(VALID);
    mkdirSync(path.join(path.dirname(file), 'istio'));
    const r = loadMeshFile(file);
    expect(r.issues).toEqual([]);
    expect(r.baseDir).toBe(path.dirname(file));
    expect(r.mesh?.spec.istio).toEqual(['./istio']);
    expect(r.mesh?.spec.namespace).toBe('default');
    expect(r.mesh?.spec.services[0]!.workloads[0]!.sidecar).toBe(true);
    expect(r.mesh?.spec.services[0]!.workloads[0]!.serviceAccount).toBe('default');
    expect(r.posOf?.(['spec', 'services', 1, 'name'])).toMatchObject(loc(VALID, 'ratings\n'));
  });
});

describe('loadMeshFile: file and syntax errors', () => {
  it('LM001 when the file does not exist', () => {
    const missing = path.join(root, 'nope', 'localmesh.yaml');
    const r = loadMeshFile(missing);
    expect(r.mesh).toBeUndefined();
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({
      severity: 'error',
      code: 'LM001',
      where: { file: missing, line: 1, column: 1 }
    });
    expect(r.issues[0]!.message).toMatch(/not found/);
  });

  it('LM002 with the exact position of a YAML syntax error', () => {
    const text = 'apiVersion: localmesh.dev/v1alpha1\nkind: Mesh\nspec:\n\tnamespace: x\n';
    const file = meshFile(text);
    const r = loadMeshFile(file);
    expect(r.mesh).toBeUndefined();
    expect(r.issues[0]).toMatchObject({
      severity: 'error',
      code: 'LM002',
      path: '',
      where: { file, line: 4, column: 1 }
    });
    expect(r.issues[0]!.message).toMatch(/^YAML syntax error: Tabs are not allowed/);
  });

  it('LM002 at the repeated key for a duplicate key', () => {
    const text = 'apiVersion: localmesh.dev/v1alpha1\nkind: Mesh\nspec: {}\nkind: Mesh\n';
    const r = loadMeshFile(meshFile(text));
    expect(r.issues[0]).toMatchObject({ code: 'LM002', where: { line: 4, column: 1 } });
  });

  it('LM003 for an empty file and for several documents', () => {
    expect(loadMeshFile(meshFile('# nothing here\n')).issues[0]).toMatchObject({ code: 'LM003', severity: 'error' });
    const two = `${VALID.replace('  istio: [./istio]\n', '')}---\nkind: Other\n`;
    const r = loadMeshFile(meshFile(two));
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({ code: 'LM003', where: loc(two, 'kind: Other') });
  });
});

describe('loadMeshFile: schema (LM003)', () => {
  it('names an unknown key and points at the key itself', () => {
    const text = VALID.replace(
      '      instances: ["127.0.0.1:19081"]\n',
      '      instances: ["127.0.0.1:19081"]\n      sidcar: false\n'
    ).replace('  istio: [./istio]\n', '');
    const r = loadMeshFile(meshFile(text));
    expect(r.mesh).toBeUndefined();
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({
      severity: 'error',
      code: 'LM003',
      path: 'spec.services[0].workloads[0].sidcar',
      message: 'unknown field "sidcar" (did you mean "sidecar"?)',
      where: loc(text, 'sidcar')
    });
  });

  it('LM005 at a bad instance address, with the full field path', () => {
    const text = VALID.replace('"localhost:19083"', '"10.0.0.1:19083"').replace('  istio: [./istio]\n', '');
    const r = loadMeshFile(meshFile(text));
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({
      code: 'LM005',
      path: 'spec.services[0].workloads[1].instances[1]',
      where: loc(text, '"10.0.0.1:19083"')
    });
    expect(r.issues[0]!.message).toMatch(/loopback/);
  });

  it('reports every issue: wrong type, missing field, bad enum', () => {
    const text = `apiVersion: localmesh.dev/v1alpha1
kind: Mesh
spec:
  outboundTrafficPolicy: {mode: DENY}
  services:
  - name: reviews
    port: "9080"
    workloads:
    - name: reviews-v1
`;
    const r = loadMeshFile(meshFile(text));
    const byPath = Object.fromEntries(r.issues.map((i) => [i.path, i]));
    expect(Object.keys(byPath).sort()).toEqual([
      'spec.outboundTrafficPolicy.mode',
      'spec.services[0].port',
      'spec.services[0].workloads[0].instances'
    ]);
    expect(byPath['spec.services[0].port']).toMatchObject({ code: 'LM003', where: loc(text, '"9080"') });
    expect(byPath['spec.services[0].port']!.message).toBe('must be a number, found the string "9080"');
    expect(byPath['spec.services[0].workloads[0].instances']!.message).toMatch(/missing required field "instances"/);
    // a missing field points at its parent object
    expect(byPath['spec.services[0].workloads[0].instances']!.where).toMatchObject(loc(text, 'name: reviews-v1'));
    expect(byPath['spec.outboundTrafficPolicy.mode']).toMatchObject({ where: loc(text, 'DENY') });
    expect(byPath['spec.outboundTrafficPolicy.mode']!.message).toMatch(/"ALLOW_ANY", "REGISTRY_ONLY"/);
  });
});

describe('loadMeshFile: semantic checks', () => {
  it('LM004 for a service name used twice in one namespace', () => {
    const text = `${VALID.replace('  istio: [./istio]\n', '')}  - name: reviews
    port: 9081
`;
    const r = loadMeshFile(meshFile(text));
    expect(r.mesh).toBeUndefined();
    expect(r.issues).toHaveLength(1);
    const second = text.lastIndexOf('- name: reviews') + 2;
    const line = text.slice(0, second).split('\n').length;
    expect(r.issues[0]).toMatchObject({
      severity: 'error',
      code: 'LM004',
      path: 'spec.services[2].name',
      where: { line, column: 11 }
    });
    expect(r.issues[0]!.message).toMatch(/"reviews" is defined twice in namespace "default" \(first at line 6\)/);
  });

  it('allows the same service name in two namespaces', () => {
    const text = `${VALID.replace('  istio: [./istio]\n', '')}  - name: reviews
    namespace: other
    port: 9081
`;
    expect(loadMeshFile(meshFile(text)).issues).toEqual([]);
  });

  it('LM004 for a workload name used twice', () => {
    const text = VALID.replace('- name: ratings-v1', '- name: reviews-v1').replace('  istio: [./istio]\n', '');
    const r = loadMeshFile(meshFile(text));
    expect(r.issues).toHaveLength(1);
    const i = text.lastIndexOf('reviews-v1');
    const before = text.slice(0, i).split('\n');
    expect(r.issues[0]).toMatchObject({
      code: 'LM004',
      path: 'spec.services[1].workloads[0].name',
      where: { line: before.length, column: before[before.length - 1]!.length + 1 }
    });
  });

  it('LM007 for an instance address used twice (localhost = 127.0.0.1)', () => {
    const text = VALID.replace('"127.0.0.1:19091"', '"localhost:19081"').replace('  istio: [./istio]\n', '');
    const r = loadMeshFile(meshFile(text));
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({
      severity: 'error',
      code: 'LM007',
      path: 'spec.services[1].workloads[0].instances[0]',
      where: loc(text, '"localhost:19081"')
    });
    expect(r.issues[0]!.message).toMatch(/already used by workload "reviews-v1"/);
  });

  it('LM006 for an istio path that does not exist (relative to the mesh file)', () => {
    const text = VALID.replace('[./istio]', '[./istio, ./missing]');
    const file = meshFile(text);
    mkdirSync(path.join(path.dirname(file), 'istio'));
    const r = loadMeshFile(file);
    expect(r.mesh).toBeUndefined();
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({
      severity: 'error',
      code: 'LM006',
      path: 'spec.istio[1]',
      where: loc(text, './missing')
    });
    expect(r.issues[0]!.message).toContain(path.join(path.dirname(file), 'missing'));
  });
});

describe('loadMeshFile: every problem at once', () => {
  it('a schema error, a bad address, duplicate names and instances and a missing Istio path all report in one run', () => {
    const text = `apiVersion: localmesh.dev/v1alpha1
kind: Mesh
spec:
  istio: [./istio, ./missing]
  services:
  - name: reviews
    port: "9080"
    workloads:
    - name: reviews-v1
      labels: {app: reviews, version: v1}
      instances: ["127.0.0.1:99999", "127.0.0.1:19081", "localhost:19081"]
    - name: reviews-v1
      labels: {app: reviews, version: v2}
      instances: ["127.0.0.1"]
  - name: ratings
    port: 9080
    workloads:
    - name: ratings-v1
      instances: ["127.0.0.1:19091"]
  - name: ratings
    port: 9081
    workloads: []
`;
    const file = meshFile(text);
    mkdirSync(path.join(path.dirname(file), 'istio'));
    const r = loadMeshFile(file);
    expect(r.mesh).toBeUndefined();
    expect(r.issues.map((i) => [i.code, i.path]).sort()).toEqual(
      [
        ['LM003', 'spec.services[0].port'],
        ['LM005', 'spec.services[0].workloads[0].instances[0]'],
        // one LM005 per address, though "127.0.0.1" fails both the pattern and the port range
        ['LM005', 'spec.services[0].workloads[1].instances[0]'],
        ['LM007', 'spec.services[0].workloads[0].instances[2]'],
        ['LM004', 'spec.services[0].workloads[1].name'],
        ['LM004', 'spec.services[2].name'],
        ['LM006', 'spec.istio[1]']
      ].sort()
    );
    expect(r.issues.find((i) => i.code === 'LM004' && i.path === 'spec.services[2].name')!.where).toMatchObject(
      loc(text, 'ratings\n    port: 9081')
    );
    // the mesh as far as it could be read, to check the Istio files against: a service whose port does not parse is
    // left out, a workload whose only instance is bad keeps its labels
    expect(r.lenient?.spec.istio).toEqual(['./istio', './missing']);
    expect(r.lenient?.spec.services.map((s) => [s.name, s.port, s.workloads.map((w) => w.labels)])).toEqual([
      ['ratings', 9080, [{}]],
      ['ratings', 9081, []]
    ]);
  });

  it('reads the rest of a mesh with a wrong apiVersion, a bad value and an unknown key', () => {
    const text = VALID.replace('localmesh.dev/v1alpha1', 'localmesh.dev/v1')
      .replace('  istio: [./istio]\n', '  istio: [./istio]\n  portBase: -4\n  capture: {bodyCap: -1, maxFlows: 500}\n')
      .replace('labels: {app: reviews, version: v1}', 'labels: {app: reviews, version: v1}\n      sidcar: false');
    const file = meshFile(text);
    mkdirSync(path.join(path.dirname(file), 'istio'));
    const r = loadMeshFile(file);
    expect(r.issues.map((i) => [i.code, i.path]).sort()).toEqual([
      ['LM003', 'apiVersion'],
      ['LM003', 'spec.capture.bodyCap'],
      ['LM003', 'spec.portBase'],
      ['LM003', 'spec.services[0].workloads[0].sidcar']
    ]);
    const lenient = r.lenient!;
    expect(lenient.spec.portBase).toBe(0);
    expect(lenient.spec.capture).toMatchObject({ bodyCap: 1024 * 1024, maxFlows: 500 });
    expect(lenient.spec.services.map((s) => s.workloads.map((w) => w.name))).toEqual([
      ['reviews-v1', 'reviews-v2'],
      ['ratings-v1']
    ]);
    expect(lenient.spec.services[1]!.namespace).toBe('team-b');
  });

  it('a mesh file with several documents still has its first checked', () => {
    const text = `${VALID.replace('  istio: [./istio]\n', '').replace('"127.0.0.1:19091"', '"127.0.0.1:19081"')}---\nkind: Other\n`;
    const r = loadMeshFile(meshFile(text));
    expect(r.issues.map((i) => i.code)).toEqual(['LM003', 'LM007']);
  });

  it('no lenient mesh when not even spec is a map', () => {
    const r = loadMeshFile(meshFile('apiVersion: localmesh.dev/v1alpha1\nkind: Mesh\nspec: [a]\n'));
    expect(r.issues.map((i) => [i.code, i.path])).toEqual([['LM003', 'spec']]);
    expect(r.lenient).toBeUndefined();
  });
});

describe('loadMeshFile: sidecar ports from spec.portBase (LM007)', () => {
  // one service, two workloads with a sidecar: per workload its outbound port, one inbound port per instance and
  // one port per service (its <SERVICE>_URL), in that order from portBase: 3 + 5 = 8 ports
  const mesh = (portBase: number, instances: string[], sidecar2 = true) => `apiVersion: localmesh.dev/v1alpha1
kind: Mesh
spec:
  portBase: ${portBase}
  services:
  - name: reviews
    port: 9080
    workloads:
    - name: reviews-v1
      instances: ["${instances[0]}"]
    - name: reviews-v2
      sidecar: ${sidecar2}
      instances: [${instances
        .slice(1)
        .map((a) => `"${a}"`)
        .join(', ')}]
`;

  it('an instance port inside the range the sidecars take is an error at the instance', () => {
    const text = mesh(20000, ['127.0.0.1:20001', 'localhost:20000', '127.0.0.1:20008', '127.0.0.1:20007']);
    const r = loadMeshFile(meshFile(text));
    expect(r.mesh).toBeUndefined();
    expect(r.issues.map((i) => [i.severity, i.code, i.path])).toEqual([
      ['error', 'LM007', 'spec.services[0].workloads[0].instances[0]'],
      ['error', 'LM007', 'spec.services[0].workloads[1].instances[0]'],
      ['error', 'LM007', 'spec.services[0].workloads[1].instances[2]']
    ]);
    const [own, out, url] = r.issues.map((i) => i.message);
    expect(own).toBe(
      'instance address "127.0.0.1:20001" is inside the sidecar ports of spec.portBase 20000 (20000-20007, 8 ports): the inbound sidecar of workload "reviews-v1" instance 0 would listen on port 20001, and would forward to itself (requests hang); move the instance, or spec.portBase (e.g. portBase: 20009)'
    );
    expect(out).toContain('the outbound sidecar of workload "reviews-v1" would listen on port 20000;');
    expect(url).toContain('the port of workload "reviews-v2" for service reviews (its REVIEWS_URL) would listen');
    expect(r.issues[0]!.where).toMatchObject(loc(text, '"127.0.0.1:20001"'));
  });

  it('no error outside the range, without portBase, on another loopback address, or for a workload without a sidecar', () => {
    // two instances: 6 ports, 20000-20005
    expect(loadMeshFile(meshFile(mesh(20000, ['127.0.0.1:19999', '127.0.0.1:20006']))).issues).toEqual([]);
    expect(loadMeshFile(meshFile(mesh(20000, ['127.0.0.1:19999', '127.0.0.1:20005']))).issues).toHaveLength(1);
    expect(loadMeshFile(meshFile(mesh(0, ['127.0.0.1:1', '127.0.0.1:2']))).issues).toEqual([]);
    expect(loadMeshFile(meshFile(mesh(20000, ['127.0.0.2:20001', '[::1]:20002']))).issues).toEqual([]);
    // without reviews-v2's sidecar: reviews-v1's 3 ports only (20000-20002)
    expect(loadMeshFile(meshFile(mesh(20000, ['127.0.0.1:20004', '127.0.0.1:20003'], false))).issues).toEqual([]);
    const r = loadMeshFile(meshFile(mesh(20000, ['127.0.0.1:20004', '127.0.0.1:20002'], false)));
    expect(r.issues.map((i) => i.path)).toEqual(['spec.services[0].workloads[1].instances[0]']);
  });
});
