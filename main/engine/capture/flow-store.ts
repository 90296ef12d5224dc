/**
 * The flow store: every finished flow in SQLite (better-sqlite3, WAL) in the state dir, so captured traffic
 * survives restarts and crashes. Writes are queued off the request path and handed every 100 ms to a worker thread
 * of its own (flow-writer.mjs; in the engine's thread when it cannot start), which commits them together every
 * quarter second, or at once when the engine reads: a crash loses at most the last 0.35 s of flows, and SQLite's work
 * never stalls the sidecars' event loop. The schema is versioned with `PRAGMA user_version` and migrated in
 * order. Flows are grouped into capture sessions; retention (count, bytes, age) applies to captured flows, while
 * imported (read-only) sessions stay until deleted. SQLite is better-sqlite3 or, where that cannot load (the desktop
 * app's engine host on Electron's Node), node:sqlite (sqlite-driver.mjs); with neither, the engine keeps flows in
 * memory and says so.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type {
  BodyView,
  FlowQuery,
  FlowRecord,
  GraphEdge,
  GraphNode,
  MetricsPoint,
  SessionView,
  StoreTotals
} from '../../contract/api.js';
import { CAPTURE_DEFAULTS, type CaptureSpec } from '../../contract/mesh-schema.js';
import {
  buildGraph,
  buildMetricsSeries,
  isoBound,
  matchesQuery,
  statusRange,
  UNKNOWN_CALLER,
  type FlowFacts
} from './aggregate.js';
// @ts-expect-error -- plain JavaScript (a worker thread loads it without a TypeScript loader); typed just below
import * as flowWriter from './flow-writer.mjs';
import { withBodyViews } from './body-view.mjs';
import { findSqlite, openDatabase, type SqlDatabase, type SqliteDriver, type SqlStatement } from './sqlite-driver.mjs';

/** A flow as INSERT takes it: the column values in order (INSERT in flow-writer.mjs; its size is set on insert). */
type WriteRow = unknown[];

/** WRITER_SCHEDULING in flow-writer.mjs. */
export interface WriterScheduling {
  /** Run the writer thread at idle priority (SCHED_IDLE) where it can be raised again. */
  idle: boolean;
  /** Raise it when a batch posted this long ago is not received yet. */
  lagMs: number;
  /** Raise it when the engine thread has waited this long for a commit. */
  waitMs: number;
  /** It goes idle again after its next commit with nothing behind, once raised for this long. */
  idleAgainMs: number;
}

/** The writer thread's running totals of captured flows, as it reports them (flow-writer.mjs runWorker). */
interface WriterTotals {
  /** The last recount it did (WriterThread.recount). */
  gen: number;
  flows: number;
  bytes: number;
}

interface RetentionLimits {
  maxFlows: number;
  maxBytes: number;
  maxAgeMs: number;
}

/** flow-writer.mjs: batches of rows inserted and retention enforced, in this thread or in the writer thread. */
interface FlowWriter {
  capturedFlows: number;
  capturedBytes: number;
  /** Insert rows of captured flows and enforce retention, in one transaction. */
  readonly writeRows: (rows: WriteRow[]) => void;
  /** The same from flows stamped with their session. */
  writeFlows(flows: FlowRecord[]): void;
  insertRows(rows: WriteRow[], captured: boolean): void;
  dropStaleKeys(): void;
  recount(): void;
  /** Delete the captured flows an SQL condition picks, keeping the retention totals. */
  deleteCaptured(where: string, ...params: unknown[]): void;
  /** Delete every captured flow, and every session but `keep` and imported ones, in one transaction. */
  clearCaptured(keep: readonly number[]): void;
  /** Delete a session and its flows, in one transaction. */
  deleteSession(id: number, imported: boolean): void;
  enforceRetention(): void;
}

const {
  FlowWriter,
  threadSched,
  KEYS_PER_ROW,
  SLOT,
  SLOT_COUNT,
  STATE,
  WRITER_SCHEDULING,
  chrtArgs,
  toRow,
  fromColumns,
  RECORD_PATHS,
  bodyFromColumns
} = flowWriter as {
  FlowWriter: new (db: Database, limits: RetentionLimits) => FlowWriter;
  /** Flows per row of lookup keys (flow_keys). */
  KEYS_PER_ROW: number;
  /** A flow as stored: INSERT's column values in order (the record without its column fields and bodies). This is
   * also what the engine thread hands to the writer thread. */
  toRow: (f: FlowRecord, session: number) => WriteRow;
  /** JSON paths of the header lists in a record of the current format. */
  RECORD_PATHS: { requestHeaders: string; responseHeaders: string };
  /** A flow (without bodies) from a row of FLOW_COLUMNS. */
  fromColumns: (row: FlowRow) => FlowRecord;
  /** A body from its view's JSON and its data column. */
  bodyFromColumns: (meta: string | null, data: string | Uint8Array | null) => BodyView | null;
  SLOT: Readonly<Record<'committed' | 'state' | 'closed' | 'received' | 'idleTid' | 'idle', number>>;
  SLOT_COUNT: number;
  /** How the writer thread is scheduled (Linux): at idle priority while it keeps up, where it can be raised again. */
  WRITER_SCHEDULING: WriterScheduling;
  /** The command and arguments that set a thread's scheduling policy. */
  chrtArgs: (tid: number, policy: 'idle' | 'other') => readonly [string, string[]];
  /** A thread of this process: runnable (or asleep), and its time on a core so far (ns). */
  threadSched: (tid: number) => { runnable: boolean; cpuNs: number } | undefined;
  STATE: { readonly starting: number; readonly ready: number; readonly failed: number };
};

type Database = SqlDatabase;
type Statement = SqlStatement;

export interface FlowStore {
  readonly kind: 'sqlite' | 'memory';
  /** The SQLite driver in use (sqlite stores). */
  readonly driver?: SqliteDriver['name'];
  readonly file: string | null;
  /** Queue a finished flow; the store stamps `sessionId` (on the given object) with the current session. */
  append(f: FlowRecord): void;
  /** Newest last; filters per FlowQuery; no bodies unless asked (HAR export). An unknown `before` id yields no flows. */
  list(q: FlowQuery, opts?: { bodies?: boolean }): FlowRecord[];
  /**
   * list(), with the query run off the engine's thread where the store can (the SQLite store's reader thread): the
   * admin API reads this way, so that a query's scan (a text search reads every stored flow) never holds the thread
   * that forwards requests, nor does waiting for the writer thread's commit.
   */
  listAsync(q: FlowQuery, opts?: { bodies?: boolean }): Promise<FlowRecord[]>;
  /** One flow with bodies. */
  get(id: string): FlowRecord | undefined;
  /** get(), waiting for the writer thread's commit without holding the engine's thread (as listAsync). */
  getAsync(id: string): Promise<FlowRecord | undefined>;
  /** Delete every captured flow and session but the current ones; imported sessions (read-only) stay. */
  clear(): void;
  /** clear(), without holding the engine's thread while the delete runs where the store can (its writer thread). */
  clearAsync(): Promise<void>;
  count(): number;
  sessions(): SessionView[];
  /** sessions(), waiting for the writer thread's commit without holding the engine's thread (as listAsync). */
  sessionsAsync(): Promise<SessionView[]>;
  session(id: number): SessionView | undefined;
  /** End the current session and start a user session. */
  startSession(label?: string): SessionView;
  /** End the user session; new flows go back to the `up` session. Throws when no user session runs. */
  stopSession(): SessionView;
  /** Delete a session and its flows (not the current one, nor this run's `up` session). Throws otherwise. */
  deleteSession(id: number): void;
  /** deleteSession(), without holding the engine's thread while the delete runs where the store can (as clearAsync). */
  deleteSessionAsync(id: number): Promise<void>;
  /**
   * A new read-only session holding these flows (HAR import); ids that clash with stored flows are replaced.
   * `digest` identifies what was imported (findImport).
   */
  importSession(label: string, flows: FlowRecord[], digest?: string): SessionView;
  /** The newest imported session with this digest, if one is still stored. */
  findImport(digest: string): SessionView | undefined;
  /** Aggregates for the Graph view over flows in [since, until). */
  graph(q: { since: string; until: string; session?: number }): { nodes: GraphNode[]; edges: GraphEdge[] };
  /** graph(), its query run as listAsync's. */
  graphAsync(q: {
    since: string;
    until: string;
    session?: number;
  }): Promise<{ nodes: GraphNode[]; edges: GraphEdge[] }>;
  /** Time series for one service (short name or FQDN) over [since, until) in buckets of stepSec. */
  metricsSeries(q: { service: string; since: string; until: string; stepSec: number }): MetricsPoint[];
  /** metricsSeries(), its query run as listAsync's. */
  metricsSeriesAsync(q: { service: string; since: string; until: string; stepSec: number }): Promise<MetricsPoint[]>;
  /**
   * What the store holds (the `store` event): captured flows as committed (within flushMs and the writer's commit
   * window of being appended; retention's deletions taken off), plus imported ones.
   */
  totals(): StoreTotals;
  /**
   * Called (without arguments: read totals()) when totals() may have changed: after a commit of appended flows and its
   * retention, a clear, a deleted session, an import. One listener; null removes it.
   */
  onTotals(listener: (() => void) | null): void;
  /** Commit what is queued now (tests, shutdown). */
  flush(): void;
  close(): void;
}

