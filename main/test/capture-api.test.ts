/**
 * Integration: the capture API on a real mesh with the SQLite store: filters, sessions, HAR export → import, replay
 * through the caller's sidecar with an edit, compare, traces, the graph and the metrics series.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import type { Har } from '../contract/api.js';
import { MeshError } from '../contract/errors.js';
import { LOCALMESH_VERSION } from '../engine/version.js';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let web: Stub, api: Stub, db: Stub;
let m: Running;

beforeAll(async () => {
  [web, api, db] = await Promise.all([stub('web'), stub('api'), stub('db')]);
  m = await startMesh({
    meshYaml: meshYaml({
      web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
      api: { workloads: [{ name: 'api-v1', instances: [api.address] }] },
      db: { workloads: [{ name: 'db-v1', instances: [db.address] }] }
    }),
    istio: {
      'faults.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  http:
  - match: [{uri: {prefix: /broken}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: db}}]
  - route: [{destination: {host: db}}]
`
    }
  });
});
afterAll(async () => {
  await m?.close();
  await Promise.all([web, api, db].map((s) => s?.close()));
});

async function flowsFor(requestId: string) {
  return m.mesh.listFlows({ requestId, limit: 10 });
}

describe('capture API on a live mesh', () => {
  it('filters by caller, service, status class, flag and text; the source and destination flows share a trace', async () => {
    await m.mesh.clearFlows();
    const ok = await viaProxy(m.outbound('web-v1'), 'api:9080', '/orders?id=7', {
      headers: { 'x-request-id': 'req-ok', 'x-note': 'needle-in-header' }
    });
    expect(ok.status).toBe(200);
    const bad = await viaProxy(m.outbound('api-v1'), 'db:9080', '/broken', { headers: { 'x-request-id': 'req-bad' } });
    expect(bad.status).toBe(503);

    const pair = await flowsFor('req-ok');
    expect(pair.map((f) => f.reporter).sort()).toEqual(['destination', 'source']);
    const src = pair.find((f) => f.reporter === 'source')!;
    const dst = pair.find((f) => f.reporter === 'destination')!;
    expect(src.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(dst.traceId).toBe(src.traceId);
    expect(dst.parentSpanId).toBe(src.spanId);

    expect((await m.mesh.listFlows({ caller: 'web-v1', limit: 50 })).every((f) => f.source === 'web-v1')).toBe(true);
    expect((await m.mesh.listFlows({ service: 'db', limit: 50 })).map((f) => f.requestId)).toEqual(['req-bad']);
    expect((await m.mesh.listFlows({ status: '5xx', flag: 'FI', limit: 50 })).map((f) => f.requestId)).toEqual([
      'req-bad'
    ]);
    expect(
      (await m.mesh.listFlows({ text: 'NEEDLE-IN-HEADER', reporter: 'source', limit: 50 })).map((f) => f.requestId)
    ).toEqual(['req-ok']);
    expect(await m.mesh.listFlows({ status: '4xx', limit: 50 })).toEqual([]);

    const trace = await m.mesh.getTrace({ traceId: src.traceId! });
    expect(trace.spans.map((s) => [s.kind, s.workload, s.name])).toEqual([
      ['client', 'web-v1', 'api.default.svc.cluster.local:9080/*'],
      ['server', 'api-v1', 'api.default.svc.cluster.local:9080/*']
    ]);
    expect(trace.spans[1]!.parentSpanId).toBe(trace.spans[0]!.spanId);
  });

  it('replays a flow through the caller sidecar with an edit, linked to the original', async () => {
    const [orig] = (await flowsFor('req-ok')).filter((f) => f.reporter === 'source');
    const before = api.seen.length;
    const replayed = await m.mesh.replayFlow({
      id: orig!.id,
      edit: { path: '/orders?id=8', headers: { 'x-note': 'edited', 'x-extra': 'yes' } }
    });
    expect(replayed.replayOf).toBe(orig!.id);
    expect(replayed.source).toBe('web-v1');
    expect(replayed.path).toBe('/orders?id=8');
    expect(replayed.status).toBe(200);
    expect(replayed.requestId).not.toBe(orig!.requestId);
    expect(replayed.trace.some((t) => t.step === 'replay')).toBe(true);
    const seen = api.seen.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('/orders?id=8');
    expect(seen[0]!.headers['x-note']).toBe('edited');
    expect(seen[0]!.headers['x-extra']).toBe('yes');
    expect(seen[0]!.headers['x-localmesh-replay-of']).toBeUndefined();

    const cmp = await m.mesh.compareFlows({ a: orig!.id, b: replayed.id });
    expect(cmp.changes.find((c) => c.field === 'path')).toEqual({
      field: 'path',
      a: '/orders?id=7',
      b: '/orders?id=8'
    });
    expect(cmp.requestHeaders.find((c) => c.field === 'x-note')).toEqual({
      field: 'x-note',
      a: 'needle-in-header',
      b: 'edited'
    });

    await expect(m.mesh.replayFlow({ id: 'no-such-flow' })).rejects.toMatchObject({ code: 'LM202' });
    await expect(m.mesh.replayFlow({ id: orig!.id, as: 'nobody' })).rejects.toBeInstanceOf(MeshError);
  });

  it('a query naming a session that does not exist is a 404, not an empty list', async () => {
    for (const call of [
      () => m.mesh.listFlows({ session: 999 }),
      () => m.mesh.exportHar({ session: 999 }),
      () => m.mesh.getGraph({ session: 999 })
    ])
      await expect(call()).rejects.toMatchObject({ code: 'LM202', message: 'no capture session 999' });
    // a page's cursor naming no flow: a 404 too (an empty page would read as the end of the list)
    await expect(m.mesh.listFlows({ before: 'no-such-flow' })).rejects.toMatchObject({
      code: 'LM202',
      message: expect.stringMatching(/^no flow no-such-flow to page before/)
    });
    const [newest] = (await m.mesh.listFlows({ limit: 1 })).slice(-1);
    expect(Array.isArray(await m.mesh.listFlows({ before: newest!.id, limit: 2 }))).toBe(true);
  });

  it('exports HAR and imports it back as a read-only session; sessions start, stop and compare', async () => {
    const har = await m.mesh.exportHar({ caller: 'web-v1' });
    expect(har.log.version).toBe('1.2');
    expect(har.log.creator).toEqual({ name: 'localmesh', version: `localmesh ${LOCALMESH_VERSION}` });
    expect(har.log.entries.map((e) => e.request.url)).toEqual([
      'http://api:9080/orders?id=7',
      'http://api:9080/orders?id=8'
    ]);

    const imported = await m.mesh.importHar({ har: JSON.parse(JSON.stringify(har)), label: 'orders.har' });
    expect(imported).toMatchObject({ kind: 'import', label: 'orders.har', readOnly: true, flows: 2, current: false });
    // the same HAR again: reused when asked (its content, not its label, is what counts), imported again otherwise
    const reused = await m.mesh.importHar({ har: JSON.parse(JSON.stringify(har)), label: 'renamed.har', reuse: true });
    expect(reused).toMatchObject({ id: imported.id, label: 'orders.har', flows: 2 });
    const other = structuredClone(har);
    other.log.entries.pop();
    const fresh = await m.mesh.importHar({ har: other, label: 'one entry.har', reuse: true });
    expect(fresh).toMatchObject({ label: 'one entry.har', flows: 1 });
    expect(fresh.id).not.toBe(imported.id);
    const twice = await m.mesh.importHar({ har: JSON.parse(JSON.stringify(har)), label: 'orders.har' });
    expect(twice.id).not.toBe(imported.id);
    await m.mesh.deleteSession({ id: twice.id });
    await m.mesh.deleteSession({ id: fresh.id });
    expect((await m.mesh.listFlows({ session: imported.id, limit: 10 })).map((f) => f.path)).toEqual([
      '/orders?id=7',
      '/orders?id=8'
    ]);

    const rec = await m.mesh.startSession({ label: 'after the fix' });
    expect(rec).toMatchObject({ kind: 'user', current: true, label: 'after the fix' });
    await viaProxy(m.outbound('web-v1'), 'api:9080', '/orders?id=7');
    await viaProxy(m.outbound('web-v1'), 'api:9080', '/invoices');
    const stopped = await m.mesh.stopSession();
    expect(stopped.id).toBe(rec.id);
    expect(stopped.endedAt).not.toBeNull();
    const sessions = await m.mesh.listSessions();
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    expect(sessions.find((s) => s.id === rec.id)).toMatchObject({ current: false });

    const diff = await m.mesh.compareSessions({ a: imported.id, b: rec.id });
    expect(diff.added.map((c) => c.key)).toEqual(['web-v1 → api.default.svc.cluster.local GET /invoices']);
    expect(diff.missing).toEqual([]);

    await expect(m.mesh.deleteSession({ id: sessions.find((s) => s.current)!.id })).rejects.toMatchObject({
      code: 'LM201'
    });
    await m.mesh.deleteSession({ id: imported.id });
    expect((await m.mesh.listSessions()).some((s) => s.id === imported.id)).toBe(false);
    await expect(m.mesh.stopSession()).rejects.toMatchObject({ code: 'LM201' });
  });

  it("a browser's HAR (no caller, no workload) replays to the service its Host names, as a caller without a sidecar", async () => {
    const har = {
      log: {
        version: '1.2',
        creator: { name: 'WebInspector', version: '537.36' },
        entries: [
          {
            startedDateTime: new Date().toISOString(),
            time: 12,
            request: {
              method: 'GET',
              url: 'http://api:9080/orders?id=9',
              httpVersion: 'HTTP/1.1',
              headers: [{ name: 'Accept', value: '*/*' }],
              queryString: [{ name: 'id', value: '9' }],
              cookies: [],
              headersSize: -1,
              bodySize: 0
            },
            response: {
              status: 200,
              statusText: 'OK',
              httpVersion: 'HTTP/1.1',
              headers: [],
              cookies: [],
              content: { size: 0, mimeType: 'text/plain' },
              redirectURL: '',
              headersSize: -1,
              bodySize: 0
            },
            cache: {},
            timings: { send: 1, wait: 10, receive: 1 }
          }
        ]
      }
    };
    const imported = await m.mesh.importHar({ har: har as unknown as Har, label: 'chrome.har' });
    const [f] = await m.mesh.listFlows({ session: imported.id, limit: 10 });
    const before = api.seen.length;
    const replayed = await m.mesh.replayFlow({ id: f!.id });
    expect([replayed.reporter, replayed.destination, replayed.status, replayed.replayOf]).toEqual([
      'destination',
      'api-v1',
      200,
      f!.id
    ]);
    expect(api.seen.slice(before).map((x) => x.url)).toEqual(['/orders?id=9']);
    await m.mesh.deleteSession({ id: imported.id });
  });

  it('the graph has every workload, the observed edges with their stats, and the metrics series counts the calls', async () => {
    const g = await m.mesh.getGraph({ windowSec: 600 });
    expect(g.nodes.map((n) => n.id).sort()).toEqual(expect.arrayContaining(['api-v1', 'db-v1', 'web-v1']));
    const webApi = g.edges.find((e) => e.from === 'web-v1' && e.to === 'api-v1')!;
    expect(webApi.requests).toBeGreaterThanOrEqual(3);
    expect(webApi.mtls).toBe('mutual_tls');
    expect(webApi.errorRate).toBe(0);
    const apiDb = g.edges.find((e) => e.from === 'api-v1')!;
    expect(apiDb.errorRate).toBe(1);
    expect(g.nodes.find((n) => n.id === 'web-v1')).toMatchObject({ service: 'web', namespace: 'default' });

    const series = await m.mesh.getMetrics({ service: 'api', windowSec: 600, stepSec: 60 });
    expect(series.service).toBe('api.default.svc.cluster.local');
    expect(series.points).toHaveLength(10);
    expect(series.points.reduce((n, p) => n + p.requests, 0)).toBeGreaterThanOrEqual(3);
    await expect(m.mesh.getMetrics({ service: 'api', windowSec: 86400, stepSec: 1 })).rejects.toMatchObject({
      code: 'LM201'
    });
  });

  it('the flow store is the SQLite file in the state dir', () => {
    expect(fs.existsSync(`${m.dir}/.localmesh/flows.db`)).toBe(true);
  });

  // last: it adds flows the tests above count
  it('a replay returns its own flow, not a call the app made with the same x-request-id that finished first', async () => {
    // api calls db through its own sidecar, forwarding x-request-id (as bookinfo's apps do), then answers
    api.behave(async (req, res) => {
      const inner = await viaProxy(m.outbound('api-v1'), 'db:9080', '/lookup', {
        headers: { 'x-request-id': String(req.headers['x-request-id']) }
      });
      res.end(`api after db ${inner.status}`);
    });
    try {
      const [orig] = (await flowsFor('req-ok')).filter((f) => f.reporter === 'source');
      const replayed = await m.mesh.replayFlow({ id: orig!.id });
      expect([replayed.source, replayed.destination, replayed.path, replayed.replayOf]).toEqual([
        'web-v1',
        'api-v1',
        '/orders?id=7',
        orig!.id
      ]);
      const sameRequest = await m.mesh.listFlows({ requestId: replayed.requestId, limit: 10 });
      expect(sameRequest.map((f) => `${f.source}→${f.destination} ${f.reporter}`).sort()).toEqual([
        'api-v1→db-v1 destination',
        'api-v1→db-v1 source',
        'web-v1→api-v1 destination',
        'web-v1→api-v1 source'
      ]);
    } finally {
      api.behave(undefined);
    }
  });
  it("a replay with an edited Host goes to that host, as the app's request with that Host would", async () => {
    const [orig] = (await flowsFor('req-ok')).filter((f) => f.reporter === 'source');
    const dbBefore = db.seen.length;
    const moved = await m.mesh.replayFlow({ id: orig!.id, edit: { path: '/moved', headers: { host: 'db:9080' } } });
    expect([moved.authority, moved.destination, moved.status]).toEqual(['db:9080', 'db-v1', 200]);
    expect(db.seen.slice(dbBefore).map((x) => [x.url, x.headers.host])).toEqual([['/moved', 'db:9080']]);
  });
});

describe('version', () => {
  it('LOCALMESH_VERSION is the package version', () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(LOCALMESH_VERSION).toBe(pkg.version);
  });
});
