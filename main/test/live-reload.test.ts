/**
 * Integration: the file watcher. Editors save by writing a temp file and renaming it over the old one; every
 * later save must still apply, whether renamed or written in place, and a new sub-folder of Istio files counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let web: Stub, api: Stub;
let m: Running;
const logs: string[] = [];
const vs = (body: string, host = 'web') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  http:
  - directResponse: {status: 200, body: {string: "${body}"}}
`;

beforeAll(async () => {
  [web, api] = await Promise.all([stub('web'), stub('api')]);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
        api: { workloads: [{ name: 'api-v1', instances: [api.address] }] }
      }),
      istio: { 'web.yaml': vs('one') }
    },
    { watch: true, debounceMs: 20, log: (l) => logs.push(l) }
  );
});
afterAll(async () => {
  await m?.close();
  await Promise.all([web, api].map((s) => s?.close()));
});

const answer = async (host = 'web') => (await viaProxy(m.outbound('web-v1'), `${host}:9080`, '/')).body;

describe('live reload', () => {
  it('applies a save by rename, then later saves by rename and in place, and writeIstioFile', async () => {
    const file = path.join(m.dir, 'istio', 'web.yaml');
    expect(await answer()).toBe('one');
    const renameSave = (text: string) => {
      const tmp = `${file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, file);
    };
    renameSave(vs('two'));
    await until(async () => (await answer()) === 'two', 'the first renamed save applied');
    fs.writeFileSync(file, vs('three'));
    await until(async () => (await answer()) === 'three', 'an in-place save after a rename applied');
    renameSave(vs('four'));
    await until(async () => (await answer()) === 'four', 'a second renamed save applied');
    await m.mesh.writeIstioFile({ path: file, content: vs('five') });
    expect(await answer()).toBe('five');
    fs.writeFileSync(file, vs('six'));
    await until(async () => (await answer()) === 'six', 'an in-place save after writeIstioFile applied');
  });

  it('a new sub-folder with an Istio file is watched too', async () => {
    const sub = path.join(m.dir, 'istio', 'team-a');
    fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, 'api.yaml'), vs('api-one', 'api'));
    await until(async () => (await answer('api')) === 'api-one', 'the file in the new folder applied');
    fs.writeFileSync(path.join(sub, 'api.yaml'), vs('api-two', 'api'));
    await until(async () => (await answer('api')) === 'api-two', 'an edit in the new folder applied');
  });
  it('the log names the problems of an applied config, and says when the files are good again after a rejected edit', async () => {
    const file = path.join(m.dir, 'istio', 'api-subset.yaml');
    const route = (subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-subset}
spec:
  hosts: [api]
  http:
  - route: [{destination: {host: api, subset: ${subset}}}]
`;
    fs.writeFileSync(file, route('v9'));
    // a route to a subset no DestinationRule defines runs (503 NC, as in Istio), and the log says where it is
    const applied = await until(
      () => logs.findIndex((l) => /applied \(\d+ Istio resources, \d+ error\(s\)/.test(l)) + 1,
      'applied'
    );
    expect(logs.slice(applied)).toContainEqual(
      expect.stringMatching(/^ {2}\S*istio\/api-subset\.yaml:7:\d+: error IST0101 .*subset "v9"/)
    );
    const good = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: api\n');
    await until(() => logs.some((l) => l.startsWith('reload rejected: ')), 'the broken edit rejected');
    fs.writeFileSync(file, good);
    await until(
      () => logs.some((l) => /^config is valid again: version \d+ keeps running, unchanged$/.test(l)),
      'fixed'
    );
  }, 30_000);
});
