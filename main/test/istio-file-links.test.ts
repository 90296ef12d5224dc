/**
 * Integration: the Istio file endpoints (read, validate, write) reach only files that really are in the project's
 * Istio folders: a symbolic link there to a file elsewhere is refused (LM205), as a path outside them is.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, type Running, type Stub } from './helpers/harness.js';

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http: [{route: [{destination: {host: web}}]}]
`;

let web: Stub;
let m: Running;
let outside: string;

beforeAll(async () => {
  web = await stub('web');
  m = await startMesh({
    meshYaml: meshYaml({ web: { workloads: [{ name: 'web-v1', instances: [web.address] }] } }),
    istio: { 'web.yaml': VS }
  });
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-outside-'));
  fs.writeFileSync(path.join(outside, 'secret.yaml'), 'not: yours\n');
  // links made after the mesh started: the engine itself never loads them here, only the endpoints are asked
  fs.symlinkSync(path.join(outside, 'secret.yaml'), path.join(m.dir, 'istio', 'leak.yaml'));
  fs.symlinkSync(path.join(m.dir, 'istio', 'web.yaml'), path.join(m.dir, 'istio', 'alias.yaml'));
});
afterAll(async () => {
  await m.close();
  await web.close();
  fs.rmSync(outside, { recursive: true, force: true });
});

describe('Istio files behind symbolic links', () => {
  it('a link to a file outside the Istio folders is refused for reading, validating and writing', async () => {
    await expect(m.mesh.readIstioFile({ path: 'istio/leak.yaml' })).rejects.toMatchObject({ code: 'LM205' });
    await expect(m.mesh.validateIstioText({ path: 'istio/leak.yaml', content: VS })).rejects.toMatchObject({
      code: 'LM205'
    });
    await expect(m.mesh.writeIstioFile({ path: 'istio/leak.yaml', content: VS })).rejects.toMatchObject({
      code: 'LM205'
    });
    expect(fs.readFileSync(path.join(outside, 'secret.yaml'), 'utf8')).toBe('not: yours\n');
  });
  it('a link to a file inside them is that file', async () => {
    expect((await m.mesh.readIstioFile({ path: 'istio/alias.yaml' })).content).toBe(VS);
  });
});