/** Retention and batching of the SQLite store. */
export interface StoreOptions {
  /** Captured flows kept; the oldest go first. */
  maxFlows: number;
  /** Bytes of captured flow records and bodies kept (as stored); the oldest go first. */
  maxBytes: number;
  /** Captured flows that started longer ago than this are dropped (at open and with every write). */
  maxAgeMs: number;
  /** How long an appended flow may wait before its batch is committed. */
  flushMs: number;
  /**
   * With a writer thread: hand flows over as soon as this many are queued (else after flushMs). Handing a flow over
   * (toRow, since made when the flow is appended, and its copy) costs the engine thread ~3 µs, and each hand-over (a message to the worker, which wakes it)
   * costs it more again: batches of 64 instead of 16 left it ~9 µs less per 2-hop request at saturation, ~4% more
   * throughput (issue 7, 2026-11-24; 128 gained nothing more). The time a hand-over holds the thread grows with the
   * batch, but the share of time it is held does not (0.3 ms every 64 ms at 1000 req/s, one hop), so a request still
   * waits on one as rarely: 100 ms of flows at once, when a flow's row cost ~12 µs, had held it for ~2 ms every
   * 100 ms, and that was issue 7's p99. The writer thread gathers the batches into one commit (COMMIT_WINDOW_MS).
   */
  flushRows: number;
  /** Write batches in a worker thread (default; false: in the engine's thread, as when the worker cannot start). */
  writerThread?: boolean;
  /** The writer thread's scheduling (tests); WRITER_SCHEDULING by default. */
  writerScheduling?: Partial<WriterScheduling>;
}

export const STORE_DEFAULTS: StoreOptions = {
  maxFlows: CAPTURE_DEFAULTS.maxFlows,
  maxBytes: CAPTURE_DEFAULTS.maxMegabytes * 1024 * 1024,
  maxAgeMs: CAPTURE_DEFAULTS.maxAgeHours * 3600_000,
  flushMs: 100,
  flushRows: 64
};

/** Store options from the mesh file's `spec.capture` (bodyCap is the sidecars' business). */
export function storeOptionsFromCapture(c: CaptureSpec): Partial<StoreOptions> {
  return { maxFlows: c.maxFlows, maxBytes: c.maxMegabytes * 1024 * 1024, maxAgeMs: c.maxAgeHours * 3600_000 };
}

/** Ordered migrations: index i moves the schema from version i to i + 1. Never edit a released one. */
const MIGRATIONS: string[] = [
  `CREATE TABLE sessions (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT, label TEXT);
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
   CREATE INDEX flows_request_id ON flows(request_id);`,
  // 2: session kinds, columns for filters and aggregates (backfilled from the record), size per flow, indexes
  `ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'up';
   ALTER TABLE sessions ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE flows ADD COLUMN trace_id TEXT;
   ALTER TABLE flows ADD COLUMN authority TEXT NOT NULL DEFAULT '';
   ALTER TABLE flows ADD COLUMN duration_ms REAL NOT NULL DEFAULT 0;
   ALTER TABLE flows ADD COLUMN connection_security TEXT;
   ALTER TABLE flows ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
   UPDATE flows SET
     trace_id = json_extract(record, '$.traceId'),
     authority = coalesce(json_extract(record, '$.authority'), ''),
     duration_ms = coalesce(json_extract(record, '$.durationMs'), 0),
     connection_security = json_extract(record, '$.connectionSecurity'),
     bytes = length(CAST(record AS BLOB)) + coalesce(length(CAST(request_body AS BLOB)), 0) + coalesce(length(CAST(response_body AS BLOB)), 0);
   CREATE INDEX flows_started_at ON flows(started_at);
   CREATE INDEX flows_session ON flows(session_id);
   CREATE INDEX flows_trace_id ON flows(trace_id);`,
  // 3: lookup keys of runs of flows (flow-writer.mjs INSERT_KEYS) instead of the request-id and trace-id indexes
  `CREATE TABLE flow_keys (lo INTEGER NOT NULL, hi INTEGER NOT NULL, keys TEXT NOT NULL);
   INSERT INTO flow_keys (lo, hi, keys)
     SELECT min(seq), max(seq), char(10) || group_concat(request_id || char(10) || coalesce(trace_id || char(10), ''), '')
     FROM flows GROUP BY seq / ${KEYS_PER_ROW};
   DROP INDEX flows_request_id;
   DROP INDEX flows_trace_id;`,
  // 4: a body's data in a column of its own (request_body and response_body keep the rest of its view), and records
  // without the fields that have columns (flow-writer.mjs toRow; rows written before keep them, which reads the same)
  `ALTER TABLE flows ADD COLUMN request_data TEXT;
   ALTER TABLE flows ADD COLUMN response_data TEXT;`,
  // 5: the last session id ever given (newSession), so that a deleted session's id is never given again: a view
  // filtered by it, a link to it or a HAR export named after it would otherwise show another session's flows
  `CREATE TABLE session_ids (last INTEGER NOT NULL);
   INSERT INTO session_ids (last) SELECT coalesce(max(id), 0) FROM sessions;`,
  // 6: records written from now on are JSON lists (flow-writer.mjs RECORD_FORMAT), which a localmesh of schema 5
  // would misread as objects; rows written before keep their object records, which this one reads as they are
  `-- no table changes: the version tells an older localmesh to leave this file alone`,
  // 7: an imported session's digest (the HAR's SHA-256), so that replaying the same HAR file again reuses its import
  `ALTER TABLE sessions ADD COLUMN digest TEXT;`,
  // 8: a captured body is stored as the bytes its sidecar kept (a BLOB in request_data or response_data, its view's
  // encoding "raw", flow-writer.mjs RAW) and its view made when it is read, which a localmesh of schema 7 would misread
  `-- no table changes: the version tells an older localmesh to leave this file alone`,
  // 9: a session's counts (flows, bytes, its last flow's start), kept by every write (FlowWriter.putCounts and
  // deleteCaptured), so that a sessions listing reads a row per session instead of counting every flow: ~45 ms of the
  // engine thread at 100k flows (issue 7). A localmesh of schema 8 would write flows without counting them.
  `ALTER TABLE sessions ADD COLUMN flows INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE sessions ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE sessions ADD COLUMN last_flow TEXT;
   UPDATE sessions SET (flows, bytes, last_flow) =
     (SELECT count(*), coalesce(sum(f.bytes), 0), max(f.started_at) FROM flows f WHERE f.session_id = sessions.id);`
];

/** The schema version this localmesh writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Open (creating or migrating) `<stateDir>/flows.db` and start a new `up` session in it. Falls back to an
 * in-memory store (and logs why) when no SQLite driver loads.
 */
export function openSqliteStore(
  stateDir: string,
  opts: Partial<StoreOptions> = {},
  log: (l: string) => void = () => undefined
): FlowStore {
  const found = findSqlite();
  if (!('driver' in found)) {
    log(`flow store: SQLite unavailable (${found.reasons.join('; ')}); flows are kept in memory only`);
    return memoryStore(2000);
  }
  fs.mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, 'flows.db');
  const db = openDatabase(found.driver, file);
  try {
    // 16 KiB pages for a new file (an existing one keeps its size): a flow row with a 1 KiB body is ~2.5 KB, so 4 KiB
    // pages held one row each and the WAL wrote a mostly empty page per flow; 16 KiB pages cut the insert cost ~35%
    db.pragma('page_size = 16384');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // the writer thread has a connection of its own; it only writes while the engine thread does not (see flush)
    db.pragma('busy_timeout = 10000');
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  log(`flow store: ${file} (${found.driver.name})`);
  return new SqliteStore(db, file, { ...STORE_DEFAULTS, ...opts }, log, found.driver);
}

function migrate(db: Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length)
    throw new Error(
      `flows.db has schema version ${version}, newer than this localmesh (${MIGRATIONS.length}); use a newer localmesh or another --state-dir`
    );
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** A flow without its bodies (lists and live events carry no bodies). */
export function withoutBodies(f: FlowRecord): FlowRecord {
  if (f.requestBody === undefined && f.responseBody === undefined) return f;
  const rest = { ...f };
  delete rest.requestBody;
  delete rest.responseBody;
  return rest;
}

