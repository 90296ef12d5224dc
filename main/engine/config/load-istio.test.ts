import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIstio } from './load-istio.js';
import { effectiveMtls } from '../security/peer-authentication.js';
import type { WorkloadInfo } from '../registry.js';

const BOOKINFO = path.resolve(import.meta.dirname, '../../../../shared/fixtures/istio-bookinfo');

const root = mkdtempSync(path.join(os.tmpdir(), 'localmesh-istio-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function freshDir(): string {
  const dir = path.join(root, `case-${++counter}`);
  mkdirSync(dir);
  return dir;
}
function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
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
const errors = (issues: { severity: string }[]) => issues.filter((i) => i.severity === 'error');

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
`;

describe('loadIstio: files and folders', () => {
  it('reads folders recursively, .yaml/.yml/.json only, sorted by path, hidden entries skipped', () => {
    const dir = freshDir();
    write(dir, 'b.yaml', VS.replace('name: reviews', 'name: b'));
    write(dir, 'a/z.yml', VS.replace('name: reviews', 'name: az'));
    write(
      dir,
      'a/c.json',
      JSON.stringify({
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'ac' },
        spec: { host: 'reviews' }
      })
    );
    write(dir, 'notes.txt', 'not yaml: [');
    write(dir, '.hidden/x.yaml', 'not: [valid');
    const r = loadIstio([dir], 'default');
    expect(r.issues).toEqual([]);
    expect(r.files).toEqual([path.join(dir, 'a/c.json'), path.join(dir, 'a/z.yml'), path.join(dir, 'b.yaml')]);
    expect(r.resources.map((x) => [x.name, x.order])).toEqual([
      ['ac', 0],
      ['az', 1],
      ['b', 2]
    ]);
  });

  it('fills in the default namespace, keeps metadata and the resource position', () => {
    const dir = freshDir();
    const text = `# a comment\n${VS}---\n${VS.replace('name: reviews', 'name: other\n  namespace: team-b\n  labels: {a: b}')}`;
    const file = write(dir, 'vs.yaml', text);
    const r = loadIstio([file], 'dev');
    expect(r.issues).toEqual([]);
    expect(r.resources.map((x) => `${x.namespace}/${x.name}`)).toEqual(['dev/reviews', 'team-b/other']);
    expect(r.resources[1]!.labels).toEqual({ a: 'b' });
    expect(r.resources[0]!.where).toEqual({ file, line: 2, column: 1 });
    expect(r.resources[1]!.where).toMatchObject({ line: 12, column: 1 });
    expect(r.posOf(r.resources[1]!, ['spec', 'http', 0, 'route', 0, 'destination', 'host'])).toEqual({
      file,
      line: 22,
      column: 27
    });
  });

  it('creation order: resources with metadata.creationTimestamp go by it, before those without; the oldest wins', () => {
    const pa = (name: string, mode: string, created?: string) =>
      `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: ${name}\n${created ? `  creationTimestamp: "${created}"\n` : ''}spec: {mtls: {mode: ${mode}}}\n`;
    const dir = freshDir();
    const file = write(
      dir,
      'pa.yaml',
      [
        pa('fresh', 'DISABLE'),
        pa('ns-new', 'PERMISSIVE', '2025-06-01T00:00:00Z'),
        pa('ns-old', 'STRICT', '2024-01-01T00:00:00Z')
      ].join('---\n')
    );
    const r = loadIstio([file], 'default');
    expect(r.issues).toEqual([]);
    expect(r.resources.map((x) => [x.name, x.order])).toEqual([
      ['ns-old', 0],
      ['ns-new', 1],
      ['fresh', 2]
    ]);
    const w = {
      name: 'api-v1',
      namespace: 'default',
      labels: {},
      serviceAccount: 'default'
    } as unknown as WorkloadInfo;
    expect(effectiveMtls(r.resources, w, 8080).mode).toBe('STRICT');
    // without timestamps, load order stands in for creation order
    const plain = loadIstio(
      [write(freshDir(), 'pa.yaml', [pa('a', 'DISABLE'), pa('b', 'STRICT')].join('---\n'))],
      'default'
    );
    expect(effectiveMtls(plain.resources, w, 8080).mode).toBe('DISABLE');
    // created in the same second: by name, then namespace (Istio's sortConfigByCreationTime), whatever the file order
    const same = '2024-01-01T00:00:00Z';
    const tie = loadIstio(
      [write(freshDir(), 'pa.yaml', [pa('z', 'DISABLE', same), pa('a', 'STRICT', same)].join('---\n'))],
      'default'
    );
    expect(tie.resources.map((x) => x.name)).toEqual(['a', 'z']);
    expect(effectiveMtls(tie.resources, w, 8080).mode).toBe('STRICT');
  });

  it('IST0011 for a path that does not exist', () => {
    const missing = path.join(root, 'does-not-exist');
    const r = loadIstio([missing], 'default');
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 'error', code: 'IST0011', where: { file: missing, line: 1, column: 1 } })
    ]);
  });

  it('IST0010 with the exact position of a YAML syntax error; other documents still load', () => {
    const dir = freshDir();
    const text = `${VS}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n\tname: x\n`;
    const file = write(dir, 'bad.yaml', text);
    const r = loadIstio([file], 'default');
    expect(r.resources.map((x) => x.name)).toEqual(['reviews']);
    expect(r.issues[0]).toMatchObject({ severity: 'error', code: 'IST0010', where: { file, line: 14, column: 1 } });
  });
});

