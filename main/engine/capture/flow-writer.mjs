// The flow store's write path (issue 7): flows turned into rows and inserted in one transaction per batch, then retention. It runs in a
// worker thread of its own (this file is also the worker's entry), so SQLite's per-flow B-tree and WAL work, its
// commits and its checkpoints stay off the engine's event loop; the store falls back to running it in the engine's
// thread when the worker cannot start. This file is also the entry of the store's reader thread (runReader), which
// runs the admin API's queries off the engine's event loop. Plain JavaScript so that a worker can load it without a
// TypeScript loader; its types are declared where it is imported (interface FlowWriter in flow-store.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './sqlite-driver.mjs';
import { CAPTURED_BYTES, bodyView } from './body-view.mjs';

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

/**
 * Positions in a row of its session, the lookup keys, its start and the size column, and of the columns a row's size
 * counts (see INSERT).
 */
const SESSION = 1;
const REQUEST_ID = 2;
const STARTED_AT = 3;
const TRACE_ID = 15;
const BYTES = 19;
const SIZED = [12, 13, 14, 20, 21]; // record, request_body, response_body, request_data, response_data
/** Positions of the body data columns; a value after a row's last column says which of them hold bytes (see RAW). */
const REQUEST_DATA = 20;
const RESPONSE_DATA = 21;

/**
 * A body view's encoding for a body stored as the bytes a sidecar kept (a BLOB in its data column), whose view is
 * made when it is read (bodyFromColumns; since schema 8). toRow hands such a body to the writer as a latin1 string, one
 * character per byte: a string clones to the writer thread as one copy, where a Buffer would clone the whole pool
 * slab or socket read it is a slice of. finishRow turns it back into bytes.
 */
export const RAW = 'raw';
const RAW_REQUEST = 1;
const RAW_RESPONSE = 2;

/** Fields every flow has that are null unless something happened (no rule, no local reply). */
export const NULL_UNLESS_SET = ['virtualService', 'rule', 'subset', 'endpoint', 'localReply'];

/**
 * A record's format: the first element of its JSON array (since schema 6). Records written before it are JSON
 * objects of the same fields, read as they are (fromColumns).
 */
export const RECORD_FORMAT = 2;

/**
 * Positions in a record's array (see toRow). A field a flow may lack (FlowRecord's optional ones, an attempt's
 * error) is ABSENT there, so that it comes back absent and not as null.
 */
const R = {
  virtualService: 1,
  rule: 2,
  subset: 3,
  endpoint: 4,
  localReply: 5,
  attempts: 6,
  attemptLog: 7,
  trace: 8,
  configVersion: 9,
  requestHeaders: 10,
  responseHeaders: 11,
  sourcePrincipal: 12,
  destinationPrincipal: 13,
  spanId: 14,
  parentSpanId: 15,
  timings: 16,
  replayOf: 17
};
/** JSON paths of the header lists in a record (TEXT_COLUMNS in flow-store.ts searches them). */
export const RECORD_PATHS = { requestHeaders: `$[${R.requestHeaders}]`, responseHeaders: `$[${R.responseHeaders}]` };
const ABSENT = 0;
const absent = (/** @type {unknown} */ v) => (v === undefined ? ABSENT : v);
const present = (/** @type {unknown} */ v) => v !== ABSENT && v !== undefined;

/**
 * @param {Record<string, unknown> | undefined} h
 * @returns {unknown[]} name, value, name, value...
 */
function flatHeaders(h) {
  const a = [];
  for (const k in h) a.push(k, h[k]);
  return a;
}

/**
 * @param {unknown[]} a name, value, name, value...
 * @returns {Record<string, unknown>}
 */
function headersOf(a) {
  /** @type {Record<string, unknown>} */
  const h = {};
  for (let i = 0; i < a.length; i += 2) h[/** @type {string} */ (a[i])] = a[i + 1];
  return h;
}