/** Clamp a FlowQuery limit (default 100). */
function limitOf(q: FlowQuery): number {
  return Math.max(1, Math.min(Math.floor(q.limit ?? 100), 100_000));
}

/** Ids for imported flows: their own when free, else `<id>~<session>[-n]`. */
function freshIds(flows: readonly FlowRecord[], session: number, taken: (id: string) => boolean): string[] {
  const used = new Set<string>();
  return flows.map((f) => {
    let id = f.id;
    for (let n = 1; used.has(id) || taken(id); n++) id = `${f.id}~${session}${n > 1 ? `-${n}` : ''}`;
    used.add(id);
    return id;
  });
}

/** The time span of imported flows (earliest start, latest end); now when there are none. */
function spanOf(flows: readonly FlowRecord[]): { startedAt: string; endedAt: string } {
  if (flows.length === 0) {
    const now = new Date().toISOString();
    return { startedAt: now, endedAt: now };
  }
  const starts = flows.map((f) => Date.parse(f.startedAt));
  const ends = flows.map((f) => Date.parse(f.startedAt) + Math.max(0, f.durationMs));
  return { startedAt: new Date(Math.min(...starts)).toISOString(), endedAt: new Date(Math.max(...ends)).toISOString() };
}

// ---------------------------------------------------------------------------------------------------------------
// SQLite

/** One SQL condition with its parameters. */
interface Cond {
  sql: string;
  params: unknown[];
}

/** A record's headers (a list in the current format, an object in records written before it; see toRow). */
const recordHeaders = (path: string, key: string): string =>
  `json_extract(record, CASE WHEN substr(record, 1, 1) = '[' THEN '${path}' ELSE '$.${key}' END)`;

const TEXT_COLUMNS = [
  'path',
  recordHeaders(RECORD_PATHS.requestHeaders, 'requestHeaders'),
  recordHeaders(RECORD_PATHS.responseHeaders, 'responseHeaders'),
  "coalesce(request_data, json_extract(request_body, '$.data'))",
  "coalesce(response_data, json_extract(response_body, '$.data'))"
];

/** The SQL twin of `matchesQuery`: one condition per given filter (fixed SQL text, values as parameters). */
const SQL_FILTERS: ((q: FlowQuery) => Cond | undefined)[] = [
  (q) => (q.session === undefined ? undefined : { sql: 'session_id = ?', params: [q.session] }),
  (q) => (q.since === undefined ? undefined : { sql: 'started_at >= ?', params: [isoBound(q.since)] }),
  (q) => (q.until === undefined ? undefined : { sql: 'started_at < ?', params: [isoBound(q.until)] }),
  (q) =>
    q.caller === undefined
      ? undefined
      : q.caller === UNKNOWN_CALLER
        ? { sql: 'source IS NULL', params: [] }
        : { sql: 'source = ?', params: [q.caller] },
  (q) =>
    q.service === undefined
      ? undefined
      : {
          sql: '(destination_service = ? OR substr(destination_service, 1, ?) = ?)',
          params: [q.service, q.service.length + 1, `${q.service}.`]
        },
  (q) =>
    q.workload === undefined ? undefined : { sql: '(source = ? OR destination = ?)', params: [q.workload, q.workload] },
  (q) => (q.method === undefined ? undefined : { sql: 'method = ?', params: [q.method] }),
  (q) => (q.status === undefined ? undefined : { sql: 'status BETWEEN ? AND ?', params: statusRange(q.status) }),
  (q) => (q.flag === undefined ? undefined : { sql: "instr(',' || flags || ',', ?) > 0", params: [`,${q.flag},`] }),
  (q) =>
    q.text === undefined
      ? undefined
      : {
          sql: `(${TEXT_COLUMNS.map((c) => `instr(lower(${c}), ?) > 0`).join(' OR ')})`,
          params: TEXT_COLUMNS.map(() => q.text!.toLowerCase())
        },
  (q) => (q.reporter === undefined ? undefined : { sql: 'reporter = ?', params: [q.reporter] }),
  (q) => (q.requestId === undefined ? undefined : byKey('request_id', q.requestId)),
  (q) => (q.traceId === undefined ? undefined : byKey('trace_id', q.traceId)),
  (q) =>
    q.before === undefined ? undefined : { sql: 'seq < (SELECT seq FROM flows WHERE id = ?)', params: [q.before] }
];

/** Flows whose request_id or trace_id is `value`: found through the lookup keys of runs of flows (INSERT_KEYS). */
function byKey(column: 'request_id' | 'trace_id', value: string): Cond {
  return {
    sql: `seq IN (SELECT f.seq FROM flow_keys k JOIN flows f ON f.seq BETWEEN k.lo AND k.hi WHERE instr(k.keys, ?) > 0 AND +f.${column} = ?)`,
    params: [`\n${value}\n`, value]
  };
}

/** The WHERE clause of a query ('' when unfiltered). */
function whereOf(q: FlowQuery): Cond {
  const conds = SQL_FILTERS.map((f) => f(q)).filter((c): c is Cond => c !== undefined);
  return {
    sql: conds.length ? `WHERE ${conds.map((c) => c.sql).join(' AND ')}` : '',
    params: conds.flatMap((c) => c.params)
  };
}

const FACT_COLUMNS = `request_id AS requestId, reporter, source, destination, destination_service AS destinationService, authority, status, flags,
  duration_ms AS durationMs, started_at AS startedAt, connection_security AS connectionSecurity`;

/** What fromColumns reads of a flow's row (FLOW_COLUMNS), and its bodies' columns (BODY_COLUMNS). */
interface FlowRow {
  record: string;
  session_id: number;
  id: string;
  request_id: string;
  reporter: string;
  source: string | null;
  destination: string | null;
  destination_service: string | null;
  method: string;
  authority: string;
  path: string;
  status: number;
  flags: string;
  duration_ms: number;
  started_at: string;
  trace_id: string | null;
  connection_security: string | null;
  request_body?: string | null;
  response_body?: string | null;
  request_data?: string | Uint8Array | null;
  response_data?: string | Uint8Array | null;
}

const FLOW_COLUMNS = `record, session_id, id, request_id, reporter, source, destination, destination_service, method, authority, path,
  status, flags, duration_ms, started_at, trace_id, connection_security`;
const BODY_COLUMNS = 'request_body, response_body, request_data, response_data';

interface SessionRow {
  id: number;
  label: string | null;
  kind: SessionView['kind'];
  started_at: string;
  ended_at: string | null;
  read_only: number;
  flows: number;
  bytes: number;
  last_flow: string | null;
}

/** A session as listed: its counts are kept with it (schema 9), so a listing reads a row per session. */
const SESSION_SELECT = `SELECT id, label, kind, started_at, ended_at, read_only, flows, bytes, last_flow FROM sessions`;

/** The query of list() and listAsync(): newest first, as many as the query's limit. */
function listQuery(q: FlowQuery, opts: { bodies?: boolean }): { sql: string; params: unknown[] } {
  const where = whereOf(q);
  const columns = opts.bodies === true ? `${FLOW_COLUMNS}, ${BODY_COLUMNS}` : FLOW_COLUMNS;
  return {
    sql: `SELECT ${columns} FROM flows ${where.sql} ORDER BY seq DESC LIMIT ?`,
    params: [...where.params, limitOf(q)]
  };
}

/** Facts from their rows (FACT_COLUMNS). */
function factsOf(rows: unknown[]): FlowFacts[] {
  return (rows as (FlowFacts & { connectionSecurity: FlowFacts['connectionSecurity'] | null })[]).map((r) => ({
    ...r,
    connectionSecurity: r.connectionSecurity ?? undefined
  }));
}

class SqliteStore implements FlowStore {
  readonly kind = 'sqlite';
  get driver(): SqliteDriver['name'] {
    return this.sqlite.name;
  }
  private readonly statements = new Map<string, Statement>();
  /**
   * Flows appended and not yet written, as rows (toRow). A flow becomes its row when it is appended, not when its
   * batch is handed over: the ~3-4 µs that toRow costs the engine thread per flow then falls between requests one
   * flow at a time, instead of holding the thread ~0.3 ms per batch of 64 (a request that arrives meanwhile waits:
   * issue 7's latency tail at 1000 req/s with capture on), and the flow record itself is garbage at once.
   */
  private readonly pending: WriteRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** This run's `up` session, and the session new flows go into (the `up` one or a user session). */
  private readonly upSession: number;
  private current: number;
  /** Writes in this thread: retention at open, imports and deletes, and every batch when there is no writer thread. */
  private readonly writer: FlowWriter;
  /** The thread that writes the batches of appended flows, while it works. */
  private thread: WriterThread | undefined;
  /** The thread that runs the async reads' queries: started by the first; null once it cannot (reads run here). */
  private reader: ReaderThread | undefined | null;
  /**
   * Captured flows and their bytes as last committed: the writer thread's totals as it reports them (only those
   * counted after the last recount this thread asked for, `recounts`), or this thread's writer's without one.
   */
  private captured = { flows: 0, bytes: 0 };
  private recounts = 0;
  /** Flows of imported sessions (retention leaves them alone; imports and deletes happen in this thread). */
  private imported = 0;
  private totalsListener: (() => void) | null = null;

