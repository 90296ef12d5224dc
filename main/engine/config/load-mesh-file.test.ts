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
