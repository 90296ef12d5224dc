/**
 * Integration: the engine methods the app uses — Istio files (read, live validation, write + reload), quick
 * actions as YAML edits, flow bodies — and the admin token that gates the browser UI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startAdminServer, type AdminServer } from '../transports/http/admin-server.js';
import { createHttpMeshApi } from '../contract/http-client.js';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, r1: Stub, r2: Stub;
let m: Running;

const VS = `# ratings routing, owned by the ratings team
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: ratings
        subset: v2
  - route:
    - destination:
        host: ratings
        subset: v1   # stable
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
`;

beforeAll(async () => {
  [caller, r1, r2] = await Promise.all([stub('caller'), stub('r1'), stub('r2')]);
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      ratings: {
        workloads: [
          { name: 'ratings-v1', labels: { app: 'ratings', version: 'v1' }, instances: [r1.address] },
          { name: 'ratings-v2', labels: { app: 'ratings', version: 'v2' }, instances: [r2.address] }
        ]
      }
    }),
    istio: { 'ratings.yaml': VS }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, r1, r2].map((s) => s.close()));
});

const vsFile = () => path.join(m.dir, 'istio', 'ratings.yaml');
const served = (r: { body: string }) => (JSON.parse(r.body) as { stub: string }).stub;

describe('Istio files', () => {
  it('lists files with their resources and reads one', async () => {
    const files = await m.mesh.listIstioFiles();
    expect(files.map((f) => f.relative)).toEqual([path.join('istio', 'ratings.yaml')]);
    expect(files[0]!.resources.map((r) => `${r.kind}/${r.name}@${r.line}`)).toEqual([
      'VirtualService/ratings@2',
      'DestinationRule/ratings@23'
    ]);
    expect((await m.mesh.readIstioFile({ path: 'istio/ratings.yaml' })).content).toBe(VS);
  });
  it('validates unsaved text: the issue is on the line that is wrong, nothing is written or applied', async () => {
    const broken = VS.replace('        subset: v1   # stable', '      weight: "fifty"');
    const issues = await m.mesh.validateIstioText({ path: vsFile(), content: broken });
    const err = issues.find((i) => i.severity === 'error');
    expect(err?.code).toBe('IST0106');
    expect(err?.where.line).toBe(21);
    expect(fs.readFileSync(vsFile(), 'utf8')).toBe(VS);
    expect((await m.mesh.getConfig()).version).toBe(1);
  });
  it('refuses paths outside the Istio folders', async () => {
    await expect(m.mesh.readIstioFile({ path: '../../etc/passwd' })).rejects.toMatchObject({ code: 'LM205' });
    await expect(m.mesh.writeIstioFile({ path: 'localmesh.yaml', content: 'x' })).rejects.toMatchObject({
      code: 'LM205'
    });
  });
  it('write = save + reload; a rejected write keeps the last good config; an identical save does not bump the version', async () => {
    const good = VS.replace('subset: v1   # stable', 'subset: v2');
    const ok = await m.mesh.writeIstioFile({ path: vsFile(), content: good });
    expect(ok.ok).toBe(true);
    expect(ok.version).toBe(2);
    expect(served(await viaProxy(m.outbound('caller-v1'), 'ratings:9080', '/r'))).toBe('r2');
    const bad = await m.mesh.writeIstioFile({
      path: vsFile(),
      content: good.replace('kind: VirtualService', 'kind: VirtualService\n  bad indent: [')
    });
    expect(bad.ok).toBe(false);
    expect(served(await viaProxy(m.outbound('caller-v1'), 'ratings:9080', '/r'))).toBe('r2');
    const again = await m.mesh.writeIstioFile({ path: vsFile(), content: good });
    expect(again.ok).toBe(true);
    expect(again.version).toBe(2);
    await m.mesh.writeIstioFile({ path: vsFile(), content: VS });
  });
  it('a reload with nothing changed answers afresh (same version, a new time) and sends its config event', async () => {
    const first = await m.mesh.reload();
    const events: string[] = [];
    const off = m.mesh.onEvent((e) => {
      if (e.type === 'config') events.push(e.reload.at);
    });
    const second = await m.mesh.reload();
    off();
    expect(second.ok).toBe(true);
    expect(second.version).toBe(first.version);
    expect(second.at >= first.at).toBe(true);
    expect(events).toEqual([second.at]);
  });
});

describe('quick actions', () => {
  it('fault on a service: adds fault to every routed rule, keeps comments and style; saving applies it', async () => {
    const plan = await m.mesh.planQuickAction({ type: 'fault', service: 'ratings', abortStatus: 503, percentage: 100 });
    expect(plan.path).toBe(vsFile());
    expect(plan.before).toBe(fs.readFileSync(vsFile(), 'utf8'));
    expect(plan.after).toContain('# ratings routing, owned by the ratings team');
    expect(plan.after).toContain('# stable');
    expect(plan.after).toContain('\n  - ratings\n'); // compact sequences kept
    const docs = YAML.parseAllDocuments(plan.after).map((d) => d.toJS());
    const http = docs[0].spec.http as { fault?: unknown }[];
    expect(
      http.every(
        (r) => JSON.stringify(r.fault) === JSON.stringify({ abort: { httpStatus: 503, percentage: { value: 100 } } })
      )
    ).toBe(true);
    expect(docs[1].kind).toBe('DestinationRule');
    expect(plan.summary).toMatch(/abort 503 for 100% of requests to ratings \(2 rules/);
    expect(fs.readFileSync(vsFile(), 'utf8')).toBe(VS); // planning writes nothing
    await m.mesh.writeIstioFile({ path: plan.path, content: plan.after });
    const r = await viaProxy(m.outbound('caller-v1'), 'ratings:9080', '/f');
    expect(r.status).toBe(503);
    expect(r.body).toBe('fault filter abort');
    const clear = await m.mesh.planQuickAction({ type: 'clear-fault', service: 'ratings' });
    // only the edited document is re-serialized: its one visible change is the comment's spacing
    expect(clear.after).toBe(VS.replace('v1   # stable', 'v1 # stable'));
    await m.mesh.writeIstioFile({ path: clear.path, content: clear.after });
    expect((await viaProxy(m.outbound('caller-v1'), 'ratings:9080', '/f')).status).toBe(200);
  });
  it('fault only for a header: a new first rule with the catch-all route', async () => {
    const plan = await m.mesh.planQuickAction({
      type: 'fault',
      service: 'ratings',
      delayMs: 20,
      percentage: 50,
      header: { name: 'X-Test', value: 'yes' }
    });
    const http = YAML.parseAllDocuments(plan.after)[0]!.toJS().spec.http;
    expect(http[0]).toEqual({
      name: 'localmesh-fault',
      match: [{ headers: { 'x-test': { exact: 'yes' } } }],
      fault: { delay: { fixedDelay: '20ms', percentage: { value: 50 } } },
      route: [{ destination: { host: 'ratings', subset: 'v1' } }]
    });
    expect(http).toHaveLength(3);
  });
  it('fault on one edge (from one caller): a first rule matching the caller with sourceLabels; other callers unaffected', async () => {
    const plan = await m.mesh.planQuickAction({
      type: 'fault',
      service: 'ratings',
      abortStatus: 503,
      from: 'caller-v1'
    });
    const http = YAML.parseAllDocuments(plan.after)[0]!.toJS().spec.http;
    expect(http[0]).toEqual({
      name: 'localmesh-fault',
      match: [{ sourceLabels: { app: 'caller' } }],
      fault: { abort: { httpStatus: 503, percentage: { value: 100 } } },
      route: [{ destination: { host: 'ratings', subset: 'v1' } }]
    });
    expect(plan.summary).toMatch(/requests to ratings from caller-v1 \(a new first rule "localmesh-fault"\)/);
    await m.mesh.writeIstioFile({ path: plan.path, content: plan.after });
    expect((await viaProxy(m.outbound('caller-v1'), 'ratings:9080', '/edge')).status).toBe(503);
    expect((await viaProxy(m.outbound('ratings-v2'), 'ratings:9080', '/edge')).status).toBe(200);
    const clear = await m.mesh.planQuickAction({ type: 'clear-fault', service: 'ratings' });
    await m.mesh.writeIstioFile({ path: clear.path, content: clear.after });
    expect((await viaProxy(m.outbound('caller-v1'), 'ratings:9080', '/edge')).status).toBe(200);
    await expect(
      m.mesh.planQuickAction({ type: 'fault', service: 'ratings', abortStatus: 503, from: 'nobody' })
    ).rejects.toMatchObject({ code: 'LM202' });
  });
  it('shift traffic sets weights on the catch-all rule; timeout/retries on every rule', async () => {
    const shift = await m.mesh.planQuickAction({ type: 'shift', service: 'ratings', weights: { v1: 80, v2: 20 } });
    const http = YAML.parseAllDocuments(shift.after)[0]!.toJS().spec.http;
    expect(http[1].route).toEqual([
      { destination: { host: 'ratings', subset: 'v1' }, weight: 80 },
      { destination: { host: 'ratings', subset: 'v2' }, weight: 20 }
    ]);
    const t = await m.mesh.planQuickAction({
      type: 'timeout',
      service: 'ratings',
      timeoutMs: 1500,
      retries: { attempts: 3, perTryTimeoutMs: 500, retryOn: '5xx' }
    });
    for (const r of YAML.parseAllDocuments(t.after)[0]!.toJS().spec.http) {
      expect(r.timeout).toBe('1500ms');
      expect(r.retries).toEqual({ attempts: 3, perTryTimeout: '500ms', retryOn: '5xx' });
    }
    // the result is valid Istio: no errors when validated as the file's new text
    const issues = await m.mesh.validateIstioText({ path: t.path, content: t.after });
    expect(issues.filter((i) => i.severity === 'error')).toEqual([]);
    // a subset no DestinationRule defines would be answered 503 NC: refused, naming the ones there are
    await expect(
      m.mesh.planQuickAction({ type: 'shift', service: 'ratings', weights: { v1: 50, zz: 50 } })
    ).rejects.toMatchObject({
      code: 'LM201',
      message: expect.stringMatching(/^no subset zz of ratings: its DestinationRule defines v1, v2/)
    });
  });
  it('a service without a VirtualService gets a new file; bad input is a coded error', async () => {
    const plan = await m.mesh.planQuickAction({ type: 'fault', service: 'caller', abortStatus: 500 });
    expect(plan.path).toBe(path.join(m.dir, 'istio', 'caller-virtual-service.yaml'));
    expect(plan.before).toBe('');
    expect(YAML.parse(plan.after)).toEqual({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'caller' },
      spec: {
        hosts: ['caller'],
        http: [
          {
            route: [{ destination: { host: 'caller' } }],
            fault: { abort: { httpStatus: 500, percentage: { value: 100 } } }
          }
        ]
      }
    });
    await expect(m.mesh.planQuickAction({ type: 'fault', service: 'nope', abortStatus: 500 })).rejects.toMatchObject({
      code: 'LM202'
    });
    await expect(m.mesh.planQuickAction({ type: 'fault', service: 'ratings' })).rejects.toMatchObject({
      code: 'LM201'
    });
  });
});

describe('flow bodies', () => {
  it('getFlow has the request and response bodies; listFlows and events leave them out', async () => {
    await viaProxy(m.outbound('caller-v1'), 'ratings:9080', '/body', {
      method: 'POST',
      body: '{"hello":"world"}',
      headers: { 'content-type': 'application/json', 'x-request-id': 'body-1' }
    });
    const listed = (await m.mesh.listFlows({ limit: 10 })).find(
      (f) => f.requestId === 'body-1' && f.reporter === 'source'
    )!;
    expect(listed.requestBody).toBeUndefined();
    const full = await m.mesh.getFlow({ id: listed.id });
    expect(full.requestBody).toEqual({ encoding: 'utf8', data: '{"hello":"world"}', size: 17, truncated: false });
    expect(full.responseBody?.data).toContain('"stub":"r1"');
    expect(full.responseHeaders['content-type']).toBe('application/json');
    expect(full.responseHeaders.server).toBe('envoy');
    await expect(m.mesh.getFlow({ id: 'nope' })).rejects.toMatchObject({ code: 'LM202' });
  });
});

describe('admin token (browser UI)', () => {
  let admin: AdminServer;
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(m.dir, 'ui-'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>ui</title>');
    admin = await startAdminServer(m.mesh, { port: 0, staticDir: dir, token: 'secret-token' });
  });
  afterAll(() => admin.close());

  it('the API answers 401 without the token, 200 with the bearer token', async () => {
    const no = await fetch(`${admin.url}/api/v1/health`);
    expect(no.status).toBe(401);
    expect(((await no.json()) as { error: { code: string } }).error.code).toBe('LM204');
    expect((await createHttpMeshApi(admin.url, { token: 'secret-token' }).health()).status).toBe('ok');
    await expect(createHttpMeshApi(admin.url, { token: 'wrong' }).health()).rejects.toMatchObject({ code: 'LM204' });
    // the scheme is case-insensitive; the token is not
    const lower = await fetch(`${admin.url}/api/v1/health`, { headers: { authorization: 'bearer secret-token' } });
    expect(lower.status).toBe(200);
    const wrongCase = await fetch(`${admin.url}/api/v1/health`, { headers: { authorization: 'Bearer SECRET-token' } });
    expect(wrongCase.status).toBe(401);
  });
  it('opening the URL with ?token sets an HttpOnly cookie and redirects; the cookie then opens the API', async () => {
    const r = await fetch(`${admin.url}/?token=secret-token`, { redirect: 'manual' });
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/');
    const cookie = r.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^localmesh_token=secret-token; HttpOnly; SameSite=Strict; Path=\//);
    const api = await fetch(`${admin.url}/api/v1/workloads`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(api.status).toBe(200);
    expect((await fetch(`${admin.url}/?token=nope`, { redirect: 'manual' })).status).toBe(401);
  });
});