/**
 * A body's view without its data, as JSON (its data has a column of its own); null for no body.
 * @param {any} b a BodyView, null or undefined
 * @returns {string | null}
 */
function bodyMeta(b) {
  if (b === undefined || b === null) return null;
  const enc = b.encoding === 'utf8' || b.encoding === 'base64' ? `"${b.encoding}"` : JSON.stringify(b.encoding);
  return `{"encoding":${enc},"size":${Number(b.size)},"truncated":${b.truncated === true}}`;
}

/**
 * The view JSON of a body stored as its bytes (RAW).
 * @param {{ size: number; truncated: boolean }} b
 */
function rawMeta(b) {
  return `{"encoding":"${RAW}","size":${Number(b.size)},"truncated":${b.truncated === true}}`;
}

/**
 * A flow as stored: the values of INSERT's columns, in order, its size still unset (the writer sets it, see
 * finishRow). The record is the flow's other fields as a JSON array (R gives each one's place): without its bodies
 * and session, and without the fields that have columns. A body has a column of its own (request_data,
 * response_data), so no JSON ever scans it for escapes, and its view's other fields are a short JSON of their own
 * (request_body, response_body). A body a sidecar captured goes as the bytes it kept (RAW: a latin1 string here, a
 * BLOB once stored; one more value at the row's end says which), any other as its view's data.
 * Issue 7: this is what the engine thread hands to the writer thread, so it costs the thread that forwards requests
 * one JSON.stringify of arrays (no keys, no objects to build) and a structured clone of 22 values per flow. The
 * writer thread only binds them. Before, a flat array of ~70 values went over and the writer thread built the record
 * object and its JSON: ~10 µs of CPU per flow in both threads together against ~4 now, and a record of ~1000 bytes
 * against ~600 for SQLite to write, keep and delete.
 * @param {any} f a FlowRecord
 * @param {number} session
 * @returns {unknown[]}
 */
export function toRow(f, session) {
  const log = [];
  for (const x of f.attemptLog ?? []) log.push(x.attempt, x.endpoint, x.status, x.flags, x.durationMs, absent(x.error));
  const trace = [];
  for (const s of f.trace ?? []) trace.push(s.step, s.detail);
  const t = f.timings;
  const record = JSON.stringify([
    RECORD_FORMAT,
    f.virtualService ?? null,
    f.rule ?? null,
    f.subset ?? null,
    f.endpoint ?? null,
    f.localReply ?? null,
    f.attempts,
    log,
    trace,
    f.configVersion,
    flatHeaders(f.requestHeaders),
    flatHeaders(f.responseHeaders),
    absent(f.sourcePrincipal),
    absent(f.destinationPrincipal),
    absent(f.spanId),
    absent(f.parentSpanId),
    t === undefined ? ABSENT : [t.requestEnd, t.upstreamConnected, t.responseStart, t.responseEnd],
    absent(f.replayOf)
  ]);
  // bodies: as the bytes kept (see RAW), or as views (imports, flows made by hand)
  const captured = f[CAPTURED_BYTES];
  let rq = null;
  let rs = null;
  /** @type {unknown[]} */
  let body;
  if (captured !== undefined) {
    rq = captured.request;
    rs = captured.response;
    body = [
      rq === null ? null : rawMeta(rq),
      rs === null ? null : rawMeta(rs),
      rq === null ? null : rq.bytes.toString('latin1'),
      rs === null ? null : rs.bytes.toString('latin1')
    ];
  } else {
    const rb = f.requestBody;
    const sb = f.responseBody;
    body = [
      bodyMeta(rb),
      bodyMeta(sb),
      typeof rb?.data === 'string' ? rb.data : null,
      typeof sb?.data === 'string' ? sb.data : null
    ];
  }
  const row = [
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
    record,
    body[0],
    body[1],
    f.traceId ?? null,
    f.authority,
    f.durationMs,
    f.connectionSecurity ?? null,
    null,
    body[2],
    body[3]
  ];
  if (rq !== null || rs !== null) row.push((rq === null ? 0 : RAW_REQUEST) | (rs === null ? 0 : RAW_RESPONSE));
  return row;
}