  constructor(
    private readonly db: Database,
    readonly file: string,
    private readonly o: StoreOptions,
    private readonly log: (l: string) => void,
    private readonly sqlite: SqliteDriver
  ) {
    this.writer = new FlowWriter(db, o);
    this.upSession = this.current = db.transaction(() => {
      this.dropEmptyUpSessions();
      this.writer.recount();
      this.writer.enforceRetention();
      return this.newSession('up', null);
    })();
    this.captured = { flows: this.writer.capturedFlows, bytes: this.writer.capturedBytes };
    this.imported = this.countImported();
    if (o.writerThread !== false)
      this.thread = WriterThread.start(file, sqlite, o, log, (t) => {
        // totals counted before a change this thread made (clear, delete) are stale: the recount's follow
        if (t.gen !== this.recounts || this.thread === undefined) return;
        this.captured = { flows: t.flows, bytes: t.bytes };
        this.totalsChanged();
      });
  }

  private countImported(): number {
    return (this.stmt("SELECT coalesce(sum(flows), 0) AS n FROM sessions WHERE kind = 'import'").get() as { n: number })
      .n;
  }

  totals(): StoreTotals {
    const { flows, bytes } = this.captured;
    return { flows: flows + this.imported, capturedFlows: flows, capturedBytes: bytes };
  }

  onTotals(listener: (() => void) | null): void {
    this.totalsListener = listener;
  }

  private totalsChanged(): void {
    try {
      this.totalsListener?.();
    } catch {
      /* a listener's failure never affects the store */
    }
  }

  /** This thread's writer changed captured flows (without a writer thread): its totals are the store's. */
  private ownTotals(): void {
    this.captured = { flows: this.writer.capturedFlows, bytes: this.writer.capturedBytes };
    this.totalsChanged();
  }

  private stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  append(f: FlowRecord): void {
    f.sessionId = this.current;
    let row: WriteRow;
    try {
      row = toRow(f, this.current);
    } catch (e) {
      this.log(`flow store: cannot store flow ${f.id}: ${(e as Error).message}`);
      return;
    }
    this.pending.push(row);
    if (this.thread && this.pending.length >= this.o.flushRows) this.flushLogged();
    else this.timer ??= setTimeout(() => this.flushLogged(), this.o.flushMs);
  }

  private flushLogged(): void {
    try {
      this.write(false);
    } catch (e) {
      this.log(`flow store: writing ${this.pending.length} flow(s) failed: ${(e as Error).message}`);
    }
  }

  flush(): void {
    this.write(true);
  }

