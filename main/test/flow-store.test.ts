import { afterAll, describe, expect, it, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { FlowQuery, FlowRecord } from '../contract/api.js';
import { CAPTURE_DEFAULTS } from '../contract/mesh-schema.js';
import {
  memoryStore,
  openSqliteStore,
  SCHEMA_VERSION,
  STORE_DEFAULTS,
  storeOptionsFromCapture,
  type FlowStore
} from '../engine/capture/flow-store.js';
import { findSqlite, openDatabase } from '../engine/capture/sqlite-driver.mjs';
// @ts-expect-error -- plain JavaScript (the writer thread's entry), typed where the store imports it
import { RECORD_FORMAT } from '../engine/capture/flow-writer.mjs';
import { at, binaryBody, flow, serverHalf, textBody } from './helpers/flow.js';
import { CAPTURED_BYTES } from '../engine/capture/body-view.mjs';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-store-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
// The SQLite the store picks here: better-sqlite3 by default; node-sqlite.test.ts runs this file again under Node 24
// with LOCALMESH_SQLITE=node:sqlite (the driver the desktop app's engine host uses).
const found = findSqlite();
if (!('driver' in found)) throw new Error(`no SQLite driver: ${found.reasons.join('; ')}`);
const DRIVER = found.driver;
const EXPECTED_DRIVER = process.env.LOCALMESH_SQLITE ?? 'better-sqlite3';
const openDb = (file: string) => openDatabase(DRIVER, file);
const ids = (flows: FlowRecord[]) => flows.map((f) => f.id);
const TRACE = 'a'.repeat(32);

describe('SQLite flow store', () => {
  it('keeps flows across a restart, with bodies on get and without on list; keyset pagination', () => {
    const dir = tmp();
    const a = openSqliteStore(dir);
    expect(a.kind).toBe('sqlite');
    expect(a.driver).toBe(EXPECTED_DRIVER);
    for (let i = 1; i <= 5; i++) a.append(flow(i));
    a.close();
    const b = openSqliteStore(dir);
    expect(b.count()).toBe(5);
    const last2 = b.list({ limit: 2 });
    expect(ids(last2)).toEqual(['f-4', 'f-5']);
    expect(last2[0]!.responseBody).toBeUndefined();
    expect(b.list({ limit: 2, before: 'f-4' }).map((f) => f.id)).toEqual(['f-2', 'f-3']);
    expect(b.get('f-3')?.responseBody?.data).toBe('{"n":3}');
    expect(b.get('f-3')?.trace).toEqual([{ step: 'route', detail: 'default route' }]);
    b.clear();
    expect(b.count()).toBe(0);
    b.close();
  });

  it.each([
    ['in the writer thread', true],
    ['in the engine thread', false]
  ])('every field of a flow comes back as it was stored, written %s', (_name, writerThread) => {
    // Required<FlowRecord>: a field added to FlowRecord fails to compile here until it is set, and then this test
    // fails until the store keeps it (toRow and fromColumns in flow-writer.mjs list the fields one by one)
    const full: Required<FlowRecord> = {
      ...flow(1),
      virtualService: 'reviews',
      rule: 'reviews/0',
      subset: 'v2',
      attempts: 2,
      attemptLog: [
        { attempt: 1, endpoint: '127.0.0.1:1', status: 503, flags: 'UF', durationMs: 0.5, error: 'connection refused' },
        { attempt: 2, endpoint: '127.0.0.1:2', status: 200, flags: '-', durationMs: 1.25 }
      ],
      localReply: 'fault filter abort',
      trace: [
        { step: 'route', detail: 'rule 0' },
        { step: 'retry', detail: 'attempt 2 after 503' }
      ],
      requestHeaders: { host: 'reviews:9080', cookie: ['a=1', 'b=2'], 'x-empty': '' },
      responseHeaders: { server: 'istio-envoy', 'set-cookie': ['c=3'] },
      sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/productpage',
      destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/reviews',
      connectionSecurity: 'mutual_tls',
      requestBody: binaryBody(Buffer.from([0, 1, 2, 255]), { size: 9000, truncated: true }),
      responseBody: textBody('héllo "wörld"\n'),
      sessionId: 0,
      traceId: TRACE,
      spanId: 'b'.repeat(16),
      parentSpanId: 'c'.repeat(16),
      timings: { requestEnd: 0.1, upstreamConnected: null, responseStart: 1.2, responseEnd: 1.5 },
      replayOf: 'f-0'
    };
    // and a flow with the optional fields absent or null (an imported one; a request no sidecar saw through)
    const sparse: FlowRecord = flow(2, { requestBody: undefined, responseBody: null, parentSpanId: null });
    const s = openSqliteStore(tmp(), { writerThread });
    s.append({ ...full });
    s.append({ ...sparse });
    const session = s.sessions().find((x) => x.current)!.id;
    expect(s.get('f-1')).toStrictEqual({ ...full, sessionId: session });
    const back = s.get('f-2')!;
    expect(back).toEqual({ ...sparse, requestBody: null, sessionId: session });
    expect(Object.keys(back)).not.toContain('timings');
    expect(Object.keys(back)).not.toContain('traceId');
    expect(s.list({ text: 'wörld' }).map((f) => f.id)).toEqual(['f-1']);
    expect(s.list({ text: 'b=2' }).map((f) => f.id)).toEqual(['f-1']);
    s.close();
  });

  it('defaults come from the mesh file capture defaults; capture options map to store options', () => {
    expect(STORE_DEFAULTS).toEqual({
      maxFlows: 100_000,
      maxBytes: 512 * 1024 * 1024,
      maxAgeMs: 7 * 24 * 3600_000,
      flushMs: 100,
      flushRows: 64
    });
    expect(storeOptionsFromCapture({ ...CAPTURE_DEFAULTS, maxFlows: 500, maxMegabytes: 2, maxAgeHours: 0.5 })).toEqual({
      maxFlows: 500,
      maxBytes: 2 * 1024 * 1024,
      maxAgeMs: 1800_000
    });
  });

  it('a flow that cannot be stored is logged and left out; the flows around it are kept', () => {
    const lines: string[] = [];
    const s = openSqliteStore(tmp(), {}, (l) => lines.push(l));
    s.append(flow(1));
    s.append(flow(2, { requestHeaders: { 'x-n': 2n as unknown as string } })); // JSON cannot write a BigInt
    s.append(flow(3));
    expect(ids(s.list({ limit: 10 }))).toEqual(['f-1', 'f-3']);
    expect(lines).toContainEqual(expect.stringMatching(/^flow store: cannot store flow f-2: .*BigInt/));
    s.close();
  });

  it('retention by count keeps the newest flows', () => {
    const s = openSqliteStore(tmp(), { maxFlows: 10 });
    for (let i = 1; i <= 25; i++) s.append(flow(i));
    expect(s.count()).toBe(10);
    expect(s.list({ limit: 100 })[0]!.id).toBe('f-16');
    s.close();
  });

  it('retention by bytes keeps the newest flows within the limit, across a restart', () => {
    const dir = tmp();
    const big = (i: number) => flow(i, { responseBody: textBody('x'.repeat(1000)) });
    const maxBytes = 8000;
    const a = openSqliteStore(dir, { maxBytes });
    for (let i = 1; i <= 20; i++) a.append(big(i));
    const kept = ids(a.list({ limit: 100 }));
    const total = () => a.sessions().reduce((n, s) => n + s.bytes, 0);
    expect(total()).toBeLessThanOrEqual(maxBytes);
    expect(total()).toBeGreaterThan(maxBytes / 2);
    expect(kept.at(-1)).toBe('f-20');
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => `f-${21 - kept.length + k}`));
    a.close();
    const b = openSqliteStore(dir, { maxBytes });
    for (let i = 21; i <= 30; i++) b.append(big(i));
    expect(b.sessions().reduce((n, s) => n + s.bytes, 0)).toBeLessThanOrEqual(maxBytes);
    expect(ids(b.list({ limit: 100 })).at(-1)).toBe('f-30');
    expect(b.get('f-20')).toBeUndefined();
    b.close();
  });

  it('retention by age drops old flows with every write and when the store opens', () => {
    const dir = tmp();
    const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
    const a = openSqliteStore(dir, { maxAgeMs: 3600_000 });
    a.append(flow(1, { startedAt: ago(2 * 3600_000) }));
    a.append(flow(2, { startedAt: ago(10 * 60_000) }));
    expect(ids(a.list({}))).toEqual(['f-2']);
    a.close();
    const b = openSqliteStore(dir, { maxAgeMs: 5 * 60_000 });
    expect(b.count()).toBe(0);
    b.close();
  });

  it('imported sessions are outside retention', () => {
    const s = openSqliteStore(tmp(), { maxFlows: 3, maxAgeMs: 3 * 3600_000 }); // flow(i) is about an hour old
    const old = new Date(Date.now() - 400 * 86400_000).toISOString();
    const imported = s.importSession('old HAR', [flow(101, { startedAt: old }), flow(102, { startedAt: old })]);
    for (let i = 1; i <= 10; i++) s.append(flow(i));
    expect(s.count()).toBe(5);
    expect(s.session(imported.id)).toMatchObject({ flows: 2, readOnly: true, kind: 'import', startedAt: old });
    expect(ids(s.list({ session: imported.id }))).toEqual(['f-101', 'f-102']);
    s.close();
  });

  it('migrates an empty database to the current schema, refuses one from a newer localmesh', () => {
    const dir = tmp();
    openDb(path.join(dir, 'flows.db')).close(); // an empty file at version 0
    const s = openSqliteStore(dir);
    s.append(flow(1));
    s.close();
    const db = openDb(path.join(dir, 'flows.db'));
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(9);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.pragma('user_version = 99');
    db.close();
    expect(() => openSqliteStore(dir)).toThrow(/schema version 99, newer than this localmesh/);
  });

  it('a new file gets 16 KiB pages; a store made with 4 KiB pages keeps them and still reads and writes', () => {
    const fresh = tmp();
    openSqliteStore(fresh).close();
    const a = openDb(path.join(fresh, 'flows.db'));
    expect(a.pragma('page_size', { simple: true })).toBe(16384);
    a.close();
    const old = tmp();
    const db = openDb(path.join(old, 'flows.db'));
    db.pragma('page_size = 4096');
    db.exec('CREATE TABLE t (x)'); // the page size is fixed once the file has content
    db.exec('DROP TABLE t');
    db.close();
    const s = openSqliteStore(old);
    for (let i = 1; i <= 30; i++) s.append(flow(i));
    s.close();
    const b = openSqliteStore(old);
    expect(b.count()).toBe(30);
    expect(b.get('f-7')?.responseBody?.data).toBe('{"n":7}');
    b.close();
    const c = openDb(path.join(old, 'flows.db'));
    expect(c.pragma('page_size', { simple: true })).toBe(4096);
    c.close();
  });
  it('migrates a version-1 database: its flows stay listed, gettable and filterable, its session listed', () => {
    const dir = tmp();
    const db = openDb(path.join(dir, 'flows.db'));
    db.exec(V1_SCHEMA);
    const old = flow(7, {
      traceId: TRACE,
      connectionSecurity: 'mutual_tls',
      responseBody: textBody('from v1'),
      requestHeaders: { host: 'reviews:9080', 'x-user': 'Old-Alice' },
      responseHeaders: { server: 'v1-server' }
    });
    const record: Partial<FlowRecord> = { ...old };
    delete record.requestBody;
    delete record.responseBody;
    const responseBody = old.responseBody;
    db.prepare('INSERT INTO sessions (id, started_at, ended_at, label) VALUES (1, ?, NULL, ?)').run(at(0), 'v1 run');
    db.prepare(
      `INSERT INTO flows (id, session_id, request_id, started_at, reporter, source, destination, destination_service, method, path, status, flags, record, request_body, response_body)
       VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`
    ).run(
      old.id,
      old.requestId,
      old.startedAt,
      old.reporter,
      old.source,
      old.destination,
      old.destinationService,
      old.method,
      old.path,
      old.status,
      old.flags,
      JSON.stringify(record),
      JSON.stringify(responseBody)
    );
    db.pragma('user_version = 1');
    db.close();

    const s = openSqliteStore(dir);
    expect(ids(s.list({}))).toEqual(['f-7']);
    expect(s.get('f-7')).toEqual({ ...old, sessionId: 1 });
    expect(ids(s.list({ traceId: TRACE }))).toEqual(['f-7']);
    const v1 = s.session(1)!;
    expect(v1).toMatchObject({
      label: 'v1 run',
      kind: 'up',
      current: false,
      readOnly: false,
      flows: 1,
      endedAt: at(7)
    });
    expect(v1.bytes).toBeGreaterThan(JSON.stringify(record).length);
    expect(s.sessions().filter((x) => x.current)).toHaveLength(1);
    expect(s.graph({ since: at(0), until: at(60) }).edges[0]).toMatchObject({
      from: 'productpage-v1',
      to: 'reviews-v1',
      mtls: 'mutual_tls',
      requests: 1
    });
    const f8 = flow(8, {
      responseBody: textBody('from v4 "quoted"'),
      requestHeaders: { 'x-user': 'New-Bob' },
      responseHeaders: { server: 'v4-server' }
    });
    s.append(f8);
    expect(ids(s.list({}))).toEqual(['f-7', 'f-8']);
    // a body is searched in either form: the view's JSON with its data (before schema 4), or its data column
    expect(ids(s.list({ text: 'FROM V1' }))).toEqual(['f-7']);
    expect(ids(s.list({ text: 'v4 "quoted' }))).toEqual(['f-8']);
    // and headers in either form of the record: an object (before format 2), or a list of names and values
    expect(ids(s.list({ text: 'old-alice' }))).toEqual(['f-7']);
    expect(ids(s.list({ text: 'New-Bob' }))).toEqual(['f-8']);
    expect(ids(s.list({ text: 'x-user' }))).toEqual(['f-7', 'f-8']);
    expect(ids(s.list({ text: 'v1-server' }))).toEqual(['f-7']);
    expect(ids(s.list({ text: 'v4-server' }))).toEqual(['f-8']);
    expect(s.get('f-8')).toEqual({ ...f8, sessionId: s.sessions().find((x) => x.current)!.id });
    s.close();
    const check = openDb(path.join(dir, 'flows.db'));
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    // since schema 4 a record leaves out what has columns (and the data of its bodies): the old row still has them
    const rows = check.prepare('SELECT id, record, response_body, response_data FROM flows ORDER BY seq').all() as {
      id: string;
      record: string;
      response_body: string;
      response_data: string | null;
    }[];
    expect(JSON.parse(rows[0]!.record)).toMatchObject({ path: old.path, requestId: old.requestId });
    expect(rows[0]!.response_data).toBeNull();
    // a record written now is a list (format 2) without what has columns
    const record8 = JSON.parse(rows[1]!.record) as unknown[];
    expect(record8[0]).toBe(RECORD_FORMAT);
    expect(record8).not.toContain(f8.path);
    expect(record8).not.toContain(f8.requestId);
    expect(record8).toContainEqual(['x-user', 'New-Bob']);
    expect(rows[1]!.response_data).toBe('from v4 "quoted"');
    expect(JSON.parse(rows[1]!.response_body)).toEqual({
      encoding: 'utf8',
      size: f8.responseBody!.size,
      truncated: false
    });
    check.close();
  });

  it('migrates a version-2 database: lookups by request and trace id use the keys built from its flows, the old indexes are gone', () => {
    const dir = tmp();
    const v2 = openSqliteStore(dir, { writerThread: false });
    for (let i = 1; i <= 1200; i++)
      v2.append(flow(i, { requestId: `r-${i}`, traceId: i % 2 === 0 ? `${i}`.padStart(32, '0') : undefined }));
    v2.close();
    // back to what version 2 had: the indexes, no keys
    const db = openDb(path.join(dir, 'flows.db'));
    db.exec(
      'DROP TABLE session_ids; DROP TABLE flow_keys; CREATE INDEX flows_request_id ON flows(request_id); CREATE INDEX flows_trace_id ON flows(trace_id); ALTER TABLE flows DROP COLUMN request_data; ALTER TABLE flows DROP COLUMN response_data; ALTER TABLE sessions DROP COLUMN digest; ALTER TABLE sessions DROP COLUMN flows; ALTER TABLE sessions DROP COLUMN bytes; ALTER TABLE sessions DROP COLUMN last_flow;'
    );
    db.pragma('user_version = 2');
    db.close();

    const s = openSqliteStore(dir);
    // its session's counts are counted from its flows (schema 9)
    expect(s.sessions()[0]).toMatchObject({ flows: 1200 });
    expect(s.sessions()[0]!.bytes).toBeGreaterThan(1200 * 100);
    for (const n of [1, 500, 501, 1200]) expect(ids(s.list({ requestId: `r-${n}` }))).toEqual([`f-${n}`]);
    expect(ids(s.list({ traceId: '1000'.padStart(32, '0') }))).toEqual(['f-1000']);
    expect(s.list({ traceId: '999'.padStart(32, '0') })).toEqual([]); // f-999 has no trace id
    expect(s.list({ requestId: 'r-12' }).map((f) => f.requestId)).toEqual(['r-12']); // not r-120, r-1200
    s.close();
    const check = openDb(path.join(dir, 'flows.db'));
    const indexes = (
      check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'flows'").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    expect(indexes).not.toContain('flows_request_id');
    expect(indexes).not.toContain('flows_trace_id');
    const runs = check.prepare('SELECT lo, hi FROM flow_keys ORDER BY lo').all() as { lo: number; hi: number }[];
    expect(runs.length).toBeGreaterThanOrEqual(3); // 1200 flows in runs of at most 500
    expect(runs.every((r) => r.hi - r.lo < 500)).toBe(true);
    expect(check.prepare('SELECT flows, last_flow FROM sessions ORDER BY id LIMIT 1').get()).toEqual({
      flows: 1200,
      last_flow: at(1200)
    });
    check.close();
  });

  it('lookups by request and trace id hold through retention, imports, session deletes and clear; keys of gone flows go', () => {
    const dir = tmp();
    const s = openSqliteStore(dir, { maxFlows: 700 });
    const keyRuns = () => {
      s.flush();
      const db = openDb(path.join(dir, 'flows.db'));
      try {
        return (db.prepare('SELECT count(*) AS n FROM flow_keys').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    for (let i = 1; i <= 1500; i++) {
      s.append(flow(i, { requestId: `r-${i % 3 === 0 ? 'shared' : i}`, traceId: `${i % 10}`.padStart(32, '0') }));
      if (i % 400 === 0) s.flush(); // several runs of keys
    }
    expect(s.count()).toBe(700);
    expect(s.list({ requestId: 'r-5' })).toEqual([]); // dropped by retention
    expect(ids(s.list({ requestId: 'r-1499' }))).toEqual(['f-1499']);
    const shared = s.list({ requestId: 'r-shared', limit: 1000 });
    expect(shared).toHaveLength(234); // the multiples of 3 in 801..1500
    expect(shared.every((f) => f.requestId === 'r-shared' && Number(f.id.slice(2)) > 800)).toBe(true);
    expect(ids(s.list({ traceId: '8'.padStart(32, '0'), requestId: 'r-1498' }))).toEqual(['f-1498']);
    expect(ids(s.list({ traceId: '8'.padStart(32, '0'), requestId: 'r-1497' }))).toEqual([]);
    expect(keyRuns()).toBe(2); // four runs of 400 flows; the runs of flows 1-800 went with them

    const imported = s.importSession('har', [flow(2001, { requestId: 'r-imported', traceId: 'b'.repeat(32) })]);
    expect(ids(s.list({ requestId: 'r-imported' }))).toEqual(['f-2001']);
    expect(ids(s.list({ traceId: 'b'.repeat(32) }))).toEqual(['f-2001']);
    const before = keyRuns();
    s.deleteSession(imported.id);
    expect(s.list({ requestId: 'r-imported' })).toEqual([]);
    expect(keyRuns()).toBe(before - 1);

    s.clear();
    expect(keyRuns()).toBe(0);
    s.append(flow(3000, { requestId: 'r-after' }));
    expect(ids(s.list({ requestId: 'r-after' }))).toEqual(['f-3000']);
    s.close();
  });

  it('a previous run that never ended shows as ended with its last flow; empty ones are dropped', () => {
    const dir = tmp();
    const crashed = openSqliteStore(dir);
    crashed.append(flow(1));
    crashed.append(flow(4));
    crashed.flush(); // left open, like a process that was killed
    const quiet = openSqliteStore(dir);
    quiet.close();
    const s = openSqliteStore(dir);
    const list = s.sessions();
    expect(list).toHaveLength(2); // the crashed run's and this one; the run without flows is gone
    expect(list[0]).toMatchObject({ kind: 'up', current: false, endedAt: at(4), flows: 2 });
    expect(list[1]).toMatchObject({ kind: 'up', current: true, endedAt: null, flows: 0 });
    s.close();
    crashed.close();
  });

  it.each([
    ['the writer thread', true],
    ['the engine thread', false]
  ])(
    "each session's kept counts (schema 9) equal its flows through retention, imports, deletes, clear and restarts: %s",
    async (_where, writerThread) => {
      const dir = tmp();
      const file = path.join(dir, 'flows.db');
      // the truth, counted from the flows, against what the sessions keep
      const check = () => {
        const db = openDb(file);
        const truth = db
          .prepare(
            `SELECT s.id, count(f.seq) AS flows, coalesce(sum(f.bytes), 0) AS bytes, max(f.started_at) AS last_flow
             FROM sessions s LEFT JOIN flows f ON f.session_id = s.id GROUP BY s.id ORDER BY s.id`
          )
          .all();
        const kept = db.prepare('SELECT id, flows, bytes, last_flow FROM sessions ORDER BY id').all();
        db.close();
        expect(kept).toEqual(truth);
        return kept as { id: number; flows: number; bytes: number; last_flow: string | null }[];
      };
      const body = (i: number) => flow(i, { responseBody: textBody('y'.repeat(100 * (i % 5))) });
      const a = openSqliteStore(dir, { maxFlows: 10, writerThread });
      for (let i = 1; i <= 6; i++) a.append(body(i));
      const user = a.startSession('second');
      for (let i = 7; i <= 15; i++) a.append(body(i));
      a.flush();
      // retention by count took f-1…f-5 from the up session, which keeps f-6, and none from the user session
      let kept = check();
      expect(kept.map((k) => k.flows)).toEqual([1, 9]);
      expect(kept[0]!.last_flow).toBe(at(6));
      for (let i = 16; i <= 17; i++) a.append(body(i));
      a.flush();
      kept = check();
      expect(kept.map((k) => k.flows)).toEqual([0, 10]); // the up session emptied: no last flow
      expect(kept[0]!.last_flow).toBeNull();
      const har = a.importSession('a HAR', [body(101), body(102), body(103)]);
      expect(a.session(har.id)).toMatchObject({ flows: 3 });
      check();
      a.stopSession();
      a.deleteSession(user.id);
      expect(check().map((k) => k.flows)).toEqual([0, 3]);
      for (let i = 18; i <= 20; i++) a.append(body(i));
      a.close();
      // another run with a byte limit: retention at open and with its writes, the earlier run's session included
      const b = openSqliteStore(dir, { maxBytes: 2500, writerThread });
      for (let i = 21; i <= 30; i++) b.append(body(i));
      b.flush();
      kept = check();
      expect(kept.reduce((n, k) => n + k.flows, 0)).toBe(b.count());
      const captured = b.sessions().filter((x) => x.kind !== 'import');
      expect(captured.reduce((n, x) => n + x.bytes, 0)).toBeLessThanOrEqual(2500);
      // the writer thread's totals come by message, after its commit
      await vi.waitFor(() =>
        expect(b.totals()).toMatchObject({
          flows: b.count(),
          capturedFlows: captured.reduce((n, x) => n + x.flows, 0),
          capturedBytes: captured.reduce((n, x) => n + x.bytes, 0)
        })
      );
      b.clear();
      expect(check().map((k) => k.flows)).toEqual([3, 0]); // the import stays; this run's session is empty
      b.append(body(31));
      b.close();
      // a run whose age limit leaves nothing captured: the counts follow the deletes made when it opens
      const c = openSqliteStore(dir, { maxAgeMs: 1000, writerThread });
      await vi.waitFor(() => expect(c.totals()).toMatchObject({ flows: 3, capturedFlows: 0, capturedBytes: 0 }));
      c.close();
      expect(check().map((k) => k.flows)).toEqual([3, 0, 0]); // the import, the last run's emptied session, this run's
    }
  );

  it('kill -9 mid-load: the reopened store has every flow that finished more than a second before the kill', async () => {
    const dir = tmp();
    const script = `
      import { openSqliteStore } from ${JSON.stringify(path.resolve(import.meta.dirname, '../engine/capture/flow-store.ts'))};
      import { flow } from ${JSON.stringify(path.resolve(import.meta.dirname, 'helpers/flow.ts'))};
      const s = openSqliteStore(${JSON.stringify(dir)});
      let n = 0;
      const tick = () => {
        for (let k = 0; k < 10; k++) s.append(flow(++n));
        process.stdout.write(n + ' ' + Date.now() + '\\n');
        setTimeout(tick, 5);
      };
      tick();
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: path.resolve(import.meta.dirname, '../..')
    });
    // progress lines "<flows appended> <ms>"; a flow is surely committed once a line written 1 s after its append
    // has been followed by another line (the flush timer, due 100 ms after the append, runs before later timers)
    const lines: { n: number; t: number }[] = [];
    const committed = () => {
      const horizon = (lines.at(-2)?.t ?? 0) - 1000;
      return Math.max(0, ...lines.filter((l) => l.t <= horizon).map((l) => l.n));
    };
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        for (const p of parts) {
          const [n, t] = p.split(' ').map(Number);
          lines.push({ n: n!, t: t! });
        }
        if (committed() >= 200) resolve();
      });
      child.once('exit', (c) => reject(new Error(`child exited early (${c})`)));
    });
    const expected = committed();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(lines.at(-1)!.n).toBeGreaterThan(expected); // it was killed mid-load

    const s = openSqliteStore(dir);
    const present = new Set(ids(s.list({ limit: 100_000 })));
    const missing = Array.from({ length: expected }, (_, k) => `f-${k + 1}`).filter((id) => !present.has(id));
    expect(missing).toEqual([]);
    expect(s.get(`f-${expected}`)?.responseBody?.data).toBe(`{"n":${expected}}`);
    const killedRun = s.sessions().find((x) => !x.current)!;
    expect(killedRun).toMatchObject({ flows: present.size, current: false });
    expect(killedRun.endedAt).toBe(s.get(`f-${Math.max(...[...present].map((id) => Number(id.slice(2))))}`)!.startedAt);
    s.append(flow(1_000_000));
    expect(s.get('f-1000000')?.sessionId).toBe(s.sessions().find((x) => x.current)!.id);
    s.close();
  });
});

/** Schema version 1, as released (the store must migrate databases written by it). */
const V1_SCHEMA = `CREATE TABLE sessions (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT, label TEXT);
   CREATE TABLE flows (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     session_id INTEGER NOT NULL REFERENCES sessions(id),
     request_id TEXT NOT NULL,
     started_at TEXT NOT NULL,
     reporter TEXT NOT NULL,
     source TEXT,
     destination TEXT,
     destination_service TEXT,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     status INTEGER NOT NULL,
     flags TEXT NOT NULL,
     record TEXT NOT NULL,
     request_body TEXT,
     response_body TEXT
   );
   CREATE INDEX flows_request_id ON flows(request_id);`;

/** The same behaviour from both stores. */
const STORES: [string, (dir?: string) => FlowStore][] = [
  ['sqlite', (dir) => openSqliteStore(dir ?? tmp())],
  ['memory', () => memoryStore(1000)]
];

/** f-1…f-7, at(1)…at(7): a mesh's worth of different calls for the filters. */
function filterFlows(): FlowRecord[] {
  const f1 = flow(1, { traceId: TRACE, requestHeaders: { host: 'reviews:9080', 'x-user': 'Alice' } });
  return [
    f1,
    serverHalf(f1, 'f-2', { startedAt: at(2), connectionSecurity: 'mutual_tls' }),
    flow(3, {
      destination: null,
      destinationService: 'ratings.default.svc.cluster.local',
      authority: 'ratings:9080',
      path: '/ratings/0?x=1',
      status: 503,
      flags: 'FI',
      localReply: 'fault abort'
    }),
    flow(4, {
      reporter: 'destination',
      source: null,
      destination: 'productpage-v1',
      destinationService: 'productpage.default.svc.cluster.local',
      method: 'POST',
      path: '/login',
      status: 401,
      requestBody: textBody('user=bob&pw=x')
    }),
    flow(5, {
      source: 'reviews-v1',
      destination: 'ratings-v1',
      destinationService: 'ratings.default.svc.cluster.local',
      status: 504,
      flags: 'UT,URX'
    }),
    flow(6, {
      destination: null,
      destinationService: 'PassthroughCluster',
      authority: 'httpbin.org:80',
      path: '/get',
      responseBody: binaryBody(Buffer.from('hello'))
    }),
    flow(7, {
      destination: 'reviewsx-v1',
      destinationService: 'reviewsx.default.svc.cluster.local',
      status: 502,
      flags: 'URX'
    })
  ];
}

const FILTER_CASES: [string, FlowQuery, number[]][] = [
  ['no filter', {}, [1, 2, 3, 4, 5, 6, 7]],
  ['caller', { caller: 'productpage-v1' }, [1, 2, 3, 6, 7]],
  ['caller without sidecar', { caller: 'unknown' }, [4]],
  ['service short name (not reviewsx)', { service: 'reviews' }, [1, 2]],
  ['service name.namespace', { service: 'reviews.default' }, [1, 2]],
  ['service FQDN', { service: 'ratings.default.svc.cluster.local' }, [3, 5]],
  ['workload on either end', { workload: 'productpage-v1' }, [1, 2, 3, 4, 6, 7]],
  ['workload as destination', { workload: 'ratings-v1' }, [5]],
  ['method', { method: 'POST' }, [4]],
  ['status class', { status: '5xx' }, [3, 5, 7]],
  ['status class 4xx', { status: '4xx' }, [4]],
  ['flag, whole flags only', { flag: 'UR' }, []],
  ['flag among several', { flag: 'URX' }, [5, 7]],
  ['flag first of several', { flag: 'UT' }, [5]],
  ['text in a header value, any case', { text: 'alice' }, [1, 2]],
  ['text in a header name', { text: 'X-USER' }, [1, 2]],
  ['text in the path', { text: 'ratings/0?x' }, [3]],
  ['text in a request body', { text: 'USER=bob' }, [4]],
  ['text in a response body', { text: '"n":5' }, [5]],
  ['text not in a base64 body', { text: 'hello' }, []],
  ['reporter', { reporter: 'destination' }, [2, 4]],
  ['request id', { requestId: 'r-1' }, [1, 2]],
  ['trace id', { traceId: TRACE }, [1, 2]],
  ['time range [since, until)', { since: at(3), until: at(5) }, [3, 4]],
  [
    'time range in another ISO form',
    { since: at(3).replace('.000Z', 'Z'), until: at(5).replace('Z', '+00:00') },
    [3, 4]
  ],
  ['several filters (AND)', { caller: 'productpage-v1', status: '2xx', reporter: 'source' }, [1, 6]],
  ['limit keeps the newest', { limit: 2 }, [6, 7]]
];

describe.each(STORES)('%s store: queries', (_kind, open) => {
  it.each(FILTER_CASES)('filters: %s', (_name, q, expected) => {
    const s = open();
    for (const f of filterFlows()) s.append(f);
    expect(ids(s.list(q))).toEqual(expected.map((i) => `f-${i}`));
    s.close();
  });

  it('keyset pagination holds with filters; an unknown cursor yields nothing', () => {
    const s = open();
    for (const f of filterFlows()) s.append(f);
    const q: FlowQuery = { workload: 'productpage-v1', limit: 2 };
    const page1 = s.list(q);
    expect(ids(page1)).toEqual(['f-6', 'f-7']);
    const page2 = s.list({ ...q, before: page1[0]!.id });
    expect(ids(page2)).toEqual(['f-3', 'f-4']);
    expect(ids(s.list({ ...q, before: page2[0]!.id }))).toEqual(['f-1', 'f-2']);
    expect(s.list({ ...q, before: 'f-1' })).toEqual([]);
    expect(s.list({ before: 'no-such-flow' })).toEqual([]);
    s.close();
  });

  it('get returns everything, list no bodies unless asked; both carry the session', () => {
    const s = open();
    const flows = filterFlows();
    for (const f of flows) s.append(structuredClone(f));
    const up = s.sessions()[0]!.id;
    expect(s.get('f-4')).toEqual({ ...flows[3], sessionId: up });
    expect(s.get('f-6')!.responseBody).toEqual(binaryBody(Buffer.from('hello')));
    const listed = s.list({ requestId: 'r-4' })[0]!;
    expect(listed).not.toHaveProperty('requestBody');
    expect(listed.sessionId).toBe(up);
    // asked for (HAR export): the bodies come with the list, as get gives them
    expect(s.list({ requestId: 'r-4' }, { bodies: true })).toEqual([s.get('f-4')]);
    expect(s.list({}, { bodies: true }).find((f) => f.id === 'f-6')!.responseBody).toEqual(
      binaryBody(Buffer.from('hello'))
    );
    expect(s.get('nope')).toBeUndefined();
    s.close();
  });
});

/**
 * A flow as a sidecar emits it: its bodies' kept bytes (CAPTURED_BYTES) and no views yet. A null body is none; a
 * body given as [bytes, size] was cut at the cap after `bytes`.
 */
function capturing(
  i: number,
  request: Buffer | [Buffer, number] | null,
  response: Buffer | [Buffer, number] | null
): FlowRecord {
  const f = flow(i, { requestBody: undefined, responseBody: undefined }) as FlowRecord & Record<symbol, unknown>;
  const kept = (b: Buffer | [Buffer, number] | null) =>
    b === null
      ? null
      : Array.isArray(b)
        ? { bytes: b[0], size: b[1], truncated: true }
        : { bytes: b, size: b.length, truncated: false };
  f[CAPTURED_BYTES] = { request: kept(request), response: kept(response) };
  return f;
}

const CAPTURING_STORES: [string, (dir?: string) => FlowStore][] = [
  ...STORES,
  ['sqlite, written in the engine thread', (dir) => openSqliteStore(dir ?? tmp(), { writerThread: false })]
];

describe.each(CAPTURING_STORES)('%s store: bodies captured as bytes', (kind, open) => {
  it('reads them as the views the sidecar used to make: text, binary, cut mid-character, none; text search finds them', () => {
    const dir = tmp();
    const s = open(dir);
    // the kept bytes are slices of a larger buffer, as a socket read's are
    const wire = Buffer.from('xx{"name":"Zoë","ok":true}yy\u0000\u0001\u00ffzz', 'utf8');
    const json = wire.subarray(2, 27);
    s.append(capturing(1, Buffer.from('q=café&n=1'), json));
    s.append(capturing(2, null, Buffer.from([0, 1, 2, 255, 10])));
    // 'ab' and the first byte of 'é' (2 bytes), cut at the cap: 40 bytes were sent
    s.append(capturing(3, [Buffer.from('ab\u00e9', 'utf8').subarray(0, 3), 40], [Buffer.from('text\tline\r\n'), 9000]));
    s.append(capturing(4, null, null));
    // a control character makes text binary
    s.append(capturing(5, null, Buffer.from('bell\u0007')));
    const expected: Record<string, [FlowRecord['requestBody'], FlowRecord['responseBody']]> = {
      'f-1': [textBody('q=café&n=1'), textBody('{"name":"Zoë","ok":true}')],
      'f-2': [null, binaryBody(Buffer.from([0, 1, 2, 255, 10]))],
      'f-3': [
        textBody('ab', { size: 40, truncated: true }),
        textBody('text\tline\r\n', { size: 9000, truncated: true })
      ],
      'f-4': [null, null],
      'f-5': [null, binaryBody(Buffer.from('bell\u0007'))]
    };
    const check = (st: FlowStore) => {
      for (const [id, [rq, rs]] of Object.entries(expected)) {
        const f = st.get(id)!;
        expect([f.requestBody, f.responseBody], id).toEqual([rq, rs]);
        expect(
          Object.getOwnPropertySymbols(f).filter((k) => f[k as never] !== undefined),
          id
        ).toEqual([]);
      }
      expect(ids(st.list({ text: 'zoë' }))).toEqual(['f-1']);
      expect(ids(st.list({ text: 'Q=CAF' }))).toEqual(['f-1']);
      expect(ids(st.list({ text: 'tab' }))).toEqual([]);
      expect(ids(st.list({ text: 'line' }))).toEqual(['f-3']);
    };
    check(s);
    s.close();
    if (!kind.startsWith('sqlite')) return;
    // stored as the bytes kept, sized by them, and read so after a restart
    const db = openDb(path.join(dir, 'flows.db'));
    const row = db
      .prepare(
        'SELECT typeof(response_data) AS t, response_body AS meta, length(response_data) AS n FROM flows WHERE id = ?'
      )
      .get('f-1') as { t: string; meta: string; n: number };
    expect([row.t, JSON.parse(row.meta), row.n]).toEqual(['blob', { encoding: 'raw', size: 25, truncated: false }, 25]);
    db.close();
    const again = open(dir);
    check(again);
    again.close();
  });
});

describe('sqlite store: captured bytes handed to the writer thread', () => {
  it('are copied at the hand-over, and written by the engine thread when the writer stops before committing them', async () => {
    const dir = tmp();
    const logs: string[] = [];
    // every flow goes to the writer thread as soon as it is appended
    const s = openSqliteStore(dir, { flushRows: 1 }, (l) => logs.push(l));
    const thread = (s as unknown as { thread?: { stop(): void } }).thread!;
    const slab = Buffer.from('{"a":1}\u0000\u0001\u00ff-tail', 'latin1');
    s.append(capturing(1, Buffer.from('q=café'), slab.subarray(0, 7)));
    s.append(capturing(2, null, slab.subarray(7, 10)));
    // the sidecar's memory is reused once handed over (a pool slab): what was handed over stays as it was
    slab.fill(0x21);
    // stopped before its commit window closed: the rows it held come back to the engine thread
    thread.stop();
    await new Promise((r) => setTimeout(r, 200));
    s.append(capturing(3, null, Buffer.from('after')));
    expect(logs.join('\n')).toMatch(/writer thread stopped/);
    const check = (st: FlowStore) => {
      expect(st.count()).toBe(3);
      expect([st.get('f-1')!.requestBody, st.get('f-1')!.responseBody]).toEqual([
        textBody('q=café'),
        textBody('{"a":1}')
      ]);
      expect(st.get('f-2')!.responseBody).toEqual(binaryBody(Buffer.from([0, 1, 255])));
      expect(st.get('f-3')!.responseBody).toEqual(textBody('after'));
    };
    check(s);
    s.close();
    const again = openSqliteStore(dir);
    check(again);
    again.close();
  });
});

describe.each(STORES)('%s store: sessions', (_kind, open) => {
  it('up session, a user session started and stopped, import, delete, clear', () => {
    const s = open();
    const [up] = s.sessions();
    expect(up).toMatchObject({
      kind: 'up',
      current: true,
      readOnly: false,
      endedAt: null,
      flows: 0,
      bytes: 0,
      label: null
    });
    s.append(flow(1));
    s.append(flow(2));
    // this run's session while it records: no advice to stop it (it cannot be stopped), only to clear its flows
    expect(() => s.deleteSession(up!.id)).toThrow(
      /records until the run ends; it cannot be deleted, but its flows can be cleared/
    );

    const user = s.startSession('checkout');
    expect(user).toMatchObject({ kind: 'user', label: 'checkout', current: true, endedAt: null });
    expect(s.session(up!.id)).toMatchObject({ current: false, flows: 2 });
    expect(s.session(up!.id)!.endedAt).not.toBeNull();
    s.append(flow(3));
    expect(ids(s.list({ session: user.id }))).toEqual(['f-3']);
    expect(() => s.deleteSession(user.id)).toThrow(/current session/);
    expect(() => s.deleteSession(up!.id)).toThrow(/resumes when the user session stops/);

    const stopped = s.stopSession();
    expect(stopped).toMatchObject({ id: user.id, current: false, flows: 1 });
    expect(stopped.endedAt).not.toBeNull();
    expect(stopped.bytes).toBeGreaterThan(0);
    expect(s.session(up!.id)).toMatchObject({ current: true, endedAt: null });
    s.append(flow(4));
    expect(s.get('f-4')!.sessionId).toBe(up!.id);
    expect(() => s.stopSession()).toThrow(/no user session/);

    const imported = s.importSession('from HAR', [
      flow(1, { startedAt: at(100), durationMs: 2000 }),
      flow(50, { startedAt: at(90) })
    ]);
    expect(imported).toMatchObject({
      kind: 'import',
      label: 'from HAR',
      readOnly: true,
      current: false,
      flows: 2,
      startedAt: at(90),
      endedAt: at(102)
    });
    const importedIds = ids(s.list({ session: imported.id }));
    expect(importedIds).toHaveLength(2);
    expect(importedIds).toContain('f-50');
    const renamed = importedIds.find((id) => id !== 'f-50')!;
    expect(renamed).not.toBe('f-1'); // f-1 was taken
    expect(s.get(renamed)).toMatchObject({ path: '/reviews/1', sessionId: imported.id });
    expect(s.get('f-1')!.sessionId).toBe(up!.id);

    s.deleteSession(user.id);
    expect(s.get('f-3')).toBeUndefined();
    expect(s.session(user.id)).toBeUndefined();
    expect(() => s.deleteSession(999)).toThrow(/no session 999/);
    s.deleteSession(imported.id);
    expect(s.count()).toBe(3);

    s.startSession();
    s.append(flow(5));
    const kept = s.importSession('kept.har', [flow(6)]);
    s.clear();
    // captured traffic goes; an imported session stays with its flows (read-only, as retention keeps it)
    expect(s.count()).toBe(1);
    expect(s.get('f-6')).toMatchObject({ sessionId: kept.id });
    expect(s.list({ limit: 10 }).map((f) => f.id)).toEqual(['f-6']);
    expect(s.sessions().map((x) => [x.kind, x.current, x.flows])).toEqual([
      ['up', false, 0],
      ['user', true, 0],
      ['import', false, 1]
    ]);
    s.stopSession();
    s.close();
  });

  it("a deleted session's id is never given again, across a restart too", () => {
    const dir = tmp();
    const s = open(dir);
    const a = s.importSession('a', [flow(1)]);
    s.deleteSession(a.id);
    const b = s.importSession('b', [flow(2)]);
    expect(b.id).toBeGreaterThan(a.id);
    s.deleteSession(b.id);
    const user = s.startSession('after');
    expect(user.id).toBeGreaterThan(b.id);
    s.stopSession();
    s.deleteSession(user.id);
    s.close();
    if (_kind !== 'sqlite') return; // the memory store does not outlive its process
    const again = open(dir);
    const c = again.importSession('c', [flow(3)]);
    expect(c.id).toBeGreaterThan(user.id);
    expect(again.sessions().map((x) => x.id)).not.toContain(user.id);
    again.close();
  });

  it('an import is found again by its digest until it is deleted, across a restart too', () => {
    const dir = tmp();
    const s = open(dir);
    const a = s.importSession('a.har', [flow(1)], 'digest-a');
    s.importSession('b.har', [flow(2)], 'digest-b');
    s.importSession('no digest', [flow(3)]);
    expect(s.findImport('digest-a')).toMatchObject({ id: a.id, label: 'a.har', kind: 'import', flows: 1 });
    expect(s.findImport('digest-c')).toBeUndefined();
    // the newest of two imports of the same content
    const a2 = s.importSession('a again.har', [flow(4)], 'digest-a');
    expect(s.findImport('digest-a')?.id).toBe(a2.id);
    s.deleteSession(a2.id);
    expect(s.findImport('digest-a')?.id).toBe(a.id);
    s.deleteSession(a.id);
    expect(s.findImport('digest-a')).toBeUndefined();
    s.close();
    if (_kind !== 'sqlite') return;
    const again = open(dir);
    expect(again.findImport('digest-b')).toMatchObject({ label: 'b.har', flows: 1 });
    again.close();
  });

  it('import keeps flows whose ids are free and renames clashes within the import itself', () => {
    const s = open();
    const session = s.importSession('twice', [flow(1), flow(1, { path: '/second' })]);
    const listed = s.list({ session: session.id });
    expect(listed.map((f) => f.path)).toEqual(['/reviews/1', '/second']);
    expect(listed[0]!.id).toBe('f-1');
    expect(listed[1]!.id).not.toBe('f-1');
    s.close();
  });
});

/** A window of traffic for the graph: client flows with their server halves, a caller without sidecar, faults. */
function graphFlows(): FlowRecord[] {
  const out: FlowRecord[] = [];
  [10, 20, 30, 40].forEach((ms, k) => {
    const c = flow(10 + k, {
      startedAt: at(10 + k),
      durationMs: ms,
      status: k === 3 ? 503 : 200,
      connectionSecurity: 'none'
    });
    out.push(c, serverHalf(c, `s-${k}`, { connectionSecurity: 'mutual_tls' }));
  });
  out.push(
    flow(20, {
      source: 'reviews-v1',
      destination: 'ratings-v1',
      destinationService: 'ratings.default.svc.cluster.local',
      startedAt: at(20),
      durationMs: 5,
      connectionSecurity: 'none'
    })
  );
  for (const k of [0, 1]) {
    out.push(
      flow(30 + k, {
        reporter: 'destination',
        source: null,
        destination: 'productpage-v1',
        destinationService: 'productpage.default.svc.cluster.local',
        startedAt: at(30 + k),
        connectionSecurity: 'none'
      })
    );
  }
  out.push(
    flow(40, {
      destination: null,
      destinationService: 'ratings.default.svc.cluster.local',
      status: 503,
      flags: 'FI',
      startedAt: at(40)
    })
  );
  out.push(
    flow(41, {
      destination: null,
      destinationService: 'PassthroughCluster',
      authority: 'httpbin.org:80',
      startedAt: at(41),
      status: 0,
      flags: 'UF'
    })
  );
  out.push(flow(42, { startedAt: at(200) })); // outside the window
  return out;
}

describe.each(STORES)('%s store: graph and metrics', (_kind, open) => {
  it('graph: an edge per caller and callee, with rates, percentiles, mTLS from the server half, node health', () => {
    const s = open();
    for (const f of graphFlows()) s.append(f);
    const g = s.graph({ since: at(0), until: at(100) });
    const edge = (id: string) => g.edges.find((e) => e.id === id);
    expect(g.edges.map((e) => e.id)).toEqual([
      'productpage-v1->httpbin.org',
      'productpage-v1->ratings.default.svc.cluster.local',
      'productpage-v1->reviews-v1',
      'reviews-v1->ratings-v1',
      'unknown->productpage-v1'
    ]);
    expect(edge('productpage-v1->reviews-v1')).toEqual({
      id: 'productpage-v1->reviews-v1',
      from: 'productpage-v1',
      to: 'reviews-v1',
      service: 'reviews.default.svc.cluster.local',
      requests: 4,
      rps: 0.04,
      errorRate: 0.25,
      p50Ms: 20,
      p99Ms: 40,
      mtls: 'mutual_tls'
    });
    expect(edge('reviews-v1->ratings-v1')).toMatchObject({ requests: 1, errorRate: 0, mtls: 'none', p50Ms: 5 });
    expect(edge('unknown->productpage-v1')).toMatchObject({
      requests: 2,
      service: 'productpage.default.svc.cluster.local'
    });
    expect(edge('productpage-v1->httpbin.org')).toMatchObject({ requests: 1, errorRate: 1, service: 'httpbin.org:80' });

    const node = (id: string) => g.nodes.find((n) => n.id === id);
    expect(g.nodes.map((n) => [n.id, n.kind, n.health])).toEqual([
      ['httpbin.org', 'external', 'failing'],
      ['productpage-v1', 'workload', 'healthy'],
      ['ratings-v1', 'workload', 'healthy'],
      ['ratings.default.svc.cluster.local', 'service', 'failing'],
      ['reviews-v1', 'workload', 'failing'],
      ['unknown', 'unknown', 'idle']
    ]);
    expect(node('reviews-v1')).toMatchObject({
      service: 'reviews',
      namespace: 'default',
      requests: 4,
      errorRate: 0.25
    });
    expect(node('productpage-v1')).toMatchObject({
      service: 'productpage',
      namespace: 'default',
      requests: 2,
      errorRate: 0
    });
    expect(node('ratings.default.svc.cluster.local')).toMatchObject({
      label: 'ratings',
      service: 'ratings',
      namespace: 'default',
      requests: 1
    });
    expect(node('httpbin.org')).toMatchObject({ label: 'httpbin.org', service: null, namespace: null });

    const other = s.startSession('empty');
    expect(s.graph({ since: at(0), until: at(100), session: other.id })).toEqual({ nodes: [], edges: [] });
    s.stopSession();
    s.close();
  });

  it('graph: a degraded node, and mixed mTLS', () => {
    const s = open();
    for (let k = 0; k < 10; k++) {
      const c = flow(k, { status: k === 0 ? 500 : 200 });
      s.append(c);
      s.append(serverHalf(c, `s-${k}`, { connectionSecurity: k < 5 ? 'mutual_tls' : 'none' }));
    }
    const g = s.graph({ since: at(0), until: at(10) });
    expect(g.edges).toHaveLength(1);
    expect(g.edges[0]).toMatchObject({ mtls: 'mixed', errorRate: 0.1, rps: 1 });
    expect(g.nodes.find((n) => n.id === 'reviews-v1')!.health).toBe('degraded');
    s.close();
  });

  it('metrics: buckets of one service from the destination sidecars, else from the callers', () => {
    const s = open();
    const c1 = flow(1, { durationMs: 12 });
    s.append(c1);
    s.append(serverHalf(c1, 's-1', { durationMs: 10 }));
    const c2 = flow(2, { durationMs: 33, status: 503 });
    s.append(c2);
    s.append(serverHalf(c2, 's-2', { durationMs: 30, status: 503 }));
    const c3 = flow(15, { durationMs: 22 });
    s.append(c3);
    s.append(serverHalf(c3, 's-15', { durationMs: 20 }));
    s.append(
      flow(16, {
        source: 'reviews-v1',
        destination: null,
        destinationService: 'ratings.default.svc.cluster.local',
        durationMs: 7
      })
    );

    expect(s.metricsSeries({ service: 'reviews', since: at(0), until: at(30), stepSec: 10 })).toEqual([
      { t: at(0), requests: 2, rps: 0.2, errorRate: 0.5, p50Ms: 10, p90Ms: 30, p99Ms: 30 },
      { t: at(10), requests: 1, rps: 0.1, errorRate: 0, p50Ms: 20, p90Ms: 20, p99Ms: 20 },
      { t: at(20), requests: 0, rps: 0, errorRate: 0, p50Ms: null, p90Ms: null, p99Ms: null }
    ]);
    const ratings = s.metricsSeries({
      service: 'ratings.default.svc.cluster.local',
      since: at(0),
      until: at(20),
      stepSec: 10
    });
    expect(ratings.map((p) => [p.requests, p.p50Ms])).toEqual([
      [0, null],
      [1, 7]
    ]);
    s.close();
  });
});

describe('memory store', () => {
  it('keeps the newest captured flows up to its cap, and imported sessions beside them', () => {
    const s = memoryStore(3);
    s.importSession('kept', [flow(100)]);
    for (let i = 1; i <= 6; i++) s.append(flow(i));
    expect(ids(s.list({}))).toEqual(['f-100', 'f-4', 'f-5', 'f-6']);
    expect(s.get('f-3')).toBeUndefined();
  });
});

describe("the store's totals (the `store` event)", () => {
  /** Wait until the store's totals are `want` (the writer thread reports them after its commit: a message away). */
  const settled = async (s: FlowStore, want: Partial<ReturnType<FlowStore['totals']>>) => {
    for (let i = 0; i < 400 && !Object.entries(want).every(([k, v]) => s.totals()[k as 'flows'] === v); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(s.totals()).toMatchObject(want);
  };
  /** What the sessions say the store holds. */
  const held = (s: FlowStore) => {
    const all = s.sessions();
    const captured = all.filter((x) => x.kind !== 'import');
    return {
      flows: all.reduce((n, x) => n + x.flows, 0),
      capturedFlows: captured.reduce((n, x) => n + x.flows, 0),
      capturedBytes: captured.reduce((n, x) => n + x.bytes, 0)
    };
  };

  it.each([
    ['in the writer thread', true],
    ['in the engine thread', false]
  ])('follow retention, clear, session deletes and imports, written %s', async (_name, writerThread) => {
    const s = openSqliteStore(tmp(), { maxFlows: 10, writerThread });
    let told = 0;
    s.onTotals(() => told++);
    expect(s.totals()).toEqual({ flows: 0, capturedFlows: 0, capturedBytes: 0 });

    // 25 captured, retention keeps 10: the 15 it deleted come off
    for (let i = 1; i <= 25; i++) s.append(flow(i));
    s.flush();
    await settled(s, { flows: 10 });
    expect(s.totals()).toEqual(held(s));
    expect(s.count()).toBe(10);
    expect(told).toBeGreaterThan(0);

    // an import adds its flows (retention leaves them alone); deleting it takes them off again
    const imported = s.importSession('two', [flow(101), flow(102)]);
    expect(s.totals()).toEqual({ ...held(s), flows: 12, capturedFlows: 10 });
    s.deleteSession(imported.id);
    expect(s.totals()).toEqual({ ...held(s), flows: 10 });

    // a recording, then deleted: its flows come off once the writer has recounted
    s.startSession('rec');
    for (let i = 26; i <= 28; i++) s.append(flow(i));
    const rec = s.stopSession();
    s.flush();
    await settled(s, { flows: 10 });
    s.deleteSession(rec.id);
    await settled(s, { flows: 7 });
    expect(s.totals()).toEqual(held(s));

    // clear: nothing captured is left, at once; flows appended after it count from zero
    const before = told;
    s.clear();
    expect(s.totals()).toEqual({ flows: 0, capturedFlows: 0, capturedBytes: 0 });
    expect(told).toBeGreaterThan(before);
    for (let i = 29; i <= 31; i++) s.append(flow(i));
    s.flush();
    await settled(s, { flows: 3 });
    expect(s.totals()).toEqual(held(s));
    s.close();
  });

  it('of the memory store: its cap, clear and imports (no bytes measured)', async () => {
    const s = memoryStore(3);
    let told = 0;
    s.onTotals(() => told++);
    for (let i = 1; i <= 5; i++) s.append(flow(i));
    expect(s.totals()).toEqual({ flows: 3, capturedFlows: 3, capturedBytes: null });
    s.importSession('one', [flow(100)]);
    expect(s.totals()).toEqual({ flows: 4, capturedFlows: 3, capturedBytes: null });
    expect(told).toBe(1); // the import at once; the appends' notice is coalesced, still to come
    s.clear();
    expect(s.totals()).toEqual({ flows: 1, capturedFlows: 0, capturedBytes: null });
    s.close();
  });
});

describe('the engine keeps flows across restarts', () => {
  it('flows captured by one run are listed by the next, bodies included', async () => {
    const { startMesh, stub, meshYaml, viaProxy } = await import('./helpers/harness.js');
    const { createMesh } = await import('../engine/mesh.js');
    const [a, b] = await Promise.all([stub('a'), stub('b')]);
    const first = await startMesh({
      meshYaml: meshYaml({
        a: { workloads: [{ name: 'a-v1', instances: [a.address] }] },
        b: { workloads: [{ name: 'b-v1', instances: [b.address] }] }
      })
    });
    await viaProxy(first.outbound('a-v1'), 'b:9080', '/kept', { headers: { 'x-request-id': 'kept-1' } });
    await first.mesh.close();
    const again = await createMesh(first.file, { watch: false });
    try {
      const kept = (await again.listFlows({ limit: 10 })).filter((f) => f.requestId === 'kept-1');
      expect(kept.map((f) => f.reporter).sort()).toEqual(['destination', 'source']);
      expect((await again.getFlow({ id: kept[0]!.id })).responseBody?.data).toContain('"stub":"b"');
    } finally {
      await again.close();
      await Promise.all([a.close(), b.close()]);
      fs.rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