/**
 * The fields of a record in RECORD_FORMAT (toRow), onto `f`.
 * @param {Record<string, unknown>} f
 * @param {unknown[]} r
 */
function assignRecord(f, r) {
  f.virtualService = r[R.virtualService];
  f.rule = r[R.rule];
  f.subset = r[R.subset];
  f.endpoint = r[R.endpoint];
  f.attempts = r[R.attempts];
  const log = /** @type {unknown[]} */ (r[R.attemptLog]);
  const attemptLog = [];
  for (let i = 0; i < log.length; i += 6) {
    /** @type {Record<string, unknown>} */
    const x = { attempt: log[i], endpoint: log[i + 1], status: log[i + 2], flags: log[i + 3], durationMs: log[i + 4] };
    if (present(log[i + 5])) x.error = log[i + 5];
    attemptLog.push(x);
  }
  f.attemptLog = attemptLog;
  f.localReply = r[R.localReply];
  const steps = /** @type {unknown[]} */ (r[R.trace]);
  const trace = [];
  for (let i = 0; i < steps.length; i += 2) trace.push({ step: steps[i], detail: steps[i + 1] });
  f.trace = trace;
  f.configVersion = r[R.configVersion];
  f.requestHeaders = headersOf(/** @type {unknown[]} */ (r[R.requestHeaders]));
  f.responseHeaders = headersOf(/** @type {unknown[]} */ (r[R.responseHeaders]));
  for (const k of /** @type {const} */ (['sourcePrincipal', 'destinationPrincipal', 'spanId', 'parentSpanId']))
    if (present(r[R[k]])) f[k] = r[R[k]];
  const t = /** @type {unknown[]} */ (r[R.timings]);
  if (present(t)) f.timings = { requestEnd: t[0], upstreamConnected: t[1], responseStart: t[2], responseEnd: t[3] };
  if (present(r[R.replayOf])) f.replayOf = r[R.replayOf];
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
  if (row.trace_id !== null) f.traceId = row.trace_id;
  if (row.connection_security !== null) f.connectionSecurity = row.connection_security;
  if (Array.isArray(stored)) {
    assignRecord(f, stored);
    return f;
  }
  // a record written before RECORD_FORMAT: an object, without the NULL_UNLESS_SET fields that were null
  for (const k of NULL_UNLESS_SET) f[k] = null;
  return Object.assign(f, stored);
}

/**
 * A body from its two columns: the view's JSON (before schema 4 with its data, since then without) and its data.
 * @param {string | null} meta
 * @param {string | Uint8Array | null} data
 * @returns {any} a BodyView or null
 */
export function bodyFromColumns(meta, data) {
  if (!meta) return null;
  const b = JSON.parse(meta);
  if (b.encoding === RAW) return bodyView(toBytes(data), b.size, b.truncated);
  return data === null ? b : { encoding: b.encoding, data, size: b.size, truncated: b.truncated };
}

/**
 * A BLOB as a driver returns it: better-sqlite3 a Buffer, node:sqlite a Uint8Array.
 * @param {unknown} data
 * @returns {Uint8Array}
 */
function toBytes(data) {
  return data instanceof Uint8Array ? data : new Uint8Array(0);
}

/**
 * Finish a row for INSERT (toRow): its size in bytes (record, body views and their data) in its size column.
 * @param {unknown[]} row
 * @returns {number} the size
 */
function finishRow(row) {
  if (row.length > BYTES + 3) {
    // which data columns hold bytes as latin1 strings (toRow, RAW): bytes again, stored as BLOBs
    const raw = /** @type {number} */ (row.pop());
    if (raw & RAW_REQUEST) row[REQUEST_DATA] = Buffer.from(/** @type {string} */ (row[REQUEST_DATA]), 'latin1');
    if (raw & RAW_RESPONSE) row[RESPONSE_DATA] = Buffer.from(/** @type {string} */ (row[RESPONSE_DATA]), 'latin1');
  }
  let bytes = 0;
  for (const i of SIZED) {
    const v = row[i];
    if (typeof v === 'string') bytes += Buffer.byteLength(v);
    else if (v instanceof Uint8Array) bytes += v.length;
  }
  row[BYTES] = bytes;
  return bytes;
}

