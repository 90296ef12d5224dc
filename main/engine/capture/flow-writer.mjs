// The flow store's write path (issue 7): flows turned into rows and inserted in one transaction per batch, then retention. It runs in a
// worker thread of its own (this file is also the worker's entry), so SQLite's per-flow B-tree and WAL work, its
// commits and its checkpoints stay off the engine's event loop; the store falls back to running it in the engine's
// thread when the worker cannot start. Plain JavaScript so that a worker can load it without a TypeScript loader;
// its types are declared where it is imported (interface FlowWriter in flow-store.ts).
import fs from 'node:fs';
import os from 'node:os';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './sqlite-driver.mjs';

/** INSERT's columns, in the order of a row's values (see toRow below). */
export const INSERT = `INSERT OR IGNORE INTO flows (id, session_id, request_id, started_at, reporter, source, destination, destination_service, method, path, status,
    flags, record, request_body, response_body, trace_id, authority, duration_ms, connection_security, bytes, request_data, response_data)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** Flows of captured (not imported) sessions: the ones retention applies to. */
export const CAPTURED = "session_id NOT IN (SELECT id FROM sessions WHERE kind = 'import')";

/**
 * The lookup keys of a run of flows: their request and trace ids, each on a line of its own, for the flows with seq in
 * [lo, hi]. It stands in for indexes on request_id and trace_id: those take random keys, so with a full store every
 * commit rewrote pages all over both (and retention's deletes as many again): 15-20 µs of the ~45 µs that SQLite
 * spent per flow at 100k stored flows. One keys row per KEYS_PER_ROW flows costs next to nothing to write, and a
 * lookup scans the keys (a few MB at 100k flows, a few ms) and then only the flows of the runs that hold the key.
 */
export const INSERT_KEYS = 'INSERT INTO flow_keys (lo, hi, keys) VALUES (?, ?, ?)';
export const KEYS_PER_ROW = 500;

/** Positions in a row of the lookup keys, the body columns and the size column (see INSERT). */
const REQUEST_ID = 2;
const TRACE_ID = 15;
const RECORD = 12;
const REQUEST_BODY = 13;
const RESPONSE_BODY = 14;
const BYTES = 19;
const REQUEST_DATA = 20;
const RESPONSE_DATA = 21;

/**
 * The fields of a flow that have columns of their own (INSERT): a record as stored leaves them out, and fromColumns
 * puts them back (a record written before schema 4 still has them, with the same values). Optional ones (traceId,
 * connectionSecurity) come back only when their column is not null.
 */
export const COLUMN_FIELDS = new Set([
  'id',
  'requestId',
  'reporter',
  'source',
  'destination',
  'destinationService',
  'method',
  'authority',
  'path',
  'status',
  'flags',
  'durationMs',
  'startedAt',
  'traceId',
  'connectionSecurity'
]);

/** Fields every flow has that are null unless something happened (no rule, no local reply): stored only when set. */
export const NULL_UNLESS_SET = ['virtualService', 'rule', 'subset', 'endpoint', 'localReply'];
const NULL_UNLESS_SET_SET = new Set(NULL_UNLESS_SET);

/**
 * A flow as stored: the values of INSERT's columns, in order, with its bodies still objects and its size unset (the
 * writer finishes both, see finishRow). The record is the JSON of the flow's other fields: without its bodies and
 * session, without the fields that have columns (COLUMN_FIELDS) and without the NULL_UNLESS_SET ones that are null.
 * Each string JSON.stringify writes costs it ~60 ns whatever its length, and those are 40% of a record's strings
 * (5 µs less of the engine thread's ~100 µs per request at one hop, issue 7; ~40% fewer bytes for SQLite). The
 * engine builds rows when it hands a batch to the writer thread: a JSON string costs half what the structured clone
 * of the flow object costs, and the writer thread then has no object graph to rebuild. The bodies are the exception:
 * a body is one long string, which the clone copies for next to nothing; the writer thread stores it in a column of
 * its own (request_data, response_data), so no JSON ever scans it for escapes.
 * @param {any} f a FlowRecord
 * @param {number} session
 * @returns {unknown[]}
 */
export function toRow(f, session) {
  /** @type {Record<string, unknown>} */
  const rest = {};
  for (const k in f) {
    const v = f[k];
    if (v === undefined || COLUMN_FIELDS.has(k) || k === 'requestBody' || k === 'responseBody' || k === 'sessionId')
      continue;
    if (v === null && NULL_UNLESS_SET_SET.has(k)) continue;
    rest[k] = v;
  }
  return [
    f.id,
    session,
    f.requestId,
    f.startedAt,
    f.reporter,
    f.source,
    f.destination,
    f.destinationService,
    f.method,
    f.path,
    f.status,
    f.flags,
    JSON.stringify(rest),
    f.requestBody ?? null,
    f.responseBody ?? null,
    f.traceId ?? null,
    f.authority,
    f.durationMs,
    f.connectionSecurity ?? null,
    null,
    null,
    null
  ];
}

/**
 * A flow from its row: the record's fields with the column fields put back (see toRow). `row` has the columns as
 * SELECT ... FROM flows returns them (FLOW_COLUMNS in flow-store.ts).
 * @param {any} row
 * @returns {any} a FlowRecord, without bodies
 */
export function fromColumns(row) {
  const stored = JSON.parse(row.record);
  /** @type {Record<string, unknown>} */
  const f = {
    id: row.id,
    requestId: row.request_id,
    reporter: row.reporter,
    source: row.source,
    destination: row.destination,
    destinationService: row.destination_service,
    method: row.method,
    authority: row.authority,
    path: row.path,
    status: row.status,
    flags: row.flags,
    durationMs: row.duration_ms,
    startedAt: row.started_at
  };
  for (const k of NULL_UNLESS_SET) f[k] = null;
  if (row.trace_id !== null) f.traceId = row.trace_id;
  if (row.connection_security !== null) f.connectionSecurity = row.connection_security;
  return Object.assign(f, stored);
}

/**
 * A body from its two columns: the view's JSON (before schema 4 with its data, since then without) and its data.
 * @param {string | null} meta
 * @param {string | null} data
 * @returns {any} a BodyView or null
 */
export function bodyFromColumns(meta, data) {
  if (!meta) return null;
  const b = JSON.parse(meta);
  return data === null ? b : { encoding: b.encoding, data, size: b.size, truncated: b.truncated };
}

/**
 * Finish a row for INSERT: each body's data in its data column and the rest of it as JSON, and the row's size in
 * bytes (record, bodies and their data) in its size column.
 * @param {unknown[]} row
 * @returns {number} the size
 */
function finishRow(row) {
  let bytes = 0;
  for (const [i, d] of [
    [REQUEST_BODY, REQUEST_DATA],
    [RESPONSE_BODY, RESPONSE_DATA]
  ]) {
    const b = /** @type {any} */ (row[i]);
    if (b !== null && typeof b === 'object') {
      row[i] = JSON.stringify({ encoding: b.encoding, size: Number(b.size), truncated: b.truncated === true });
      row[d] = typeof b.data === 'string' ? b.data : null;
    }
  }
  for (const i of [RECORD, REQUEST_BODY, RESPONSE_BODY, REQUEST_DATA, RESPONSE_DATA])
    if (typeof row[i] === 'string') bytes += Buffer.byteLength(/** @type {string} */ (row[i]));
  row[BYTES] = bytes;
  return bytes;
}

/** Slots of the Int32Array shared with the worker. */
export const SLOT = { committed: 0, state: 1, closed: 2, received: 3 };

/**
 * How long the writer thread gathers batches into one commit, and the most rows it gathers. A commit rewrites every
 * page it dirtied: with a full store (retention deleting as many rows as it inserts), a commit of 100 flows dirtied
 * about four index pages per flow and a commit of 1500 flows a fraction of one (113 vs 69 µs of CPU per flow at 100k
 * stored flows, measured when request_id and trace_id still had indexes of random keys; see INSERT_KEYS). Longer
 * windows save a little more but make longer bursts of writing (the WAL frames and retention of the whole window at
 * commit), which on a 2-core machine take CPU from the sidecars all at once (a longer latency tail). Rows are inserted
 * as they arrive, in the window's open transaction (FlowWriter.append); an engine-thread write that comes meanwhile
 * (a session started, flows cleared) waits for the commit, at most COMMIT_WINDOW_MS.
 * A read in the engine thread asks for the commit at once (the `commit` message), so nothing waits for the window
 * but a crash: flows are durable within flushMs + COMMIT_WINDOW_MS (0.35 s) of finishing.
 */
export const COMMIT_WINDOW_MS = 250;
export const COMMIT_MAX_ROWS = 2000;
/** Values of the state slot. */
export const STATE = { starting: 0, ready: 1, failed: 2 };

/** A run of inserted flows whose lookup keys are not written yet: the keys, how many flows, their seq range. */
function emptyRun() {
  return { keys: /** @type {string[]} */ ([]), flows: 0, lo: 0, hi: 0 };
}

/** Inserts rows and enforces retention (count, bytes, age) on captured flows, keeping running totals of them. */
export class FlowWriter {
  /**
   * @param {import('./sqlite-driver.d.mts').SqlDatabase} db
   * @param {{ maxFlows: number; maxBytes: number; maxAgeMs: number }} limits
   */
  constructor(db, limits) {
    this.db = db;
    this.limits = limits;
    /** @type {Map<string, import('./sqlite-driver.d.mts').SqlStatement>} */
    this.statements = new Map();
    this.capturedFlows = 0;
    this.capturedBytes = 0;
    /** The run of inserted flows whose lookup keys are not written yet (putKeys). */
    this.run = emptyRun();
    /** Is append()'s transaction open? */
    this.open = false;
    /** @type {(rows: unknown[][]) => void} rows of captured flows (toRow) */
    this.writeRows = db.transaction((rows) => {
      this.insertRows(rows, true);
      this.enforceRetention();
    });
  }

  /** @param {string} sql */
  stmt(sql) {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  /**
   * Flows stamped with their session (FlowStore.append), as rows, in one transaction with retention.
   * @param {any[]} flows
   */
  writeFlows(flows) {
    this.writeRows(flows.map((f) => toRow(f, f.sessionId)));
  }

  /**
   * Insert rows (toRow) with their lookup keys (INSERT_KEYS), in the caller's transaction; captured flows count
   * towards retention. A row whose id is taken is left out.
   * @param {unknown[][]} rows
   * @param {boolean} captured
   */
  insertRows(rows, captured) {
    this.addRows(rows, captured);
    this.putKeys();
  }

  /**
   * Insert rows, gathering their lookup keys into the current run (written by putKeys, or when the run is full).
   * @param {unknown[][]} rows
   * @param {boolean} captured
   */
  addRows(rows, captured) {
    const insert = this.stmt(INSERT);
    const run = this.run;
    for (const row of rows) {
      const bytes = finishRow(row);
      const r = insert.run(row);
      if (r.changes === 0) continue;
      if (captured) {
        this.capturedFlows++;
        this.capturedBytes += bytes;
      }
      run.hi = Number(r.lastInsertRowid);
      if (run.flows++ === 0) run.lo = run.hi;
      run.keys.push(/** @type {string} */ (row[REQUEST_ID]));
      if (row[TRACE_ID] !== null) run.keys.push(/** @type {string} */ (row[TRACE_ID]));
      if (run.flows === KEYS_PER_ROW) this.putKeys();
    }
  }

  /** Write the lookup keys of the current run of inserted flows, and start a new run. */
  putKeys() {
    const run = this.run;
    if (run.flows > 0) this.stmt(INSERT_KEYS).run(run.lo, run.hi, `\n${run.keys.join('\n')}\n`);
    this.run = emptyRun();
  }

  /**
   * The writer thread's way: rows are inserted as they arrive, in a transaction opened by the first of them and
   * committed (with retention) by commit(). Inserted at once, a row is garbage before the next young-generation
   * collection; queued for the commit window, every row outlived two of them and was copied and promoted to the old
   * generation first (the thread spent ~19% of its time collecting, 2026-11-23).
   * @param {unknown[][]} rows
   */
  append(rows) {
    if (!this.open) {
      this.db.exec('BEGIN');
      this.open = true;
    }
    this.addRows(rows, true);
  }

  /** Commit what append() inserted, after retention; nothing when no transaction is open. */
  commit() {
    if (!this.open) return;
    this.putKeys();
    this.enforceRetention();
    this.db.exec('COMMIT');
    this.open = false;
  }

  /** Give up what append() inserted since the last commit (a failed write), and re-read the retention totals. */
  rollback() {
    this.run = emptyRun();
    if (this.open) {
      this.open = false;
      this.db.exec('ROLLBACK');
    }
    this.recount();
  }

  /** Drop the lookup keys of runs whose flows are all gone (a run partly gone keeps its keys: lookups check the flow). */
  dropStaleKeys() {
    this.stmt(
      'DELETE FROM flow_keys WHERE NOT EXISTS (SELECT 1 FROM flows WHERE seq BETWEEN flow_keys.lo AND flow_keys.hi)'
    ).run();
  }

  recount() {
    const t = /** @type {{ n: number; b: number }} */ (
      this.stmt(`SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM flows WHERE ${CAPTURED}`).get()
    );
    this.capturedFlows = t.n;
    this.capturedBytes = t.b;
  }

  /**
   * Run a `DELETE ... RETURNING bytes` of captured flows and take them off the running totals.
   * @param {string} sql
   * @param {...unknown} params
   */
  deleteCaptured(sql, ...params) {
    const gone = /** @type {{ bytes: number }[]} */ (this.stmt(`${sql} RETURNING bytes`).all(...params));
    this.capturedFlows -= gone.length;
    for (const g of gone) this.capturedBytes -= g.bytes;
    if (gone.length > 0) this.dropStaleKeys();
  }

  /** Drop the oldest captured flows beyond the age, count and byte limits. */
  enforceRetention() {
    const cutoff = new Date(Date.now() - this.limits.maxAgeMs).toISOString();
    this.deleteCaptured(`DELETE FROM flows WHERE started_at < ? AND ${CAPTURED}`, cutoff);
    if (this.capturedFlows > this.limits.maxFlows) {
      this.deleteCaptured(
        `DELETE FROM flows WHERE seq IN (SELECT seq FROM flows WHERE ${CAPTURED} ORDER BY seq LIMIT ?)`,
        this.capturedFlows - this.limits.maxFlows
      );
    }
    if (this.capturedBytes > this.limits.maxBytes) {
      const last = this.lastSeqToFree(this.capturedBytes - this.limits.maxBytes);
      if (last !== undefined) this.deleteCaptured(`DELETE FROM flows WHERE seq <= ? AND ${CAPTURED}`, last);
    }
  }

  /**
   * The seq up to which the oldest captured flows add up to at least `excess` bytes.
   * @param {number} excess
   * @returns {number | undefined}
   */
  lastSeqToFree(excess) {
    let freed = 0;
    let last;
    for (const r of /** @type {IterableIterator<{ seq: number; bytes: number }>} */ (
      this.stmt(`SELECT seq, bytes FROM flows WHERE ${CAPTURED} ORDER BY seq`).iterate()
    )) {
      freed += r.bytes;
      last = r.seq;
      if (freed >= excess) break;
    }
    return last;
  }
}

/** How much lower the writer thread's scheduling priority is than the engine thread's (nice steps). */
export const WRITER_NICE = 10;

/**
 * Lower this thread's scheduling priority (Linux, where a thread is a task with an id of its own): writing flows can
 * wait, the requests the sidecars are forwarding cannot. On a 2-core machine running the sidecars, the apps and the
 * writer, the kernel then runs the writer when a core is free instead of sharing one with the engine thread. Elsewhere
 * (macOS, Windows: no per-thread nice) nothing changes.
 */
export function lowerPriority() {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, Math.min(19, os.getPriority(tid) + WRITER_NICE));
  } catch {
    /* the priority stays as it is */
  }
}

/**
 * The worker: its own connection to flows.db. Messages, handled in order:
 *   { type: 'rows', seq, rows }   insert a batch of rows (toRow) and publish `seq` as received; batches are
 *                                committed together COMMIT_WINDOW_MS after the first (or at COMMIT_MAX_ROWS), then the
 *                                last seq is published as committed (even when the write failed: the failure is
 *                                logged, as the engine-thread store logs a failed batch)
 *   { type: 'commit' }           commit what is inserted now (the engine thread waits to read)
 *   { type: 'recount' }          the engine changed flows itself (clear, delete): re-read the retention totals
 *   { type: 'close' }            commit, close the connection, publish `closed`, exit
 * It posts { type: 'log', line } for the engine's log.
 */
function runWorker() {
  const d =
    /** @type {{ file: string; sqlite: import('./sqlite-driver.d.mts').SqliteDriver; limits: { maxFlows: number; maxBytes: number; maxAgeMs: number }; shared: SharedArrayBuffer }} */ (
      workerData
    );
  const shared = new Int32Array(d.shared);
  const publish = (/** @type {number} */ slot, /** @type {number} */ value) => {
    Atomics.store(shared, slot, value);
    Atomics.notify(shared, slot);
  };
  /** @type {import('./sqlite-driver.d.mts').SqlDatabase} */
  let db;
  /** @type {FlowWriter} */
  let writer;
  try {
    db = openDatabase(d.sqlite, d.file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 10000');
    // checkpoint every ~40 MB of WAL rather than every 1000 pages (SQLite's default): a page that many batches dirty
    // (an index's, retention's) is copied to the database once per checkpoint instead of once per batch (15-25% less
    // write work per flow at ~100k stored flows, measured while request_id and trace_id had indexes of random keys).
    // Off the engine's event loop here, the longer checkpoint stalls no request.
    const pageSize = Number(db.pragma('page_size', { simple: true })) || 4096;
    db.pragma(`wal_autocheckpoint = ${Math.round(40_000_000 / pageSize)}`);
    writer = new FlowWriter(db, d.limits);
    writer.recount();
  } catch (e) {
    parentPort?.postMessage({
      type: 'log',
      line: `flow store: the writer thread cannot open ${d.file} (${/** @type {Error} */ (e).message}); writing in the engine thread`
    });
    publish(SLOT.state, STATE.failed);
    return;
  }
  publish(SLOT.state, STATE.ready);
  lowerPriority();
  /** Rows inserted in the open transaction, and the last batch received. */
  let pending = 0;
  let receivedSeq = 0;
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const failed = (/** @type {unknown} */ e) => {
    parentPort?.postMessage({
      type: 'log',
      line: `flow store: writing ${pending} flow(s) failed: ${/** @type {Error} */ (e).message}`
    });
    pending = 0;
    try {
      writer.rollback();
    } catch (e2) {
      parentPort?.postMessage({ type: 'log', line: `flow store: ${/** @type {Error} */ (e2).message}` });
    }
  };
  const commit = () => {
    clearTimeout(timer);
    timer = undefined;
    try {
      writer.commit();
    } catch (e) {
      failed(e);
    }
    pending = 0;
    publish(SLOT.committed, receivedSeq);
  };
  parentPort?.on('message', (/** @type {{ type: string; seq?: number; rows?: unknown[][] }} */ m) => {
    if (m.type === 'rows') {
      const rows = m.rows ?? [];
      pending += rows.length;
      try {
        writer.append(rows);
      } catch (e) {
        failed(e);
      }
      receivedSeq = m.seq ?? receivedSeq;
      publish(SLOT.received, receivedSeq);
      if (pending >= COMMIT_MAX_ROWS) commit();
      else timer ??= setTimeout(commit, COMMIT_WINDOW_MS);
    } else if (m.type === 'commit') {
      commit();
    } else if (m.type === 'recount') {
      commit();
      try {
        writer.recount();
      } catch (e) {
        parentPort?.postMessage({ type: 'log', line: `flow store: ${/** @type {Error} */ (e).message}` });
      }
    } else if (m.type === 'close') {
      try {
        commit();
        db.close();
      } finally {
        publish(SLOT.closed, 1);
        parentPort?.close();
      }
    }
  });
}

if (!isMainThread && workerData?.localmeshFlowWriter === true) runWorker();