  /**
   * Write the queued flows: handed to the writer thread (and, with `wait`, waited for until it committed everything
   * handed to it so far, so that this thread reads them and may write itself), or written here without one.
   */
  private write(wait: boolean): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    // rows are handed to the writer thread, or written here without one
    const rows = this.pending.length === 0 ? [] : this.pending.splice(0, this.pending.length);
    const t = this.thread;
    if (t) {
      if (rows.length > 0) t.post(rows);
      const unconfirmed = wait ? t.sync(this.log) : t.failed() ? t.unconfirmed(this.log) : null;
      if (unconfirmed) this.takeOver(t, unconfirmed);
      return;
    }
    if (rows.length > 0) {
      this.writer.writeRows(rows);
      this.ownTotals();
    }
  }

  /** The writer thread stopped working: write here from now on, starting with what it may not have written. */
  private takeOver(t: WriterThread, unconfirmed: WriteRow[]): void {
    this.thread = undefined;
    t.stop();
    this.log(`flow store: the writer thread stopped; writing in the engine thread`);
    // this thread's writer has not seen the flows the writer thread wrote: its retention totals start afresh
    this.writer.recount();
    if (unconfirmed.length > 0) this.writer.writeRows(unconfirmed);
    this.ownTotals();
  }

  /**
   * This thread changed captured flows (clear, delete): the writer thread re-reads its retention totals, and reports
   * them (the store's totals follow then); without one, this thread's writer kept them.
   */
  private retentionChanged(): void {
    if (this.thread) this.thread.recount(++this.recounts);
    else this.ownTotals();
  }

  /** `up` sessions of earlier runs that hold no flows (any more) are noise in the list. */
  private dropEmptyUpSessions(): void {
    this.stmt("DELETE FROM sessions WHERE kind = 'up' AND flows = 0").run();
  }

  private newSession(
    kind: SessionView['kind'],
    label: string | null,
    span?: { startedAt: string; endedAt: string },
    digest?: string
  ): number {
    // a new id above every id given before, deleted sessions' included (sessions.id alone would reuse the last one)
    const { id } = this.stmt(
      'UPDATE session_ids SET last = max(last, (SELECT coalesce(max(id), 0) FROM sessions)) + 1 RETURNING last AS id'
    ).get() as { id: number };
    this.stmt(
      'INSERT INTO sessions (id, started_at, ended_at, label, kind, read_only, digest) VALUES (?, ?, ?, ?, ?, ?, ?)'
    ).run(
      id,
      span?.startedAt ?? new Date().toISOString(),
      span?.endedAt ?? null,
      label,
      kind,
      kind === 'import' ? 1 : 0,
      digest ?? null
    );
    return id;
  }

  private setEnded(id: number, at: string | null): void {
    this.stmt('UPDATE sessions SET ended_at = ? WHERE id = ?').run(at, id);
  }

  list(q: FlowQuery, opts: { bodies?: boolean } = {}): FlowRecord[] {
    this.flush();
    const { sql, params } = listQuery(q, opts);
    return this.flowsOf(this.stmt(sql).all(...params) as FlowRow[], opts);
  }

  async listAsync(q: FlowQuery, opts: { bodies?: boolean } = {}): Promise<FlowRecord[]> {
    const { sql, params } = listQuery(q, opts);
    return this.flowsOf((await this.read(sql, params)) as FlowRow[], opts);
  }

  /** Flows from list rows (newest first, as queried): newest last. */
  private flowsOf(rows: FlowRow[], opts: { bodies?: boolean }): FlowRecord[] {
    return rows.reverse().map((r) => this.fromRow(r, opts.bodies === true));
  }

  /**
   * Rows of a query, once what was appended before it is committed: run by the reader thread, while this thread
   * waits for the commit and then the rows without being held; here, as list() does, where there is no reader.
   */
  private async read(sql: string, params: unknown[]): Promise<unknown[]> {
    await this.settle();
    if (this.reader === undefined && !this.closed) this.reader = ReaderThread.start(this.file, this.sqlite, this.log);
    const r = this.reader;
    if (r && !this.closed) {
      try {
        return await r.query(sql, params);
      } catch (e) {
        if (!(e instanceof ReaderGone)) throw e;
        if (this.reader === r) {
          this.log(`flow store: ${e.message}; reading in the engine thread`);
          this.reader = null;
        }
      }
    }
    this.flush();
    return this.stmt(sql).all(...params);
  }

  /**
   * Hand what is queued to the writer thread and wait, without holding this thread, until it committed everything
   * handed to it (flush() waits holding it); without a writer thread, flush().
   */
  private async settle(): Promise<void> {
    const t = this.thread;
    if (!t || this.closed) return this.flush();
    this.write(false);
    if (this.thread !== t) return; // it stopped: this thread wrote what it had
    const unconfirmed = await t.syncAsync(this.log);
    if (unconfirmed && this.thread === t) this.takeOver(t, unconfirmed);
  }

  get(id: string): FlowRecord | undefined {
    this.flush();
    return this.byId(id);
  }

  async getAsync(id: string): Promise<FlowRecord | undefined> {
    // one row by its unique id: read here, once the writer thread committed, without waiting for it holding this thread
    await this.settle();
    return this.byId(id);
  }

  private byId(id: string): FlowRecord | undefined {
    const r = this.stmt(`SELECT ${FLOW_COLUMNS}, ${BODY_COLUMNS} FROM flows WHERE id = ?`).get(id) as
      FlowRow | undefined;
    return r && this.fromRow(r, true);
  }

  private fromRow(r: FlowRow, bodies: boolean): FlowRecord {
    const f = fromColumns(r);
    f.sessionId = r.session_id;
    if (bodies) {
      f.requestBody = bodyFromColumns(r.request_body ?? null, r.request_data ?? null);
      f.responseBody = bodyFromColumns(r.response_body ?? null, r.response_data ?? null);
    }
    return f;
  }

  clear(): void {
    this.pending.length = 0;
    this.flush();
    // captured traffic goes; an imported session (read-only, a HAR someone chose to keep) stays, as retention keeps it
    this.writer.clearCaptured([this.current, this.upSession]);
    this.cleared();
  }

  /**
   * clear(), made by the writer thread, which this thread waits for without being held: at 100k stored flows the
   * delete took 0.5-0.9 s, during which no sidecar forwarded a request. Flows appended before it are deleted with the
   * rest; those appended while it runs are kept. Where the writer thread stops first, as clear().
   */
  async clearAsync(): Promise<void> {
    const t = this.thread;
    if (!t || this.closed) return this.clear();
    this.pending.length = 0;
    const done = await t.request({ type: 'clear', keep: [this.current, this.upSession] });
    if (done === false || this.thread !== t) return this.clear();
    this.cleared();
    if (typeof done === 'string') throw new Error(done);
  }

  /** Captured flows were cleared: the totals say so at once (the writer thread's recount follows). */
  private cleared(): void {
    this.writer.capturedFlows = this.writer.capturedBytes = 0;
    this.retentionChanged();
    this.captured = { flows: 0, bytes: 0 };
    if (this.thread) this.totalsChanged();
  }

  count(): number {
    this.flush();
    return (this.stmt('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
  }

  private view(r: SessionRow): SessionView {
    const live = r.id === this.current || r.id === this.upSession;
    return {
      id: r.id,
      label: r.label,
      kind: r.kind,
      startedAt: r.started_at,
      // a session of an earlier run that never ended (crash): it ended with its last flow
      endedAt: r.ended_at ?? (live ? null : r.last_flow),
      flows: r.flows,
      bytes: r.bytes,
      current: r.id === this.current,
      readOnly: r.read_only === 1
    };
  }

  sessions(): SessionView[] {
    this.flush();
    return (this.stmt(`${SESSION_SELECT} ORDER BY id`).all() as SessionRow[]).map((r) => this.view(r));
  }

  async sessionsAsync(): Promise<SessionView[]> {
    // a row per session (schema 9): read here, once the writer thread committed what came before, without waiting
    // for it holding this thread
    await this.settle();
    return (this.stmt(`${SESSION_SELECT} ORDER BY id`).all() as SessionRow[]).map((r) => this.view(r));
  }

  session(id: number): SessionView | undefined {
    this.flush();
    const r = this.stmt(`${SESSION_SELECT} WHERE id = ?`).get(id) as SessionRow | undefined;
    return r && this.view(r);
  }

  startSession(label?: string): SessionView {
    this.flush();
    this.setEnded(this.current, new Date().toISOString());
    this.current = this.newSession('user', label ?? null);
    return this.session(this.current)!;
  }

  stopSession(): SessionView {
    if (this.current === this.upSession) throw new Error('no user session is recording');
    this.flush();
    const ended = this.current;
    this.setEnded(ended, new Date().toISOString());
    this.setEnded(this.upSession, null);
    this.current = this.upSession;
    return this.session(ended)!;
  }

  deleteSession(id: number): void {
    checkDeletable(id, this.current, this.upSession);
    this.flush();
    const s = this.session(id);
    if (!s) throw new Error(`no session ${id}`);
    this.writer.deleteSession(id, s.kind === 'import');
    this.sessionDeleted(s);
  }

  /**
   * deleteSession(), made by the writer thread, which this thread waits for without being held (a session of 100k
   * flows takes as long to delete as a clear); where the writer thread stops first, as deleteSession().
   */
  async deleteSessionAsync(id: number): Promise<void> {
    checkDeletable(id, this.current, this.upSession);
    const t = this.thread;
    if (!t || this.closed) return this.deleteSession(id);
    const s = (await this.sessionsAsync()).find((x) => x.id === id);
    if (!s) throw new Error(`no session ${id}`);
    const done = await t.request({ type: 'delete', session: id, imported: s.kind === 'import' });
    if (done === false || this.thread !== t) return this.deleteSession(id);
    if (typeof done === 'string') throw new Error(done);
    this.sessionDeleted(s);
  }

  /** Session `s` and its flows were deleted: the totals follow. */
  private sessionDeleted(s: SessionView): void {
    if (s.kind !== 'import') this.retentionChanged();
    else {
      this.imported -= s.flows;
      this.totalsChanged();
    }
  }

  importSession(label: string, flows: FlowRecord[], digest?: string): SessionView {
    this.flush();
    const id = this.db.transaction(() => {
      const session = this.newSession('import', label, spanOf(flows), digest);
      const taken = this.stmt('SELECT 1 FROM flows WHERE id = ?');
      const ids = freshIds(flows, session, (x) => taken.get(x) !== undefined);
      this.writer.insertRows(
        flows.map((f, i) => toRow({ ...f, id: ids[i]! }, session)),
        false
      );
      return session;
    })();
    const view = this.session(id)!;
    this.imported += view.flows;
    this.totalsChanged();
    return view;
  }

  findImport(digest: string): SessionView | undefined {
    const row = this.stmt("SELECT id FROM sessions WHERE kind = 'import' AND digest = ? ORDER BY id DESC LIMIT 1").get(
      digest
    ) as { id: number } | undefined;
    return row === undefined ? undefined : this.session(row.id);
  }

  private facts(q: FlowQuery): FlowFacts[] {
    this.flush();
    const where = whereOf(q);
    return factsOf(this.stmt(`SELECT ${FACT_COLUMNS} FROM flows ${where.sql}`).all(...where.params));
  }

  private async factsAsync(q: FlowQuery): Promise<FlowFacts[]> {
    const where = whereOf(q);
    return factsOf(await this.read(`SELECT ${FACT_COLUMNS} FROM flows ${where.sql}`, where.params));
  }

  graph(q: { since: string; until: string; session?: number }) {
    return buildGraph(this.facts(q), windowSec(q));
  }

  async graphAsync(q: { since: string; until: string; session?: number }) {
    return buildGraph(await this.factsAsync(q), windowSec(q));
  }

  async metricsSeriesAsync(q: { service: string; since: string; until: string; stepSec: number }) {
    return buildMetricsSeries(await this.factsAsync({ service: q.service, since: q.since, until: q.until }), q);
  }

  metricsSeries(q: { service: string; since: string; until: string; stepSec: number }): MetricsPoint[] {
    return buildMetricsSeries(this.facts({ service: q.service, since: q.since, until: q.until }), q);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.thread?.close();
    this.thread = undefined;
    this.reader?.close();
    this.reader = null;
    this.setEnded(this.current, new Date().toISOString());
    this.db.close();
  }
}

/**
 * flow-writer.mjs beside this module: the source file, or in the desktop app the bundle esbuild wrote beside the
 * engine host's, which electron-builder unpacks from app.asar (a worker cannot start from inside the archive).
 */
function writerEntry(): string | undefined {
  let entry: URL;
  try {
    entry = new URL('./flow-writer.mjs', import.meta.url);
  } catch {
    return undefined;
  }
  if (entry.protocol !== 'file:') return undefined;
  const file = fileURLToPath(entry);
  const unpacked = file.replace(/\.asar([\\/])/, '.asar.unpacked$1');
  return [unpacked, file].find((f) => fs.existsSync(f));
}

/**
 * The worker thread that writes batches of flows (flow-writer.mjs), seen from the engine thread. Batches are posted
 * in order with a sequence number; the worker publishes in shared memory the last one it received and the last one
 * it committed (it gathers batches into one commit, see COMMIT_WINDOW_MS), so the engine thread can ask for the
 * commit and wait for it synchronously (Atomics.wait) before it reads or writes itself. Posted batches are kept
 * until the worker has them: when it fails, the store writes those itself (INSERT OR IGNORE skips any the worker did
 * write), and logs how many flows the worker had received but not committed.
 */
class WriterThread {
  /** The shell that changes the writer's scheduling policy on this thread's behalf (policyHelper), while it runs. */
  private helper: ChildProcess | undefined;
  /** When the raised writer is looked at again, to go back to idle (idleAgain). */
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly inflight: { seq: number; rows: WriteRow[]; at: number }[] = [];
  /** Deletions posted and not answered yet (request), by id. */
  private readonly requests = new Map<number, (outcome: true | string | false) => void>();
  private nextRequest = 1;
  /** Rows per batch the worker received and may not have committed yet (for the count of flows a failure lost). */
  private readonly uncommitted: { seq: number; n: number }[] = [];
  private seq = 0;
  private exited = false;
  private readonly startedAt = Date.now();
  /** When raise() last looked at the writer (performance.now()), and what it saw (threadSched). */
  private lastLook: { at: number; sched: { runnable: boolean; cpuNs: number } | undefined } = {
    at: -Infinity,
    sched: undefined
  };

  private constructor(
    private readonly worker: Worker,
    private readonly shared: Int32Array,
    private readonly scheduling: WriterScheduling,
    private readonly log: (l: string) => void
  ) {
    worker.on('exit', () => {
      this.exited = true;
      this.settleRequests(undefined, false);
    });
  }

  /** The writer runs idle (its `idle` message): start the policy helper that raises it and lowers it again. */
  private writerIdle(): void {
    if (this.helper !== undefined || this.exited) return;
    const h = policyHelper(this.log);
    this.helper = h;
    // gone (killed, say), it may have taken a raise with it: the writer is raised again the forking way
    h?.on('exit', () => {
      if (this.helper !== h) return;
      this.helper = undefined;
      const tid = Atomics.load(this.shared, SLOT.idleTid);
      if (tid !== 0 && !this.exited && Atomics.load(this.shared, SLOT.idle) === 0) this.setPolicy(tid, 'other');
    });
  }

  /** How long the engine thread waits for the worker to start, or to commit, before it writes itself. */
  static readonly START_TIMEOUT_MS = 15_000;
  static readonly COMMIT_TIMEOUT_MS = 60_000;

  /**
   * Start the worker for `file`; undefined when it cannot be created (the store then writes in its own thread).
   * `onTotals` gets its totals of captured flows after each commit and recount (the `totals` message).
   */
  static start(
    file: string,
    sqlite: SqliteDriver,
    limits: RetentionLimits & Pick<StoreOptions, 'writerScheduling'>,
    log: (l: string) => void,
    onTotals: (t: WriterTotals) => void
  ): WriterThread | undefined {
    const entry = writerEntry();
    if (!entry) {
      log('flow store: no writer thread (flow-writer.mjs is not beside the engine); writing in the engine thread');
      return undefined;
    }
    const shared = new Int32Array(new SharedArrayBuffer(SLOT_COUNT * Int32Array.BYTES_PER_ELEMENT));
    const scheduling = { ...WRITER_SCHEDULING, ...limits.writerScheduling };
    let worker: Worker;
    try {
      worker = new Worker(entry, {
        // a plain .mjs file: no TypeScript loader (or profiler flags) from the engine's command line
        execArgv: [],
        workerData: {
          localmeshFlowWriter: true,
          file,
          sqlite,
          limits: { maxFlows: limits.maxFlows, maxBytes: limits.maxBytes, maxAgeMs: limits.maxAgeMs },
          shared: shared.buffer,
          scheduling
        }
      });
    } catch (e) {
      log(`flow store: no writer thread (${(e as Error).message}); writing in the engine thread`);
      return undefined;
    }
    worker.unref();
    const thread = new WriterThread(worker, shared, scheduling, log);
    worker.on('message', (m: { type?: string; line?: string; id?: number; error?: string } & Partial<WriterTotals>) => {
      if (m?.type === 'log' && m.line) log(m.line);
      else if (m?.type === 'totals') onTotals({ gen: m.gen ?? 0, flows: m.flows ?? 0, bytes: m.bytes ?? 0 });
      else if (m?.type === 'idle') thread.writerIdle();
      else if (m?.type === 'done') thread.answered(m.id, m.error);
    });
    worker.on('error', (e) => log(`flow store: the writer thread failed: ${e.message}`));
    return thread;
  }

  /** Hand a batch of flows (toRow's rows: 22 primitives each, cheap to copy) to the worker. */
  post(rows: WriteRow[]): void {
    const seq = ++this.seq;
    const at = performance.now();
    this.trim();
    // before this batch wakes the writer: is one handed over lagMs ago still waiting for it?
    const oldest = this.inflight[0];
    if (oldest && at - oldest.at >= this.scheduling.lagMs) this.raise();
    this.inflight.push({ seq, rows, at });
    this.uncommitted.push({ seq, n: rows.length });
    this.worker.postMessage({ type: 'rows', seq, rows });
  }

  /**
   * Take the writer out of idle priority (WRITER_SCHEDULING): it has fallen behind, or this thread waits for it. The
   * change is made by the policy helper, which this thread does not wait for; idleAgain lowers it later.
   */
  raise(): void {
    if (Atomics.load(this.shared, SLOT.idle) !== 1) return;
    const tid = Atomics.load(this.shared, SLOT.idleTid);
    // only a starved writer is raised: runnable at this look and the last (within the last second), and on a core
    // less than half the time between them; asleep (waiting for the disk, or for work) or running, it would not help
    const now = performance.now();
    const last = this.lastLook;
    if (now - last.at < this.scheduling.waitMs) return;
    const sched = threadSched(tid);
    this.lastLook = { at: now, sched };
    if (!sched?.runnable || !last.sched?.runnable || now - last.at > 1000) return;
    if ((sched.cpuNs - last.sched.cpuNs) / 1e6 >= (now - last.at) / 2) return;
    Atomics.store(this.shared, SLOT.idle, 0);
    this.setPolicy(tid, 'other');
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.idleAgain(tid), this.scheduling.idleAgainMs).unref();
  }

  /**
   * Back to idle priority, idleAgainMs after a raise, once the writer has received every batch posted (nothing is
   * behind); else looked at again a second later.
   */
  private idleAgain(tid: number): void {
    this.idleTimer = undefined;
    if (this.exited || Atomics.load(this.shared, SLOT.idle) === 1) return;
    if (Atomics.load(this.shared, SLOT.received) < this.seq) {
      this.idleTimer = setTimeout(() => this.idleAgain(tid), 1000).unref();
      return;
    }
    // the flag first: a raise from now on comes after this change, and the helper makes them in that order
    Atomics.store(this.shared, SLOT.idle, 1);
    this.setPolicy(tid, 'idle');
  }

  /**
   * Set the writer's policy without waiting: a line to the policy helper, or (without one) a chrt process of this
   * one's, which forks it.
   */
  private setPolicy(tid: number, policy: 'idle' | 'other'): void {
    const [cmd, args] = chrtArgs(tid, policy);
    const h = this.helper;
    if (h && h.exitCode === null && h.signalCode === null && h.stdin?.writable) {
      h.stdin.write(`${args.join(' ')}\n`);
      return;
    }
    const failed = (e: Error) =>
      this.log(`flow store: cannot change the writer thread's priority (${e.message.split('\n')[0]})`);
    try {
      execFile(cmd, args, { timeout: 5000 }, (e) => e && failed(e));
    } catch (e) {
      failed(e as Error);
    }
  }

  /**
   * Have the worker make a deletion (a clear, FlowWriter.clearCaptured; a session's, FlowWriter.deleteSession) after
   * what was posted before: true once it did, its error's message when it failed, false when it stopped first. The
   * worker is referenced while this waits.
   */
  request(
    r: { type: 'clear'; keep: number[] } | { type: 'delete'; session: number; imported: boolean }
  ): Promise<true | string | false> {
    if (this.failed()) return Promise.resolve(false);
    return new Promise<true | string | false>((resolve) => {
      const id = this.nextRequest++;
      if (this.requests.size === 0) this.worker.ref();
      this.requests.set(id, resolve);
      this.worker.postMessage({ ...r, id });
    });
  }

  /** The worker's answer to request `id`: done, or the message of the error it failed with. */
  answered(id: number | undefined, error: string | undefined): void {
    if (id !== undefined) this.settleRequests(id, error ?? true);
  }

  /** Answer request `id` (every request: undefined). */
  private settleRequests(id: number | undefined, outcome: true | string | false): void {
    for (const [k, resolve] of this.requests) {
      if (id !== undefined && k !== id) continue;
      this.requests.delete(k);
      resolve(outcome);
    }
    if (this.requests.size === 0 && !this.exited) this.worker.unref();
  }

  /** Have the worker re-read its totals; its reports carry `gen` from then on. */
  recount(gen: number): void {
    this.worker.postMessage({ type: 'recount', gen });
  }

  /** Has the worker stopped (or not started in time)? */
  failed(): boolean {
    const state = Atomics.load(this.shared, SLOT.state);
    return (
      this.exited ||
      state === STATE.failed ||
      (state === STATE.starting && Date.now() - this.startedAt > WriterThread.START_TIMEOUT_MS)
    );
  }

  /** Batches posted that the worker has not received (logging how many flows it received but did not commit). */
  unconfirmed(log: (l: string) => void): WriteRow[] {
    this.trim();
    const received = Atomics.load(this.shared, SLOT.received);
    const lost = this.uncommitted.filter((b) => b.seq <= received).reduce((n, b) => n + b.n, 0);
    if (lost > 0)
      log(`flow store: the writer thread stopped before committing ${lost} flow(s) it had received; they are lost`);
    return this.inflight.flatMap((b) => b.rows);
  }

  /** Wait until every posted batch is committed: null when it is, else the rows the store must write itself. */
  sync(log: (l: string) => void): WriteRow[] | null {
    const steps = this.commitSteps(log);
    for (let step = steps.next(); ; step = steps.next()) {
      if (step.done) return step.value;
      const [slot, value, ms] = step.value;
      Atomics.wait(this.shared, slot, value, ms);
    }
  }

  /** sync(), without holding this thread while it waits (Atomics.waitAsync): for the reads that do not need to. */
  async syncAsync(log: (l: string) => void): Promise<WriteRow[] | null> {
    const steps = this.commitSteps(log);
    for (let step = steps.next(); ; step = steps.next()) {
      if (step.done) return step.value;
      const [slot, value, ms] = step.value;
      await waitAsync(this.shared, slot, value, ms);
    }
  }

  /**
   * What sync() and syncAsync() do, but waiting: the worker is asked to commit, and each wait is yielded as [slot,
   * value, ms] (until `slot` is no longer `value`, or ms passed), for the caller to make holding its thread or not.
   * Returns null once every batch posted before is committed, else the rows the store must write itself. A writer
   * waited for waitMs is raised (see raise).
   */
  private *commitSteps(log: (l: string) => void): Generator<[number, number, number], WriteRow[] | null> {
    const target = this.seq;
    if (Atomics.load(this.shared, SLOT.committed) >= target) {
      // nothing in flight (e.g. a read right after opening, while the worker still starts): nothing to wait for
      this.trim();
      return null;
    }
    this.worker.postMessage({ type: 'commit' });
    const deadline = Date.now() + WriterThread.COMMIT_TIMEOUT_MS;
    while (Atomics.load(this.shared, SLOT.state) === STATE.starting) {
      if (this.exited || Date.now() - this.startedAt > WriterThread.START_TIMEOUT_MS) return this.unconfirmed(log);
      yield [SLOT.state, STATE.starting, 100];
    }
    for (const since = Date.now(); ;) {
      const done = Atomics.load(this.shared, SLOT.committed);
      if (done >= target) break;
      if (this.failed() || Date.now() > deadline) return this.unconfirmed(log);
      if (Date.now() - since >= this.scheduling.waitMs) this.raise();
      yield [SLOT.committed, done, this.scheduling.waitMs];
    }
    this.trim();
    return null;
  }

  /**
   * Wait up to waitMs for the worker to change `slot` from `value`, first raising it (see raise) once this thread has
   * waited waitMs since `since`.
   */
  private waitOn(slot: number, value: number, since: number): void {
    if (Date.now() - since >= this.scheduling.waitMs) this.raise();
    Atomics.wait(this.shared, slot, value, this.scheduling.waitMs);
  }

  /** Close the worker's connection and let it end (after sync: nothing is in flight). */
  close(): void {
    if (!this.failed()) {
      this.worker.postMessage({ type: 'close' });
      const since = Date.now();
      while (Atomics.load(this.shared, SLOT.closed) === 0 && !this.exited && Date.now() < since + 10_000) {
        this.waitOn(SLOT.closed, 0, since);
      }
    }
    this.stop();
  }

  stop(): void {
    clearTimeout(this.idleTimer);
    this.helper?.stdin?.end();
    this.helper = undefined;
    void this.worker.terminate();
  }

  private trim(): void {
    const received = Atomics.load(this.shared, SLOT.received);
    let n = 0;
    while (n < this.inflight.length && this.inflight[n]!.seq <= received) n++;
    if (n > 0) this.inflight.splice(0, n);
    const committed = Atomics.load(this.shared, SLOT.committed);
    n = 0;
    while (n < this.uncommitted.length && this.uncommitted[n]!.seq <= committed) n++;
    if (n > 0) this.uncommitted.splice(0, n);
  }
}