describe('loadIstio: kinds', () => {
  it('skips non-Istio kinds with one info each (IST0012)', () => {
    const dir = freshDir();
    const text = `apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec: {ports: [{port: 9080}]}\n---\n${VS}`;
    const file = write(dir, 'mixed.yaml', text);
    const r = loadIstio([file], 'default');
    expect(r.resources.map((x) => x.kind)).toEqual(['VirtualService']);
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 'info', code: 'IST0012', path: '', where: { file, line: 1, column: 1 } })
    ]);
    expect(r.issues[0]!.message).toMatch(/^Service reviews \(v1\) skipped/);
  });

  it('warns about Istio kinds localmesh does not implement (IST0013); an unserved version is an error (IST0106)', () => {
    const dir = freshDir();
    const text = `apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: ef}\nspec: {}\n---\napiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: vs}\nspec: {hosts: [a], tcp: [{route: [{destination: {host: a}}]}]}\n`;
    const r = loadIstio([write(dir, 'x.yaml', text)], 'default');
    expect(r.resources).toEqual([]);
    expect(r.issues.map((i) => [i.severity, i.code, i.path, i.where.line, i.where.column])).toEqual([
      ['warning', 'IST0013', 'kind', 2, 7],
      ['error', 'IST0106', 'apiVersion', 6, 13]
    ]);
    expect(r.issues[0]!.message).toMatch(/EnvoyFilter .* not supported/);
    expect(r.issues[1]!.message).toMatch(
      /networking\.istio\.io\/v2 is not a served version of VirtualService; use networking\.istio\.io\/v1/
    );
  });

  it('an unknown kind or an unserved version in an Istio group is an error, as kubectl apply refuses it', () => {
    const dir = freshDir();
    const doc = (
      apiVersion: string,
      kind: string,
      name: string,
      spec = '{hosts: [a], tcp: [{route: [{destination: {host: a}}]}]}'
    ) => `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
    const text = [
      doc('networking.istio.io/v1', 'VirtualServce', 'typo'),
      doc('networking.istio.io/v1', 'virtualservice', 'lower'),
      doc('networking.istio.io/v2', 'VirtualService', 'v2'),
      doc('security.istio.io/v1', 'DestinationRule', 'group', '{host: reviews}'),
      doc('networking.istio.oi/v1', 'DestinationRule', 'grouptypo', '{host: reviews}'),
      doc('telemetry.istio.io/v1', 'Telemtry', 'ttypo', '{}'),
      doc('networking.istio.io/v1', 'Frobnicator', 'nohint', '{}')
    ].join('---\n');
    const file = write(dir, 'kinds.yaml', text);
    const r = loadIstio([file], 'default');
    expect(r.resources).toEqual([]);
    expect(r.lenient).toEqual([]);
    expect(r.issues.map((i) => [i.severity, i.code, i.path, i.where.line])).toEqual([
      ['error', 'IST0106', 'kind', 2],
      ['error', 'IST0106', 'kind', 7],
      ['error', 'IST0106', 'apiVersion', 11],
      ['error', 'IST0106', 'apiVersion', 16],
      ['error', 'IST0106', 'apiVersion', 21],
      ['error', 'IST0106', 'kind', 27],
      ['error', 'IST0106', 'kind', 32]
    ]);
    const [typo, lower, v2, group, groupTypo, ttypo, nohint] = r.issues.map((i) => i.message);
    expect(typo).toBe(
      'unknown kind "VirtualServce" in networking.istio.io (did you mean VirtualService?): kubectl apply rejects it (no matches for kind "VirtualServce" in version "networking.istio.io/v1"), so it is not applied'
    );
    expect(lower).toContain('unknown kind "virtualservice" in networking.istio.io (did you mean VirtualService?)');
    expect(v2).toContain(
      'networking.istio.io/v2 is not a served version of VirtualService; use networking.istio.io/v1 (served: networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3)'
    );
    expect(group).toContain(
      'security.istio.io/v1 is not a served version of DestinationRule; use networking.istio.io/v1'
    );
    expect(groupTypo).toContain('networking.istio.oi/v1 is not a served version of DestinationRule');
    expect(ttypo).toContain('unknown kind "Telemtry" in telemetry.istio.io (did you mean Telemetry?)');
    expect(nohint).toContain('unknown kind "Frobnicator" in networking.istio.io; its kinds: VirtualService,');
    expect(r.issues[0]!.where).toMatchObject({ file, ...loc(text, 'VirtualServce') });
  });

  it('a resource at an unserved version still has its spec checked (every problem at once), never applied', () => {
    const dir = freshDir();
    const text = VS.replace('networking.istio.io/v1', 'networking.istio.io/v1beta2').replace(
      '{host: reviews}',
      '{host: reviews, subsett: v1}'
    );
    const r = loadIstio([write(dir, 'vs.yaml', text)], 'default');
    expect(r.issues.map((i) => [i.code, i.path])).toEqual([
      ['IST0106', 'apiVersion'],
      ['IST0106', 'spec.http[0].route[0].destination.subsett']
    ]);
    expect(r.resources).toEqual([]);
    expect(r.lenient).toEqual([]);
  });

  it('keeps the IST0013 warning for every real Istio kind localmesh does not implement, IST0012 for other kinds', () => {
    const dir = freshDir();
    const text = [
      ['networking.istio.io/v1', 'WorkloadEntry'],
      ['networking.istio.io/v1', 'WorkloadGroup'],
      ['networking.istio.io/v1alpha3', 'EnvoyFilter'],
      ['networking.istio.io/v1beta1', 'ProxyConfig'],
      ['telemetry.istio.io/v1', 'Telemetry'],
      ['extensions.istio.io/v1alpha1', 'WasmPlugin'],
      ['install.istio.io/v1alpha1', 'IstioOperator'],
      ['config.istio.io/v1alpha2', 'handler'],
      ['apps/v1', 'Deployment'],
      ['v1', 'Service'],
      ['gateway.networking.k8s.io/v1', 'Gateway']
    ]
      .map(([apiVersion, kind], i) => `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: k${i}}\nspec: {}\n`)
      .join('---\n');
    const r = loadIstio([write(dir, 'real.yaml', text)], 'default');
    expect(errors(r.issues)).toEqual([]);
    expect(r.issues.map((i) => `${i.severity} ${i.code}`)).toEqual([
      ...new Array<string>(8).fill('warning IST0013'),
      ...new Array<string>(3).fill('info IST0012')
    ]);
  });

  it('keeps security kinds with their raw spec', () => {
    const dir = freshDir();
    const text =
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n';
    const r = loadIstio([write(dir, 'pa.yaml', text)], 'default');
    expect(r.issues).toEqual([]);
    expect(r.resources[0]).toMatchObject({
      kind: 'PeerAuthentication',
      namespace: 'istio-system',
      spec: { mtls: { mode: 'STRICT' } }
    });
  });

  it('warns about documents that are not resources (IST0014) and reads v1 List items', () => {
    const dir = freshDir();
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name: 'dr' },
          spec: { host: 'x', subsets: [{ name: 7 }] }
        }
      ]
    };
    const text = `just: a map\n---\n${JSON.stringify(list, null, 2)}\n`;
    const file = write(dir, 'l.yaml', text);
    const r = loadIstio([file], 'default');
    expect(r.issues[0]).toMatchObject({ severity: 'warning', code: 'IST0014', where: { line: 1, column: 1 } });
    expect(r.issues[1]).toMatchObject({
      severity: 'error',
      code: 'IST0106',
      path: 'items[0].spec.subsets[0].name',
      where: loc(text, '7')
    });
  });
});

describe('loadIstio: documents that are data', () => {
  it('a .json document without apiVersion and kind (a JWKS) is skipped with an info note; YAML keeps the warning', () => {
    const dir = freshDir();
    const jwks = write(dir, 'jwks.json', JSON.stringify({ keys: [{ kty: 'RSA', kid: 'k1', n: 'AQAB', e: 'AQAB' }] }));
    const list = write(dir, 'list.json', '[1, 2]');
    const noApi = write(dir, 'noapi.json', JSON.stringify({ kind: 'VirtualService', metadata: { name: 'x' } }));
    const yaml = write(dir, 'keys.yaml', 'keys: []\n');
    const r = loadIstio([dir], 'default');
    expect(errors(r.issues)).toEqual([]);
    const by = (f: string) => r.issues.filter((i) => i.where.file === f).map((i) => [i.severity, i.code]);
    expect(by(jwks)).toEqual([['info', 'IST0014']]);
    expect(by(list)).toEqual([['info', 'IST0014']]);
    expect(by(noApi)).toEqual([['warning', 'IST0014']]);
    expect(by(yaml)).toEqual([['warning', 'IST0014']]);
    expect(r.issues.find((i) => i.where.file === jwks)!.message).toMatch(/not a Kubernetes resource\): skipped$/);
  });
});

describe('loadIstio: metadata', () => {
  it('an unknown metadata field is an error at its key, with a hint; the resource is checked but not run', () => {
    const dir = freshDir();
    const text = VS.replace('  name: reviews\n', '  name: reviews\n  namespce: prod\n  lables: {a: b}\n');
    const file = write(dir, 'vs.yaml', text);
    const r = loadIstio([file], 'default');
    expect(r.resources).toEqual([]);
    expect(r.lenient.map((x) => `${x.namespace}/${x.name}`)).toEqual(['default/reviews']);
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 'error',
        code: 'IST0106',
        path: 'metadata.namespce',
        message: 'unknown field "namespce" (did you mean "namespace"?)',
        where: { file, ...loc(text, 'namespce') },
        resource: 'VirtualService default/reviews'
      }),
      expect.objectContaining({
        code: 'IST0106',
        path: 'metadata.lables',
        message: 'unknown field "lables" (did you mean "labels"?)'
      })
    ]);
  });

  it('accepts every Kubernetes ObjectMeta field (YAML exported with kubectl get -o yaml)', () => {
    const dir = freshDir();
    const meta = `metadata:
  name: reviews
  namespace: prod
  labels: {app: reviews}
  annotations: {a: b}
  generateName: rev-
  uid: 0b5e3c1a-1111-2222-3333-444455556666
  resourceVersion: "12345"
  generation: 3
  creationTimestamp: "2024-01-02T03:04:05Z"
  deletionTimestamp: "2024-01-03T03:04:05Z"
  deletionGracePeriodSeconds: 0
  ownerReferences: []
  finalizers: []
  managedFields: []
  selfLink: /apis/networking.istio.io/v1/namespaces/prod/virtualservices/reviews
`;
    const text = VS.replace('metadata:\n  name: reviews\n', meta);
    const r = loadIstio([write(dir, 'vs.yaml', text)], 'default');
    expect(r.issues).toEqual([]);
    expect(r.resources.map((x) => `${x.namespace}/${x.name}`)).toEqual(['prod/reviews']);
  });
});

describe('loadIstio: schema validation (IST0106)', () => {
  it('reports the field path and position; the invalid resource is left out', () => {
    const dir = freshDir();
    const text = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: 42
    retries:
      attempts: -1
      retyrOn: 5xx
`;
    const file = write(dir, 'vs.yaml', text);
    const r = loadIstio([file], 'default');
    expect(r.resources).toEqual([]);
    const byPath = Object.fromEntries(r.issues.map((i) => [i.path, i]));
    expect(byPath['spec.http[0].route[0].destination.host']).toMatchObject({
      severity: 'error',
      code: 'IST0106',
      resource: 'VirtualService default/reviews',
      where: { file, ...loc(text, '42') },
      message: 'must be a string, found number 42'
    });
    expect(byPath['spec.http[0].retries.attempts']).toMatchObject({
      code: 'IST0106',
      where: loc(text, '-1'),
      message: 'must be ≥ 0'
    });
    expect(byPath['spec.http[0].retries.retyrOn']).toMatchObject({
      code: 'IST0106',
      where: loc(text, 'retyrOn'),
      message: 'unknown field "retyrOn" (did you mean "retryOn"?)'
    });
  });

  it('requires metadata.name and a spec; flags unknown top-level fields', () => {
    const dir = freshDir();
    const text =
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {namespace: x}\nspec: {host: a}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b}\nsepc: {host: a}\n';
    const r = loadIstio([write(dir, 'dr.yaml', text)], 'default');
    expect(r.resources).toEqual([]);
    expect(r.issues.map((i) => [i.code, i.path, i.where.line, i.where.column, i.message])).toEqual([
      ['IST0106', 'metadata.name', 3, 11, 'DestinationRule: metadata.name is required'],
      ['IST0106', 'sepc', 9, 1, 'unknown field "sepc" (did you mean "spec"?)'],
      ['IST0106', 'spec', 6, 1, 'missing required field "spec" (a map)']
    ]);
  });

  it('IST0015 when kind+namespace+name is defined twice: the later copy replaces the earlier, as kubectl apply does', () => {
    const dir = freshDir();
    const a = write(dir, 'a.yaml', VS);
    const b = write(dir, 'b.yaml', `# again\n${VS}`);
    write(dir, 'c.yaml', VS.replace('name: reviews', 'name: other'));
    const r = loadIstio([dir], 'default');
    expect(r.resources.map((x) => [x.name, x.where.file, x.order])).toEqual([
      ['reviews', b, 0], // b's copy, in a's place in creation order
      ['other', path.join(dir, 'c.yaml'), 1]
    ]);
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 'warning',
        code: 'IST0015',
        path: 'metadata.name',
        where: { file: b, line: 5, column: 9 }
      })
    ]);
    // the first copy named as every place is: its metadata.name, the file relative to the later copy's folder
    expect(r.issues[0]!.message).toContain(`first at ${path.basename(a)}:4:9,`);
  });
});