/**
 * Slots of the Int32Array shared with the worker: the last batch committed and received (by the worker), the worker's
 * state and whether it closed, and the writer's scheduling (see
 * WRITER_SCHEDULING): its thread id when it may run at idle priority (else 0), and whether it does now (1; 0 once the
 * engine thread raised it).
 */
export const SLOT = { committed: 0, state: 1, closed: 2, received: 3, idleTid: 4, idle: 5 };
export const SLOT_COUNT = 6;

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
    /**
     * What inserted flows add to their sessions' counts (sessions.flows, bytes, last_flow), not written yet
     * (putCounts): by session id.
     * @type {Map<number, { n: number; b: number; last: string }>}
     */
    this.added = new Map();
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
    this.putCounts();
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
      const session = /** @type {number} */ (row[SESSION]);
      const startedAt = /** @type {string} */ (row[STARTED_AT]);
      const a = this.added.get(session);
      if (a === undefined) this.added.set(session, { n: 1, b: bytes, last: startedAt });
      else {
        a.n++;
        a.b += bytes;
        if (startedAt > a.last) a.last = startedAt;
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
   * Add the inserted flows to their sessions' counts, in the caller's transaction. A session keeps its counts
   * (schema 9) so that listing the sessions reads a row each instead of counting every stored flow, which took ~45 ms
   * of the engine thread at 100k flows (issue 7); one UPDATE per session per commit keeps them.
   */
  putCounts() {
    if (this.added.size === 0) return;
    const update = this.stmt(
      'UPDATE sessions SET flows = flows + ?, bytes = bytes + ?, last_flow = max(coalesce(last_flow, ?), ?) WHERE id = ?'
    );
    for (const [id, a] of this.added) update.run(a.n, a.b, a.last, a.last, id);
    this.added.clear();
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
    this.putCounts();
    this.enforceRetention();
    this.db.exec('COMMIT');
    this.open = false;
  }

  /** Give up what append() inserted since the last commit (a failed write), and re-read the retention totals. */
  rollback() {
    this.run = emptyRun();
    this.added.clear();
    if (this.open) {
      this.open = false;
      this.db.exec('ROLLBACK');
    }
    this.recount();
  }

  /**
   * Delete every captured flow, and every session but those in `keep` (the current ones, left empty) and imported ones
   * (read-only, outside retention, with their flows), in one transaction.
   * @param {readonly number[]} keep
   */
  clearCaptured(keep) {
    this.db.transaction(() => {
      this.stmt(`DELETE FROM flows WHERE ${CAPTURED}`).run();
      this.dropStaleKeys();
      this.stmt("DELETE FROM sessions WHERE id NOT IN (?, ?) AND kind != 'import'").run(keep[0], keep[1] ?? keep[0]);
      this.stmt("UPDATE sessions SET flows = 0, bytes = 0, last_flow = NULL WHERE kind != 'import'").run();
    })();
    this.capturedFlows = this.capturedBytes = 0;
  }

  /**
   * Delete session `id` and its flows, in one transaction: a captured session's through retention's totals
   * (deleteCaptured), an imported one's (outside them) as they are.
   * @param {number} id
   * @param {boolean} imported
   */
  deleteSession(id, imported) {
    this.db.transaction(() => {
      if (imported) {
        this.stmt('DELETE FROM flows WHERE session_id = ?').run(id);
        this.dropStaleKeys();
      } else this.deleteCaptured('session_id = ?', id);
      this.stmt('DELETE FROM sessions WHERE id = ?').run(id);
    })();
  }

  /** Drop the lookup keys of runs whose flows are all gone (a run partly gone keeps its keys: lookups check the flow). */
  dropStaleKeys() {
    this.stmt(
      'DELETE FROM flow_keys WHERE NOT EXISTS (SELECT 1 FROM flows WHERE seq BETWEEN flow_keys.lo AND flow_keys.hi)'
    ).run();
  }

  /** Re-read the totals of captured flows: their sessions' counts (putCounts), which every write keeps. */
  recount() {
    const t = /** @type {{ n: number; b: number }} */ (
      this.stmt(
        "SELECT coalesce(sum(flows), 0) AS n, coalesce(sum(bytes), 0) AS b FROM sessions WHERE kind != 'import'"
      ).get()
    );
    this.capturedFlows = t.n;
    this.capturedBytes = t.b;
  }

  /**
   * Delete the captured flows `where` picks and take them off the running totals and their sessions' counts, which
   * one aggregate over the same rows gives: a `DELETE ... RETURNING bytes` handed each row to JavaScript (~1.3 µs of
   * the writer thread's ~5.7 µs of retention per flow with a full store, issue 7). A session left without flows has
   * no last flow; one that keeps some keeps its last flow's start (retention deletes the oldest flows, so it changes
   * only when every flow left started before one deleted, which only overlapping requests do).
   * @param {string} where an SQL condition on flows
   * @param {...unknown} params
   */
  deleteCaptured(where, ...params) {
    const gone = /** @type {{ s: number; n: number; b: number }[]} */ (
      this.stmt(
        // +session_id: grouping by the bare column, SQLite scanned every flow in flows_session's order instead of
        // searching the few that `where` picks by seq or started_at (a store of 100k flows wrote at a third the rate)
        `SELECT session_id AS s, count(*) AS n, coalesce(sum(bytes), 0) AS b FROM flows WHERE ${where} GROUP BY +session_id`
      ).all(...params)
    );
    if (gone.length === 0) return;
    this.putCounts();
    this.stmt(`DELETE FROM flows WHERE ${where}`).run(...params);
    const update = this.stmt(
      'UPDATE sessions SET flows = flows - ?, bytes = bytes - ?, last_flow = CASE WHEN flows = ? THEN NULL ELSE last_flow END WHERE id = ?'
    );
    for (const g of gone) {
      update.run(g.n, g.b, g.n, g.s);
      this.capturedFlows -= g.n;
      this.capturedBytes -= g.b;
    }
    this.dropStaleKeys();
  }

  /** Drop the oldest captured flows beyond the age, count and byte limits. */
  enforceRetention() {
    const cutoff = new Date(Date.now() - this.limits.maxAgeMs).toISOString();
    this.deleteCaptured(`started_at < ? AND ${CAPTURED}`, cutoff);
    if (this.capturedFlows > this.limits.maxFlows) {
      const last = /** @type {{ seq: number } | undefined} */ (
        this.stmt(`SELECT seq FROM flows WHERE ${CAPTURED} ORDER BY seq LIMIT 1 OFFSET ?`).get(
          this.capturedFlows - this.limits.maxFlows - 1
        )
      );
      if (last !== undefined) this.deleteCaptured(`seq <= ? AND ${CAPTURED}`, last.seq);
    }
    if (this.capturedBytes > this.limits.maxBytes) {
      const last = this.lastSeqToFree(this.capturedBytes - this.limits.maxBytes);
      if (last !== undefined) this.deleteCaptured(`seq <= ? AND ${CAPTURED}`, last);
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
 * The writer thread's scheduling on Linux (issue 7). Writing flows can wait; the requests the sidecars forward cannot.
 * At nice +10 the writer still held a core for up to about a millisecond when the engine thread woke with a request,
 * because the kernel's scheduler (EEVDF) lets a running task go on to the end of its time slice: on a 2-core machine
 * running the sidecars, the apps and the writer, one hop's p99 at 1000 req/s was 1.3-1.6 ms with capture on and
 * 0.7-0.85 ms with it off. A thread under SCHED_IDLE is preempted at once by any other that wakes, and it brought the
 * p99 with capture on to 0.6-0.8 ms (paired runs, 2026-11-24; a 0.1 ms time slice for the writer instead gave 1.0-1.6).
 * But an idle-class thread gets next to no CPU while other work keeps every core busy (a build, a test run), and the
 * engine thread sometimes waits for the writer (a read commits first): so the writer runs idle only where it can be
 * raised again, which takes CAP_SYS_NICE or an RLIMIT_NICE that allows nice +10 (root has it; a desktop session mostly
 * does not, and its writer stays at nice +10). The engine thread raises it (back to SCHED_OTHER at nice +10) when it
 * has not received a batch posted lagMs ago, or when the engine thread has waited waitMs for a commit, and the writer
 * is starved (threadSched: runnable at this look and the last, waitMs or more apart, and on a core less than half of
 * that time). With every core busy, a writer raised only at 16 batches behind held a read for 0.3 s while it worked
 * the backlog off at nice +10. The engine thread lowers the writer again idleAgainMs after a raise, once the writer has
 * received every batch posted. It makes both changes by writing a line to a shell started when the writer first ran
 * idle (policyHelper in flow-store.ts), which runs chrt: a chrt process of the engine's own forked the engine, which
 * held the forking thread 4-7 ms at a few hundred MB (and the writer's own lowering, a fork from its thread, made the
 * engine thread take copy-on-write faults after).
 */
export const WRITER_SCHEDULING = { idle: true, lagMs: 50, waitMs: 20, idleAgainMs: 10_000 };

/** The id of the calling thread (Linux: a thread is a task with an id of its own), or 0. */
function threadId() {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}

/**
 * Thread `tid` of this process as the scheduler sees it: runnable (state R of /proc/<pid>/task/<tid>/stat: running, or
 * waiting for a core) or asleep (waiting for work, or for the disk: a checkpoint's fsync holds the writer 0.1 s), and
 * its time on a core so far in ns (/proc/<pid>/task/<tid>/schedstat); undefined where they cannot be read. A writer
 * runnable at two looks that spent less than half the time between them on a core is starved; one asleep or running
 * is not, and raising it would not help. (The schedstat's run-queue wait is no use here: it only counts a wait once
 * the task gets a core, which a starved one does not.)
 * @param {number} tid
 * @returns {{ runnable: boolean; cpuNs: number } | undefined}
 */
export function threadSched(tid) {
  try {
    const state = taskStat(tid)[0];
    const cpuNs = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    return Number.isFinite(cpuNs) ? { runnable: state === 'R', cpuNs } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The fields of /proc/<pid>/task/<tid>/stat for thread `tid` of this process after its command name (index 0 is
 * field 3 of proc_pid_stat(5), the state); throws where it cannot be read.
 * @param {number} tid
 */
export function taskStat(tid) {
  const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * The scheduling policy of thread `tid` of this process (Linux; field 41 of /proc/<pid>/task/<tid>/stat), or undefined.
 * @param {number} tid
 * @returns {'other' | 'batch' | 'idle' | string | undefined}
 */
export function threadPolicy(tid) {
  try {
    const policy = Number(taskStat(tid)[38]);
    return /** @type {Record<number, string>} */ ({ 0: 'other', 3: 'batch', 5: 'idle' })[policy] ?? String(policy);
  } catch {
    return undefined;
  }
}

/**
 * May this process take a thread out of SCHED_IDLE at nice `nice` (sched(7): CAP_SYS_NICE, or an RLIMIT_NICE of at
 * least 20 - nice)? Read from /proc; false where it cannot be read.
 * @param {number} nice
 */
export function canLeaveIdle(nice) {
  try {
    const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'latin1'))?.[1];
    if (capEff !== undefined && ((BigInt(`0x${capEff}`) >> 23n) & 1n) === 1n) return true;
    const soft = /^Max nice priority\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'latin1'))?.[1];
    return soft === 'unlimited' || Number(soft) >= 20 - nice;
  } catch {
    return false;
  }
}

/** The command line that sets thread `tid`'s policy (chrt, util-linux), for spawn or execFile. */
export function chrtArgs(/** @type {number} */ tid, /** @type {'idle' | 'other'} */ policy) {
  return /** @type {const} */ (['chrt', [policy === 'idle' ? '--idle' : '--other', '--pid', '0', String(tid)]]);
}

/**
 * Set the calling thread's scheduling: nice +WRITER_NICE, and SCHED_IDLE when `idle` and it can be raised again.
 * Returns the thread's id when it runs idle, else 0. Elsewhere than on Linux nothing changes (no per-thread priority).
 * @param {boolean} idle
 */
export function lowerPriority(idle) {
  if (process.platform !== 'linux') return 0;
  const tid = threadId();
  if (tid === 0) return 0;
  try {
    os.setPriority(tid, Math.min(19, os.getPriority(tid) + WRITER_NICE));
  } catch {
    /* the priority stays as it is */
  }
  if (!idle || !canLeaveIdle(os.getPriority(tid))) return 0;
  return setPolicy(tid, 'idle') ? tid : 0;
}

/**
 * Set thread `tid`'s policy and wait for it (the writer thread's own, once when it starts and the engine is small;
 * the engine thread's later changes go through its policy helper and do not wait).
 * @param {number} tid
 * @param {'idle' | 'other'} policy
 */
function setPolicy(tid, policy) {
  const [cmd, args] = chrtArgs(tid, policy);
  return spawnSync(cmd, args, { stdio: 'ignore', timeout: 5000 }).status === 0;
}

/**
 * The worker: its own connection to flows.db. Messages, handled in order:
 *   { type: 'rows', seq, rows }   insert a batch of flows (toRow's rows) and publish `seq` as received; batches are
 *                                committed together COMMIT_WINDOW_MS after the first (or at COMMIT_MAX_ROWS), then the
 *                                last seq is published as committed (even when the write failed: the failure is
 *                                logged, as the engine-thread store logs a failed batch)
 *   { type: 'commit' }           commit what is inserted now (the engine thread waits to read)
 *   { type: 'clear', id, keep }  commit, then delete every captured flow and the sessions but `keep` and imports
 *                                (FlowWriter.clearCaptured); answered with { type: 'done', id, error? }
 *   { type: 'delete', id, session, imported }
 *                                commit, then delete a session and its flows (FlowWriter.deleteSession); answered so
 *   { type: 'recount', gen }     the engine changed flows itself (a deleted session): re-read the retention totals
 *   { type: 'close' }            commit, close the connection, publish `closed`, exit
 * It posts { type: 'log', line } for the engine's log, and { type: 'totals', gen, flows, bytes } (its running totals
 * of captured flows, retention's deletions taken off) after each commit of inserted flows and after each recount:
 * `gen` is the last recount's, so the engine tells totals counted before a change of its own from those after it.
 */
function runWorker() {
  const d =
    /** @type {{ file: string; sqlite: import('./sqlite-driver.d.mts').SqliteDriver; limits: { maxFlows: number; maxBytes: number; maxAgeMs: number }; shared: SharedArrayBuffer; scheduling?: Partial<typeof WRITER_SCHEDULING> }} */ (
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
  const scheduling = { ...WRITER_SCHEDULING, ...d.scheduling };
  const idleTid = lowerPriority(scheduling.idle);
  if (idleTid !== 0) {
    Atomics.store(shared, SLOT.idleTid, idleTid);
    Atomics.store(shared, SLOT.idle, 1);
    parentPort?.postMessage({ type: 'idle' }); // the engine thread raises it from now on, and lowers it again
  }
  /** Rows inserted in the open transaction, and the last batch received. */
  let pending = 0;
  let receivedSeq = 0;
  if (idleTid !== 0) {
    Atomics.store(shared, SLOT.idleTid, idleTid);
    Atomics.store(shared, SLOT.idle, 1);
    parentPort?.postMessage({ type: 'idle' }); // the engine thread raises it from now on, and lowers it again
  }
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  /** The last recount the engine asked for, and whether the totals changed since they were last posted. */
  let gen = 0;
  let changed = false;
  const postTotals = () => {
    changed = false;
    parentPort?.postMessage({ type: 'totals', gen, flows: writer.capturedFlows, bytes: writer.capturedBytes });
  };
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
    if (changed) postTotals();
  };
  parentPort?.on(
    'message',
    (
      /** @type {{ type: string; seq?: number; gen?: number; rows?: unknown[][]; id?: number; keep?: number[]; session?: number; imported?: boolean }} */ m
    ) => {
      if (m.type === 'rows') {
        const rows = m.rows ?? [];
        pending += rows.length;
        changed = true;
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
      } else if (m.type === 'clear' || m.type === 'delete') {
        // what came before is committed, then deleted with the rest; what comes after it stays
        commit();
        /** @type {string | undefined} */
        let error;
        try {
          if (m.type === 'clear') writer.clearCaptured(m.keep ?? []);
          else writer.deleteSession(m.session ?? 0, m.imported === true);
        } catch (e) {
          error = /** @type {Error} */ (e).message;
          try {
            writer.recount();
          } catch {
            /* the totals stay as they were */
          }
        }
        postTotals();
        parentPort?.postMessage({ type: 'done', id: m.id, error });
      } else if (m.type === 'recount') {
        commit();
        gen = m.gen ?? gen;
        try {
          writer.recount();
        } catch (e) {
          parentPort?.postMessage({ type: 'log', line: `flow store: ${/** @type {Error} */ (e).message}` });
        }
        postTotals();
      } else if (m.type === 'close') {
        try {
          commit();
          db.close();
        } finally {
          publish(SLOT.closed, 1);
          parentPort?.close();
        }
      }
    }
  );
}

/**
 * The reader: a worker of its own with a connection of its own to flows.db, that runs the SELECTs the engine thread
 * sends it, so that a query's scan (a text search reads every stored flow's path, headers and bodies: ~250 ms at
 * 100k flows) holds this thread instead of the one that forwards requests. WAL lets it read while the writer
 * writes; it sees what was committed when its query starts (the engine thread waits for the commit first).
 * Messages: { id, sql, params } in; { id, rows } or { id, error } out. It posts { ready: true } once it is open, or
 * { failed: message } and ends.
 */
function runReader() {
  const d = /** @type {{ file: string; sqlite: import('./sqlite-driver.d.mts').SqliteDriver }} */ (workerData);
  /** @type {import('./sqlite-driver.d.mts').SqlDatabase} */
  let db;
  try {
    db = openDatabase(d.sqlite, d.file);
    db.pragma('busy_timeout = 10000');
    db.pragma('query_only = ON');
  } catch (e) {
    parentPort?.postMessage({ failed: /** @type {Error} */ (e).message });
    return;
  }
  /** @type {Map<string, import('./sqlite-driver.d.mts').SqlStatement>} */
  const statements = new Map();
  parentPort?.on('message', (/** @type {{ id: number; sql: string; params: unknown[] }} */ m) => {
    try {
      let stmt = statements.get(m.sql);
      if (!stmt) {
        if (statements.size >= 200) statements.clear(); // one per combination of filters: a few in practice
        statements.set(m.sql, (stmt = db.prepare(m.sql)));
      }
      parentPort?.postMessage({ id: m.id, rows: stmt.all(...m.params) });
    } catch (e) {
      parentPort?.postMessage({ id: m.id, error: /** @type {Error} */ (e).message });
    }
  });
  parentPort?.postMessage({ ready: true });
}

if (!isMainThread && workerData?.localmeshFlowWriter === true) runWorker();
if (!isMainThread && workerData?.localmeshFlowReader === true) runReader();