/** Until `slot` of `shared` is no longer `value`, or `ms` passed, without holding the thread. */
async function waitAsync(shared: Int32Array, slot: number, value: number, ms: number): Promise<void> {
  // ES2024's Atomics.waitAsync (V8 has it since Node 16; the lib this code is typed against does not declare it)
  const atomics = Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: Promise<unknown> | string };
  };
  const w = atomics.waitAsync(shared, slot, value, ms);
  if (w.async) await w.value;
}

/** The reader thread cannot run queries (any more): the store runs them in the engine thread from then on. */
class ReaderGone extends Error {}

/**
 * The worker that runs the async reads' queries (flow-writer.mjs runReader), seen from the engine thread: a query is
 * posted with an id and answered with its rows. The worker is referenced only while a query waits, so it never keeps
 * the engine running by itself.
 */
class ReaderThread {
  private readonly waiting = new Map<number, { resolve: (rows: unknown[]) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private gone: ReaderGone | undefined;
  private readonly ready: Promise<void>;

  private constructor(private readonly worker: Worker) {
    let opened: () => void = () => undefined;
    let failed: (e: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    this.ready.catch(() => undefined);
    const fail = (why: string) => {
      if (this.gone) return;
      this.gone = new ReaderGone(`the reader thread stopped (${why})`);
      failed(this.gone);
      for (const w of this.waiting.values()) w.reject(this.gone);
      this.waiting.clear();
      void worker.terminate();
    };
    worker.on('message', (m: { id?: number; rows?: unknown[]; error?: string; ready?: boolean; failed?: string }) => {
      if (m.ready) return opened();
      if (m.failed !== undefined) return fail(m.failed);
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (this.waiting.size === 0) worker.unref();
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.rows ?? []);
    });
    worker.on('error', (e) => fail(e.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
  }

  /** Start the reader for `file`; null when it cannot be created (the store then reads in its own thread). */
  static start(file: string | null, sqlite: SqliteDriver, log: (l: string) => void): ReaderThread | null {
    const entry = writerEntry();
    if (!entry || file === null) return null;
    try {
      const worker = new Worker(entry, { execArgv: [], workerData: { localmeshFlowReader: true, file, sqlite } });
      worker.unref();
      return new ReaderThread(worker);
    } catch (e) {
      log(`flow store: no reader thread (${(e as Error).message}); reading in the engine thread`);
      return null;
    }
  }

  /** The rows of `sql`; rejects with ReaderGone when the reader cannot answer, with an Error when the query fails. */
  async query(sql: string, params: unknown[]): Promise<unknown[]> {
    if (this.gone) throw this.gone;
    await this.ready;
    if (this.gone) throw this.gone;
    return new Promise<unknown[]>((resolve, reject) => {
      const id = this.nextId++;
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, sql, params });
    });
  }

  close(): void {
    this.gone ??= new ReaderGone('the store closed');
    for (const w of this.waiting.values()) w.reject(this.gone);
    this.waiting.clear();
    void this.worker.terminate();
  }
}

/**
 * A shell, started with the writer thread, that runs chrt for each line it reads (chrtArgs's arguments): the engine
 * thread changes the writer's scheduling by writing a line to it. A chrt process of the engine's own forks the
 * engine, and a fork of a process of a few hundred MB held the forking thread 4-7 ms while its page tables were
 * copied (and the engine thread took copy-on-write faults after): issue 7's latency tail when the writer is raised
 * and lowered again under load. Forking this shell costs next to nothing. It ends when its input does: when the store
 * closes, or when the engine exits. undefined where it cannot start (then a chrt process is forked each time).
 */
function policyHelper(log: (l: string) => void): ChildProcess | undefined {
  let h: ChildProcess;
  try {
    h = spawn('sh', ['-c', 'while read -r args; do chrt $args; done'], { stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (e) {
    log(`flow store: no policy helper (${(e as Error).message}); the writer's priority changes fork the engine`);
    return undefined;
  }
  h.on('error', (e) =>
    log(`flow store: no policy helper (${e.message}); the writer's priority changes fork the engine`)
  );
  h.stdin?.on('error', () => undefined); // the shell went away: setPolicy forks chrt from then on
  h.stderr?.setEncoding('utf8');
  h.stderr?.on('data', (d: string) => {
    for (const line of d.split('\n'))
      if (line.trim() !== '') log(`flow store: cannot change the writer thread's priority (${line.trim()})`);
  });
  // neither the shell nor its pipes keep the engine running
  h.unref();
  for (const p of [h.stdin, h.stderr]) (p as unknown as { unref?: () => void } | null)?.unref?.();
  return h;
}

/** Seconds between since and until. */
function windowSec(q: { since: string; until: string }): number {
  return (Date.parse(q.until) - Date.parse(q.since)) / 1000;
}

/** Sessions flows are (or will again be) recorded into cannot be deleted. */
function checkDeletable(id: number, current: number, up: number): void {
  // this run's own session records until the run ends: only its flows can go (clear)
  if (id === current && id === up)
    throw new Error(
      `session ${id} is the session of this run (localmesh up), which records until the run ends; it cannot be deleted, but its flows can be cleared`
    );
  if (id === current)
    throw new Error(`session ${id} is the current session; stop it (or start another) before deleting it`);
  if (id === up)
    throw new Error(
      `session ${id} is the session of this run, which resumes when the user session stops; it cannot be deleted now`
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Memory

interface MemorySession {
  id: number;
  label: string | null;
  kind: SessionView['kind'];
  startedAt: string;
  endedAt: string | null;
  /** An import's digest (findImport). */
  digest?: string;
}

/** How often at most appended flows tell the in-memory store's totals listener (SqliteStore: once per commit). */
const MEMORY_TOTALS_MS = 250;

/** Flows in memory (the newest `cap` captured ones; imported sessions stay), when SQLite is not available. */
export function memoryStore(cap: number): FlowStore {
  return new MemoryStore(cap);
}

class MemoryStore implements FlowStore {
  readonly kind = 'memory';
  readonly file = null;
  /** All flows, oldest first (captured and imported). */
  private flows: FlowRecord[] = [];
  private readonly byId = new Map<string, FlowRecord>();
  private readonly sessionList: MemorySession[] = [];
  private nextSession = 1;
  private captured = 0;
  private readonly upSession: number;
  private current: number;
  private totalsListener: (() => void) | null = null;
  /** Appended flows change the totals once per MEMORY_TOTALS_MS at most (like the SQLite store's commits). */
  private totalsTimer: NodeJS.Timeout | undefined;

  constructor(private readonly cap: number) {
    this.upSession = this.current = this.newSession('up', null).id;
  }

  private newSession(
    kind: SessionView['kind'],
    label: string | null,
    span?: { startedAt: string; endedAt: string }
  ): MemorySession {
    const s: MemorySession = {
      id: this.nextSession++,
      label,
      kind,
      startedAt: span?.startedAt ?? new Date().toISOString(),
      endedAt: span?.endedAt ?? null
    };
    this.sessionList.push(s);
    return s;
  }

  private isImported(f: FlowRecord): boolean {
    return this.sessionList.find((s) => s.id === f.sessionId)?.kind === 'import';
  }

  append(f: FlowRecord): void {
    if (this.byId.has(f.id)) return; // like INSERT OR IGNORE
    withBodyViews(f, true);
    f.sessionId = this.current;
    this.flows.push(f);
    this.byId.set(f.id, f);
    if (++this.captured > this.cap) this.dropOldestCaptured();
    if (this.totalsListener) this.totalsTimer ??= setTimeout(() => this.totalsChanged(), MEMORY_TOTALS_MS).unref();
  }

  totals(): StoreTotals {
    return { flows: this.flows.length, capturedFlows: this.captured, capturedBytes: null };
  }

  onTotals(listener: (() => void) | null): void {
    this.totalsListener = listener;
  }

  private totalsChanged(): void {
    clearTimeout(this.totalsTimer);
    this.totalsTimer = undefined;
    try {
      this.totalsListener?.();
    } catch {
      /* a listener's failure never affects the store */
    }
  }

  private dropOldestCaptured(): void {
    // the oldest flow is usually a captured one: shift() is O(1) where splice(i, 1) moves the whole array
    const i =
      this.flows.length > 0 && !this.isImported(this.flows[0]!) ? 0 : this.flows.findIndex((f) => !this.isImported(f));
    if (i < 0) return;
    const gone = i === 0 ? this.flows.shift()! : this.flows.splice(i, 1)[0]!;
    this.byId.delete(gone.id);
    this.captured--;
  }

  async listAsync(q: FlowQuery, opts: { bodies?: boolean } = {}): Promise<FlowRecord[]> {
    return this.list(q, opts);
  }

  async graphAsync(q: { since: string; until: string; session?: number }) {
    return this.graph(q);
  }

  async metricsSeriesAsync(q: { service: string; since: string; until: string; stepSec: number }) {
    return this.metricsSeries(q);
  }

  list(q: FlowQuery, opts: { bodies?: boolean } = {}): FlowRecord[] {
    let end = this.flows.length;
    if (q.before !== undefined) end = this.flows.findIndex((f) => f.id === q.before);
    const out: FlowRecord[] = [];
    const limit = limitOf(q);
    for (let i = end - 1; i >= 0 && out.length < limit; i--) {
      const f = this.flows[i]!;
      if (matchesQuery(f, q)) out.push(opts.bodies ? f : withoutBodies(f));
    }
    return out.reverse();
  }

  get(id: string): FlowRecord | undefined {
    return this.byId.get(id);
  }

  async getAsync(id: string): Promise<FlowRecord | undefined> {
    return this.get(id);
  }

  async clearAsync(): Promise<void> {
    this.clear();
  }

  clear(): void {
    // as the SQLite store: captured traffic goes, imported sessions stay
    this.flows = this.flows.filter((f) => this.isImported(f));
    this.byId.clear();
    for (const f of this.flows) this.byId.set(f.id, f);
    this.captured = 0;
    const keep = this.sessionList.filter(
      (s) => s.id === this.current || s.id === this.upSession || s.kind === 'import'
    );
    this.sessionList.splice(0, this.sessionList.length, ...keep);
    this.totalsChanged();
  }

  count(): number {
    return this.flows.length;
  }

  private view(s: MemorySession): SessionView {
    const mine = this.flows.filter((f) => f.sessionId === s.id);
    const bytes = mine.reduce((n, f) => n + Buffer.byteLength(JSON.stringify(f)), 0);
    return { ...s, flows: mine.length, bytes, current: s.id === this.current, readOnly: s.kind === 'import' };
  }

  sessions(): SessionView[] {
    return this.sessionList.map((s) => this.view(s));
  }

  async sessionsAsync(): Promise<SessionView[]> {
    return this.sessions();
  }

  session(id: number): SessionView | undefined {
    const s = this.sessionList.find((x) => x.id === id);
    return s && this.view(s);
  }

  private sessionById(id: number): MemorySession {
    return this.sessionList.find((s) => s.id === id)!;
  }

  startSession(label?: string): SessionView {
    this.sessionById(this.current).endedAt = new Date().toISOString();
    this.current = this.newSession('user', label ?? null).id;
    return this.session(this.current)!;
  }

  stopSession(): SessionView {
    if (this.current === this.upSession) throw new Error('no user session is recording');
    const ended = this.sessionById(this.current);
    ended.endedAt = new Date().toISOString();
    this.sessionById(this.upSession).endedAt = null;
    this.current = this.upSession;
    return this.view(ended);
  }

  async deleteSessionAsync(id: number): Promise<void> {
    this.deleteSession(id);
  }

  deleteSession(id: number): void {
    checkDeletable(id, this.current, this.upSession);
    const i = this.sessionList.findIndex((s) => s.id === id);
    if (i < 0) throw new Error(`no session ${id}`);
    const imported = this.sessionList[i]!.kind === 'import';
    const gone = this.flows.filter((f) => f.sessionId === id);
    for (const f of gone) this.byId.delete(f.id);
    this.flows = this.flows.filter((f) => f.sessionId !== id);
    if (!imported) this.captured -= gone.length;
    this.sessionList.splice(i, 1);
    this.totalsChanged();
  }

  importSession(label: string, flows: FlowRecord[], digest?: string): SessionView {
    const s = this.newSession('import', label, spanOf(flows));
    if (digest !== undefined) s.digest = digest;
    const ids = freshIds(flows, s.id, (x) => this.byId.has(x));
    flows.forEach((f, i) => {
      const copy = { ...f, id: ids[i]!, sessionId: s.id };
      this.flows.push(copy);
      this.byId.set(copy.id, copy);
    });
    this.totalsChanged();
    return this.view(s);
  }

  findImport(digest: string): SessionView | undefined {
    const s = this.sessionList.findLast((x) => x.kind === 'import' && x.digest === digest);
    return s === undefined ? undefined : this.view(s);
  }

  graph(q: { since: string; until: string; session?: number }) {
    return buildGraph(
      this.flows.filter((f) => matchesQuery(f, q)),
      windowSec(q)
    );
  }

  metricsSeries(q: { service: string; since: string; until: string; stepSec: number }): MetricsPoint[] {
    return buildMetricsSeries(
      this.flows.filter((f) => matchesQuery(f, { service: q.service, since: q.since, until: q.until })),
      q
    );
  }

  flush(): void {}

  close(): void {
    clearTimeout(this.totalsTimer);
    this.totalsTimer = undefined;
  }
}
