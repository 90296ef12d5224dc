/**
 * The flow store's write path (issue 7): batches are written by a worker thread; the engine thread waits for it
 * before it reads or writes itself, and writes in its own thread when the worker is off or stops. Same results on
 * every path.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FlowQuery, FlowRecord } from '../contract/api.js';
import { openSqliteStore, type FlowStore, type StoreOptions } from '../engine/capture/flow-store.js';
import { findSqlite, openDatabase } from '../engine/capture/sqlite-driver.mjs';
// @ts-expect-error -- plain JavaScript (the writer thread's entry), typed where the store imports it
import { FlowWriter, SLOT, WRITER_NICE, canLeaveIdle, threadPolicy, toRow } from '../engine/capture/flow-writer.mjs';
// @ts-expect-error -- as above
import { taskStat } from '../engine/capture/flow-writer.mjs';
import { flow, textBody } from './helpers/flow.js';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-perf-store-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const ids = (flows: FlowRecord[]) => flows.map((f) => f.id);
/** The store's writer thread, when it has one (a private field: what these tests are about). */
const threadOf = (s: FlowStore) =>
  (s as unknown as { thread?: { stop(): void; failed(): boolean; shared: Int32Array } }).thread;
/** Flows committed to the file, counted on a connection of the test's own (what a crash would leave). */
function committedCount(dir: string): number {
  const found = findSqlite();
  if (!('driver' in found)) throw new Error('no SQLite');
  const db = openDatabase(found.driver, path.join(dir, 'flows.db'));
  try {
    return (db.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * What `work` resolves to, and how many turns this thread's event loop made before it did: work done holding the
 * thread (a scan, a delete) resolves before a single turn.
 */
async function turnsWhile<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = () => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const result = await work();
  done = true;
  return { result, turns };
}

function open(dir: string, o: Partial<StoreOptions>, logs: string[] = []) {
  return openSqliteStore(dir, o, (l) => logs.push(l));
}

describe.each([
  ['in a writer thread', true],
  ['in the engine thread', false]
])('SQLite flow store writing %s', (_name, writerThread) => {
  it('uses the writer thread only when asked to', () => {
    const s = open(tmp(), { writerThread });
    expect(threadOf(s) !== undefined).toBe(writerThread);
    s.close();
  });

  it('flows appended are read back at once, with bodies and the same record as written', () => {
    const s = open(tmp(), { writerThread });
    const f = flow(1, {
      responseBody: textBody('{"a":1}'),
      requestHeaders: { host: 'reviews:9080', 'x-many': ['a', 'b'] }
    });
    const sent = JSON.parse(JSON.stringify(f)) as FlowRecord;
    s.append(f);
    for (let i = 2; i <= 300; i++) s.append(flow(i));
    expect(s.count()).toBe(300);
    const got = s.get('f-1')!;
    expect(got).toEqual({ ...sent, sessionId: got.sessionId });
    expect(f.sessionId).toBe(got.sessionId);
    expect(ids(s.list({ limit: 3 }))).toEqual(['f-298', 'f-299', 'f-300']);
    s.close();
  });

  it('the flush timer commits without a read, within the commit window; a reopened store has every flow', async () => {
    const dir = tmp();
    const s = open(dir, { writerThread, flushMs: 20 });
    for (let i = 1; i <= 50; i++) s.append(flow(i));
    // flushMs, then the writer thread's commit window (0.25 s): committed well within 2 s, with no read to ask for it
    for (let waited = 0; committedCount(dir) < 50 && waited < 2000; waited += 100) await sleep(100);
    expect(committedCount(dir)).toBe(50);
    s.close();
    const again = open(dir, {});
    expect(again.count()).toBe(50);
    again.close();
  });

  it('retention by count and bytes holds across batches, clear and session deletes', () => {
    const s = open(tmp(), { writerThread, maxFlows: 40, maxBytes: 200_000 });
    for (let i = 1; i <= 100; i++) {
      s.append(flow(i));
      if (i % 7 === 0) s.flush();
    }
    expect(s.count()).toBe(40);
    expect(s.list({ limit: 1 })[0]!.id).toBe('f-100');
    s.clear();
    expect(s.count()).toBe(0);
    // retention counts again from zero after the clear: 40 fit
    for (let i = 101; i <= 140; i++) s.append(flow(i));
    expect(s.count()).toBe(40);
    const user = s.startSession('mine');
    for (let i = 141; i <= 150; i++) s.append(flow(i));
    s.stopSession();
    expect(s.count()).toBe(40);
    s.deleteSession(user.id);
    expect(s.count()).toBe(30);
    // after the delete the writer's totals are 30: ten more fit without dropping any
    for (let i = 151; i <= 160; i++) s.append(flow(i));
    expect(s.count()).toBe(40);
    expect(s.get('f-111')).toBeDefined();
    const big = (i: number) => flow(i, { responseBody: textBody('x'.repeat(20_000)) });
    for (let i = 161; i <= 180; i++) s.append(big(i));
    expect(s.sessions().reduce((n, x) => n + x.bytes, 0)).toBeLessThanOrEqual(200_000);
    expect(s.list({ limit: 1 })[0]!.id).toBe('f-180');
    s.close();
  });

  it('imports stay outside retention', () => {
    const s = open(tmp(), { writerThread, maxFlows: 5 });
    const imported = s.importSession('har', [flow(900), flow(901)]);
    for (let i = 1; i <= 20; i++) s.append(flow(i));
    expect(s.count()).toBe(7);
    expect(s.session(imported.id)?.flows).toBe(2);
    s.close();
  });
});

describe('SQLite flow store with a writer thread: latency on the engine thread', () => {
  it('hands flows over in batches of flushRows, without waiting for flushMs', async () => {
    const dir = tmp();
    // a flush timer that never fires within the test: only the batch size can hand the flows over
    const s = open(dir, { flushMs: 600_000, flushRows: 4 });
    const t = threadOf(s)!;
    for (let i = 1; i <= 8; i++) s.append(flow(i));
    s.append(flow(9)); // the 9th waits for the timer (or a read)
    const received = (SLOT as { received: number }).received;
    for (let waited = 0; committedCount(dir) < 8 && waited < 5000; waited += 50) await sleep(50);
    expect(committedCount(dir)).toBe(8);
    expect(Atomics.load(t.shared, received)).toBe(2);
    expect(s.count()).toBe(9);
    s.close();
  });

  it('without a writer thread keeps batching by time (one commit per flushMs, not per flushRows)', () => {
    const dir = tmp();
    const s = open(dir, { writerThread: false, flushMs: 600_000, flushRows: 4 });
    // writes in the engine thread are synchronous: had the 4th append written, the file would hold the flows now
    for (let i = 1; i <= 8; i++) s.append(flow(i));
    expect(committedCount(dir)).toBe(0);
    s.flush();
    expect(committedCount(dir)).toBe(8);
    s.close();
  });
});

describe.skipIf(process.platform !== 'linux')('SQLite flow store writer thread scheduling (Linux)', () => {
  /** Nice value of each thread of this process, by thread id (/proc/self/task/<tid>/stat, field 19). */
  const niceByThread = () =>
    new Map(
      // nice is field 19 of the stat file, the 17th after the command name
      fs.readdirSync('/proc/self/task').map((tid) => [Number(tid), Number(taskStat(Number(tid))[16])] as const)
    );

  it('runs the writer thread at a lower priority than the engine thread', async () => {
    const before = niceByThread();
    const s = open(tmp(), {});
    const t = threadOf(s)!;
    for (let waited = 0; Atomics.load(t.shared, (SLOT as { state: number }).state) === 0 && waited < 5000; waited += 20)
      await sleep(20);
    const engine = before.get(Number(fs.readlinkSync('/proc/thread-self').split('/').pop()))!;
    const started = [...niceByThread()].filter(([tid]) => !before.has(tid));
    // the writer is one of the threads the store started; the engine thread's own priority is untouched
    expect(started.map(([, nice]) => nice)).toContain(Math.min(19, engine + WRITER_NICE));
    expect(niceByThread().get(Number(fs.readlinkSync('/proc/thread-self').split('/').pop()))).toBe(engine);
    s.close();
  });

  const slot = SLOT as { state: number; idleTid: number; idle: number };
  const chrt = fs.existsSync('/usr/bin/chrt') || fs.existsSync('/bin/chrt');
  /** Poll until `ok` (a change made by another thread or a chrt process), for at most 5 s. */
  const until = async (ok: () => boolean) => {
    for (let waited = 0; !ok() && waited < 5000; waited += 20) await sleep(20);
    return ok();
  };
  /** A store whose writer has started, and its writer's thread id when it runs idle (else 0). */
  const started = async (o: Partial<StoreOptions>) => {
    const s = open(tmp(), { flushRows: 1, ...o });
    const t = threadOf(s)!;
    await until(() => Atomics.load(t.shared, slot.state) !== 0);
    await until(() => Atomics.load(t.shared, slot.idle) === 1);
    return { s, t, tid: Atomics.load(t.shared, slot.idleTid) };
  };

  /** Keep every core busy with spinning processes (nice 0) while `fn` runs: an idle-class thread then starves. */
  const withBusyCores = async <T>(fn: () => Promise<T>): Promise<T> => {
    const spinners = Array.from({ length: os.availableParallelism() + 1 }, () =>
      spawn(process.execPath, ['-e', 'const end = Date.now() + 20000; while (Date.now() < end);'], { stdio: 'ignore' })
    );
    try {
      await sleep(100);
      return await fn();
    } finally {
      for (const p of spinners) p.kill('SIGKILL');
    }
  };
  /** Hand the writer one batch every 20 ms until the engine thread raised it (at most 200). */
  const untilRaised = async (s: FlowStore, t: { shared: Int32Array }) => {
    for (let i = 1; Atomics.load(t.shared, slot.idle) === 1 && i <= 200; i++) {
      s.append(flow(i));
      await sleep(20);
    }
    return Atomics.load(t.shared, slot.idle) === 0;
  };

  it.skipIf(!chrt || !canLeaveIdle(WRITER_NICE))(
    'runs the writer idle (SCHED_IDLE); starved, it is raised when a batch waits lagMs, and goes idle again after idleAgainMs',
    async () => {
      // a batch not received at once counts (lagMs 0); raised, it stays so (idleAgainMs is long)
      const a = await started({ writerScheduling: { lagMs: 0, idleAgainMs: 600_000 } });
      expect(a.tid).toBeGreaterThan(0);
      expect(threadPolicy(a.tid)).toBe('idle');
      await withBusyCores(async () => {
        expect(await untilRaised(a.s, a.t)).toBe(true);
        expect(await until(() => threadPolicy(a.tid) === 'other')).toBe(true);
      });
      expect(a.s.count()).toBeGreaterThan(0);
      await sleep(300);
      expect(threadPolicy(a.tid)).toBe('other');
      a.s.close();

      // with idleAgainMs 0 the writer goes idle again at a commit with nothing behind
      const b = await started({ writerScheduling: { lagMs: 0, idleAgainMs: 0 } });
      await withBusyCores(async () => {
        expect(await untilRaised(b.s, b.t)).toBe(true);
        expect(await until(() => threadPolicy(b.tid) === 'other')).toBe(true);
      });
      b.s.append(flow(1000));
      expect(b.s.count()).toBeGreaterThan(0);
      // the engine thread sets the flag, then has its helper change the policy
      expect(await until(() => Atomics.load(b.t.shared, slot.idle) === 1)).toBe(true);
      expect(await until(() => threadPolicy(b.tid) === 'idle')).toBe(true);
      b.s.close();
    }
  );

  /** The writer's policy helper (a shell the engine thread writes chrt's arguments to), once it runs. */
  const helperOf = (t: unknown) => (t as { helper?: ChildProcess }).helper;

  it.skipIf(!chrt || !canLeaveIdle(WRITER_NICE))(
    "changes the idle writer's policy through a helper shell, without forking the engine; without it, by forking",
    async () => {
      const a = await started({ writerScheduling: { lagMs: 0, idleAgainMs: 600_000 } });
      expect(await until(() => helperOf(a.t)?.pid !== undefined)).toBe(true);
      const helper = helperOf(a.t)!;
      expect(fs.readFileSync(`/proc/${helper.pid}/stat`, 'latin1')).toMatch(/^\d+ \(sh\)/);
      // a stopped helper holds the change: it is the helper's to make, not a chrt process of the engine's
      process.kill(helper.pid!, 'SIGSTOP');
      try {
        await withBusyCores(async () => {
          expect(await untilRaised(a.s, a.t)).toBe(true);
          await sleep(300);
          expect(threadPolicy(a.tid)).toBe('idle');
          process.kill(helper.pid!, 'SIGCONT');
          expect(await until(() => threadPolicy(a.tid) === 'other')).toBe(true);
        });
      } finally {
        process.kill(helper.pid!, 'SIGCONT');
      }
      a.s.close();
      // the store closed: so did the helper (its input ended)
      expect(await until(() => helper.exitCode !== null || helper.signalCode !== null)).toBe(true);

      // a helper that went away: the writer is raised by a chrt process of the engine's
      const b = await started({ writerScheduling: { lagMs: 0, idleAgainMs: 600_000 } });
      expect(await until(() => helperOf(b.t)?.pid !== undefined)).toBe(true);
      const gone = helperOf(b.t)!;
      gone.kill('SIGKILL');
      expect(await until(() => helperOf(b.t) === undefined)).toBe(true);
      await withBusyCores(async () => {
        expect(await untilRaised(b.s, b.t)).toBe(true);
        expect(await until(() => threadPolicy(b.tid) === 'other')).toBe(true);
      });
      b.s.close();
    }
  );

  it('starts no helper when the writer does not run idle', async () => {
    const s = open(tmp(), { writerScheduling: { idle: false } });
    const t = threadOf(s)!;
    await until(() => Atomics.load(t.shared, slot.state) !== 0);
    s.append(flow(1));
    expect(s.count()).toBe(1);
    expect(helperOf(t)).toBeUndefined();
    s.close();
  });

  it.skipIf(!chrt || !canLeaveIdle(WRITER_NICE))(
    'raises the starved idle writer when the engine thread has waited waitMs for its commit',
    async () => {
      const { s, t, tid } = await started({ writerScheduling: { waitMs: 0, idleAgainMs: 600_000 } });
      expect(threadPolicy(tid)).toBe('idle');
      await withBusyCores(async () => {
        s.append(flow(1)); // a batch just posted: not behind long enough to raise it (lagMs)
        expect(Atomics.load(t.shared, slot.idle)).toBe(1);
        expect(s.count()).toBe(1); // waits for the commit
      });
      expect(Atomics.load(t.shared, slot.idle)).toBe(0);
      expect(await until(() => threadPolicy(tid) === 'other')).toBe(true);
      s.close();
    }
  );

  it('keeps the writer at SCHED_OTHER when idle scheduling is off', async () => {
    const before = new Set(fs.readdirSync('/proc/self/task'));
    const s = open(tmp(), { writerScheduling: { idle: false } });
    const t = threadOf(s)!;
    await until(() => Atomics.load(t.shared, slot.state) !== 0);
    expect(Atomics.load(t.shared, slot.idleTid)).toBe(0);
    const added = fs.readdirSync('/proc/self/task').filter((tid) => !before.has(tid));
    expect(added.length).toBeGreaterThan(0);
    expect(added.map((tid) => threadPolicy(Number(tid)))).not.toContain('idle');
    s.close();
  });
});

describe('SQLite flow store when its writer thread stops', () => {
  it('writes in the engine thread from then on, losing no flow it had handed over', async () => {
    const dir = tmp();
    const logs: string[] = [];
    const s = open(dir, {}, logs);
    for (let i = 1; i <= 10; i++) s.append(flow(i));
    expect(s.count()).toBe(10);
    const t = threadOf(s)!;
    t.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(t.failed()).toBe(true);
    for (let i = 11; i <= 20; i++) s.append(flow(i));
    expect(s.count()).toBe(20);
    expect(threadOf(s)).toBeUndefined();
    expect(logs.join('\n')).toMatch(/writer thread stopped/);
    for (let i = 21; i <= 25; i++) s.append(flow(i));
    s.close();
    const again = open(dir, {});
    expect(again.count()).toBe(25);
    again.close();
  });

  it('says how many flows it had received and not committed when it stops inside its commit window', async () => {
    const dir = tmp();
    const logs: string[] = [];
    const s = open(dir, { flushMs: 10 }, logs);
    for (let i = 1; i <= 10; i++) s.append(flow(i));
    const t = threadOf(s)!;
    // the batch is handed over by the flush timer and received; the commit waits for the 0.25 s window
    const received = (SLOT as { received: number }).received;
    for (let waited = 0; Atomics.load(t.shared, received) < 1 && waited < 5000; waited += 20) await sleep(20);
    expect(Atomics.load(t.shared, received)).toBe(1);
    t.stop();
    await sleep(200);
    for (let i = 11; i <= 15; i++) s.append(flow(i));
    expect(s.count()).toBe(5);
    expect(logs.join('\n')).toMatch(/stopped before committing 10 flow\(s\) it had received; they are lost/);
    s.close();
  });
});

describe("the writer thread's transaction (FlowWriter append, commit, rollback)", () => {
  /** A store file with the schema, opened on a connection of the test's own, and a FlowWriter on another. */
  function writerOn(limits: { maxFlows: number; maxBytes: number; maxAgeMs: number }) {
    const dir = tmp();
    open(dir, { writerThread: false }).close();
    const found = findSqlite();
    if (!('driver' in found)) throw new Error('no SQLite');
    const db = openDatabase(found.driver, path.join(dir, 'flows.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 10000');
    const w = new FlowWriter(db, limits) as {
      append(rows: unknown[][]): void;
      commit(): void;
      rollback(): void;
      recount(): void;
      capturedFlows: number;
    };
    w.recount();
    return { dir, db, w };
  }
  const rows = (from: number, to: number) => {
    const out: unknown[][] = [];
    for (let i = from; i <= to; i++) out.push(toRow(flow(i, { traceId: `trace-${i}` }), 1));
    return out;
  };

  it('inserts rows as they arrive but commits them (after retention) only at commit', () => {
    const { dir, db, w } = writerOn({ maxFlows: 4, maxBytes: 1e12, maxAgeMs: 1e12 });
    w.append(rows(1, 3));
    w.append(rows(4, 6));
    expect(committedCount(dir)).toBe(0);
    w.commit();
    expect(committedCount(dir)).toBe(4);
    expect(w.capturedFlows).toBe(4);
    const s = open(dir, { writerThread: false });
    expect(ids(s.list({}))).toEqual([3, 4, 5, 6].map((i) => flow(i).id));
    // the lookup keys of the window were written with it: a flow is found by its trace id
    expect(s.list({ traceId: 'trace-5' }).map((f) => f.id)).toEqual([flow(5).id]);
    s.close();
    w.commit(); // nothing open: nothing happens
    db.close();
  });

  it("retention's deletes count the flows they take by searching them (seq, start), not by scanning every flow", () => {
    const { db, w } = writerOn({ maxFlows: 3, maxBytes: 1e12, maxAgeMs: 1e12 });
    w.append(rows(1, 10));
    w.commit();
    expect(w.capturedFlows).toBe(3);
    const counted = [...(w as unknown as { statements: Map<string, unknown> }).statements.keys()].filter((q) =>
      q.startsWith('SELECT session_id')
    );
    expect(counted).toHaveLength(2); // by age and by count
    for (const q of counted) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${q}`).all(1) as { detail: string }[]).map((r) => r.detail);
      expect(plan.some((d) => /^SEARCH flows USING (INDEX flows_started_at|INTEGER PRIMARY KEY)/.test(d))).toBe(true);
      expect(plan.filter((d) => /^SCAN flows\b/.test(d))).toEqual([]);
    }
    db.close();
  });

  it('a rollback drops what the window inserted and re-reads the retention totals', () => {
    const { dir, db, w } = writerOn({ maxFlows: 100, maxBytes: 1e12, maxAgeMs: 1e12 });
    w.append(rows(1, 2));
    w.commit();
    w.append(rows(3, 5));
    expect(w.capturedFlows).toBe(5);
    w.rollback();
    expect(w.capturedFlows).toBe(2);
    expect(committedCount(dir)).toBe(2);
    w.append(rows(6, 6));
    w.commit();
    expect(committedCount(dir)).toBe(3);
    db.close();
  });
});

describe.each([
  ['with a writer thread', true],
  ['without a writer thread', false]
])("the store's async reads (a reader thread runs their queries) %s", (_name, writerThread) => {
  /** A store holding `n` flows with a body each, half of them 5xx, a few flows appended and not yet committed. */
  const filled = (n: number, logs: string[] = []) => {
    const s = open(tmp(), { writerThread }, logs);
    for (let i = 1; i <= n; i++)
      s.append(
        flow(i, { status: i % 2 === 0 ? 503 : 200, responseBody: textBody(`body of ${i} ${'x'.repeat(2000)}`) })
      );
    s.flush();
    for (let i = n + 1; i <= n + 3; i++) s.append(flow(i, { responseBody: textBody(`late ${i}`) }));
    return s;
  };
  const queries: FlowQuery[] = [
    { limit: 50 },
    { text: 'body of 7 ', limit: 10 },
    { text: 'late', limit: 10 },
    { status: '5xx', limit: 20 },
    { before: flow(40).id, limit: 5 }
  ];

  it('answer as the engine-thread reads do, flows appended just before included', async () => {
    const s = filled(60);
    // appended, not yet committed: the read waits for the commit
    expect((await s.getAsync('f-63'))?.responseBody).toMatchObject({ data: 'late 63' });
    expect(await s.getAsync('f-63')).toEqual(s.get('f-63'));
    expect(await s.getAsync('no-such-flow')).toBeUndefined();
    for (const q of queries) {
      const got = await s.listAsync(q);
      expect(got).toEqual(s.list(q));
      expect(got.length).toBeGreaterThan(0);
    }
    expect(ids(await s.listAsync({ text: 'late' }))).toEqual(['f-61', 'f-62', 'f-63']);
    const [withBodies] = await s.listAsync({ text: 'body of 7 ' }, { bodies: true });
    expect(withBodies?.responseBody).toMatchObject({ encoding: 'utf8', data: expect.stringMatching(/^body of 7 x/) });
    const window = { since: new Date(0).toISOString(), until: new Date(Date.now() + 60_000).toISOString() };
    expect(await s.graphAsync(window)).toEqual(s.graph(window));
    const series = { ...window, service: 'reviews', stepSec: 3600 * 24 * 365 };
    expect(await s.metricsSeriesAsync(series)).toEqual(s.metricsSeries(series));
    expect(await s.sessionsAsync()).toEqual(s.sessions());
    s.close();
  });

  it('leave the engine thread free while a query scans: its event loop turns before the answer comes', async () => {
    const s = filled(3000);
    const { result: got, turns } = await turnsWhile(() => s.listAsync({ text: 'no such text anywhere' }));
    expect(got).toEqual([]);
    // an engine-thread scan would have answered before a single turn
    expect(turns).toBeGreaterThan(0);
    s.close();
  });

  it('read in the engine thread, and say so once, when the reader thread stops', async () => {
    const logs: string[] = [];
    const s = filled(20, logs);
    expect(ids(await s.listAsync({ limit: 3 }))).toEqual(['f-21', 'f-22', 'f-23']);
    const reader = (s as unknown as { reader: { worker: { terminate(): Promise<number> } } }).reader;
    await reader.worker.terminate();
    s.append(flow(24));
    expect(ids(await s.listAsync({ limit: 2 }))).toEqual(['f-23', 'f-24']);
    expect(ids(await s.listAsync({ limit: 1 }))).toEqual(['f-24']);
    expect(logs.filter((l) => /reader thread stopped/.test(l))).toHaveLength(1);
    s.close();
  });
});

describe("the store's clearAsync (the writer thread deletes)", () => {
  it.each([
    ['with a writer thread', true],
    ['without a writer thread', false]
  ])(
    'deletes what was appended before it, keeps what comes after it and imported sessions: %s',
    async (_name, writerThread) => {
      const s = open(tmp(), { writerThread });
      const har = s.importSession('kept.har', [flow(900)]);
      const user = s.startSession('doomed');
      for (let i = 1; i <= 40; i++) s.append(flow(i));
      s.flush();
      for (let i = 41; i <= 45; i++) s.append(flow(i)); // appended, not committed: cleared too
      const clearing = s.clearAsync();
      for (let i = 46; i <= 48; i++) s.append(flow(i)); // appended while it runs: kept
      await clearing;
      expect(ids(s.list({ limit: 100 }))).toEqual(['f-900', 'f-46', 'f-47', 'f-48']);
      expect(s.sessions().map((x) => [x.id === user.id ? 'current' : x.kind, x.flows])).toEqual([
        ['up', 0],
        ['import', 1],
        ['current', 3]
      ]);
      expect(s.session(har.id)).toMatchObject({ flows: 1 });
      await vi.waitFor(() => expect(s.totals()).toMatchObject({ flows: 4, capturedFlows: 3 }));
      s.close();
    }
  );

  it('leaves the engine thread free while the writer thread deletes: its event loop turns before it is done', async () => {
    const s = open(tmp(), { writerThread: true });
    for (let i = 1; i <= 3000; i++) s.append(flow(i, { responseBody: textBody('x'.repeat(1000)) }));
    s.flush();
    const { turns } = await turnsWhile(() => s.clearAsync());
    expect(turns).toBeGreaterThan(0);
    expect(s.count()).toBe(0);
    s.close();
  });

  it('clears in the engine thread when the writer thread stopped', async () => {
    const logs: string[] = [];
    const s = open(tmp(), { writerThread: true }, logs);
    for (let i = 1; i <= 10; i++) s.append(flow(i));
    s.flush();
    threadOf(s)!.stop();
    await sleep(200);
    s.append(flow(11));
    await s.clearAsync();
    expect(s.count()).toBe(0);
    s.append(flow(12));
    expect(ids(s.list({}))).toEqual(['f-12']);
    s.close();
  });
});

describe("the store's deleteSessionAsync (the writer thread deletes)", () => {
  it.each([
    ['with a writer thread', true],
    ['without a writer thread', false]
  ])('deletes a captured or imported session with its flows; the totals follow: %s', async (_name, writerThread) => {
    const s = open(tmp(), { writerThread });
    const har = s.importSession('a.har', [flow(900), flow(901)]);
    const user = s.startSession('to delete');
    for (let i = 1; i <= 30; i++) s.append(flow(i));
    s.stopSession();
    for (let i = 31; i <= 35; i++) s.append(flow(i)); // into the up session: kept
    await expect(s.deleteSessionAsync(s.sessions()[0]!.id)).rejects.toThrow(/records until the run ends/);
    await expect(s.deleteSessionAsync(999)).rejects.toThrow(/no session 999/);
    await s.deleteSessionAsync(user.id);
    expect(s.session(user.id)).toBeUndefined();
    expect(s.list({ limit: 100 }).map((f) => f.id)).toEqual(['f-900', 'f-901', 'f-31', 'f-32', 'f-33', 'f-34', 'f-35']);
    await vi.waitFor(() => expect(s.totals()).toMatchObject({ flows: 7, capturedFlows: 5 }));
    await s.deleteSessionAsync(har.id);
    expect(s.count()).toBe(5);
    await vi.waitFor(() => expect(s.totals()).toMatchObject({ flows: 5, capturedFlows: 5 }));
    s.close();
  });

  it('leaves the engine thread free while the writer thread deletes a session', async () => {
    const s = open(tmp(), { writerThread: true });
    const user = s.startSession('big');
    for (let i = 1; i <= 3000; i++) s.append(flow(i, { responseBody: textBody('x'.repeat(1000)) }));
    s.stopSession();
    const { turns } = await turnsWhile(() => s.deleteSessionAsync(user.id));
    expect(turns).toBeGreaterThan(0);
    expect(s.count()).toBe(0);
    s.close();
  });
});