describe('loadIstio: Istio bookinfo samples, unchanged', () => {
  const networking = path.join(BOOKINFO, 'networking');
  const files = readdirSync(networking).filter((f) => f.endsWith('.yaml'));

  it('has the sample files', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  it.each(files)('%s loads with no errors or warnings', (name) => {
    const r = loadIstio([path.join(networking, name)], 'default');
    expect(r.issues).toEqual([]);
    expect(r.resources.length).toBeGreaterThan(0);
  });

  it('keeps Gateway resources', () => {
    const r = loadIstio([path.join(networking, 'bookinfo-gateway.yaml')], 'default');
    expect(r.resources.map((x) => x.kind)).toEqual(['Gateway', 'VirtualService']);
  });

  it('loading the whole folder only reports the alternatives that share a name (IST0015)', () => {
    const r = loadIstio([networking], 'default');
    expect(r.issues.length).toBeGreaterThan(0);
    expect(new Set(r.issues.map((i) => i.code))).toEqual(new Set(['IST0015']));
  });

  it('skips the Kubernetes Services, ServiceAccounts and Deployments of bookinfo.yaml with info notes', () => {
    const file = path.join(BOOKINFO, 'kube', 'bookinfo.yaml');
    const r = loadIstio([file], 'default');
    expect(r.resources).toEqual([]);
    expect(errors(r.issues)).toEqual([]);
    expect(r.issues.length).toBeGreaterThanOrEqual(12);
    for (const i of r.issues) expect(i).toMatchObject({ severity: 'info', code: 'IST0012' });
    const kinds = new Set(r.issues.map((i) => i.message.split(' ')[0]));
    expect(kinds).toEqual(new Set(['Service', 'ServiceAccount', 'Deployment']));
  });

  it('skips every file of the kube folder without errors', () => {
    const r = loadIstio([path.join(BOOKINFO, 'kube')], 'default');
    expect(errors(r.issues)).toEqual([]);
    expect(r.files.length).toBe(4);
  });
});

describe('loadIstio: reloads', () => {
  it('re-reads a changed file and reuses the parse of an unchanged one, positions and all', () => {
    const dir = freshDir();
    const a = write(dir, 'a.yaml', VS);
    write(dir, 'b.yaml', VS.replace('name: reviews', 'name: other'));
    const first = loadIstio([dir], 'default');
    expect(first.resources.map((r) => r.name).sort()).toEqual(['other', 'reviews']);
    writeFileSync(a, VS.replace('name: reviews', 'name: renamed'));
    const second = loadIstio([dir], 'default');
    expect(second.resources.map((r) => r.name).sort()).toEqual(['other', 'renamed']);
    const third = loadIstio([dir], 'default');
    expect(third.resources).toEqual(second.resources);
    const other = third.resources.find((r) => r.name === 'other')!;
    expect(third.posOf(other, ['metadata', 'name'])).toEqual(
      first.posOf(
        first.resources.find((r) => r.name === 'other')!,
        ['metadata', 'name']
      )
    );
    // the resources of a reload are its own: changing one does not reach the next load
    (third.resources[0]!.spec as { hosts: string[] }).hosts.push('changed');
    expect(loadIstio([dir], 'default').resources).toEqual(second.resources);
  });
});
