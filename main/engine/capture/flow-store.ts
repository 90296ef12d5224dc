/**
 * The flow store: every finished flow in SQLite (better-sqlite3, WAL) in the state dir, so captured traffic
 * survives restarts and crashes. Writes are queued and committed in batches off the request path (every 100 ms),
 * so a crash loses at most the last batch; the schema is versioned with `PRAGMA user_version` and migrated in
 * order. When better-sqlite3 cannot load (an Electron whose ABI it was not built for), the engine keeps flows in
 * memory and says so.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import type { FlowQuery, FlowRecord, GraphEdge, GraphNode, MetricsPoint, SessionView } from '../../contract/api.js';

type Database = import('better-sqlite3').Database;

export interface FlowStore {
  readonly kind: 'sqlite' | 'memory';
  readonly file: string | null;
  /** Queue a finished flow; the store stamps `sessionId` with the current session. */
  append(f: FlowRecord): void;
  /** Newest last; filters per FlowQuery; no bodies. */
  list(q: FlowQuery): FlowRecord[];
  /** One flow with bodies. */
  get(id: string): FlowRecord | undefined;
  /** Delete every flow and every ended session (the current session stays, empty). */
  clear(): void;
  count(): number;
  sessions(): SessionView[];
  session(id: number): SessionView | undefined;
  /** End the current session and start a user session. */
  startSession(label?: string): SessionView;
  /** End the user session; new flows go back to the `up` session. Throws when no user session runs. */
  stopSession(): SessionView;
  /** Delete a session and its flows (not the current one). */
  deleteSession(id: number): void;
  /** A new read-only session holding these flows (HAR import). */
  importSession(label: string, flows: FlowRecord[]): SessionView;
  /** Aggregates for the Graph view over flows in [since, until). */
  graph(q: { since: string; until: string; session?: number }): { nodes: GraphNode[]; edges: GraphEdge[] };
  /** Time series for one service (FQDN) over [since, until) in buckets of stepSec. */
  metricsSeries(q: { service: string; since: string; until: string; stepSec: number }): MetricsPoint[];
  /** Commit what is queued now (tests, shutdown). */
  flush(): void;
  close(): void;
}

export const STORE_DEFAULTS = { maxFlows: 50_000, flushMs: 100 };

/** Ordered migrations: index i moves the schema from version i to i + 1. */
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
   CREATE INDEX flows_request_id ON flows(request_id);`
];

export function openSqliteStore(stateDir: string, opts: Partial<typeof STORE_DEFAULTS> = {}, log: (l: string) => void = () => undefined): FlowStore {
  const o = { ...STORE_DEFAULTS, ...opts };
  let BetterSqlite: typeof import('better-sqlite3');
  try {
    BetterSqlite = createRequire(import.meta.url)('better-sqlite3');
  } catch (e) {
    log(`flow store: SQLite unavailable (${(e as Error).message.split('\n')[0]}); flows are kept in memory only`);
    return memoryStore(2000);
  }
  fs.mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, 'flows.db');
  const db: Database = new BetterSqlite(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  migrate(db);
  const session = Number(db.prepare('INSERT INTO sessions (started_at) VALUES (?)').run(new Date().toISOString()).lastInsertRowid);
  const insert = db.prepare(
    `INSERT OR IGNORE INTO flows (id, session_id, request_id, started_at, reporter, source, destination, destination_service, method, path, status, flags, record, request_body, response_body)
     VALUES (@id, @session, @requestId, @startedAt, @reporter, @source, @destination, @destinationService, @method, @path, @status, @flags, @record, @requestBody, @responseBody)`
  );
  const trim = db.prepare('DELETE FROM flows WHERE seq <= (SELECT seq FROM flows ORDER BY seq DESC LIMIT 1 OFFSET ?)');
  const pending: FlowRecord[] = [];
  let timer: NodeJS.Timeout | undefined;
  const writeBatch = db.transaction((batch: FlowRecord[]) => {
    for (const f of batch) {
      const { requestBody, responseBody, ...rest } = f;
      insert.run({
        id: f.id,
        session,
        requestId: f.requestId,
        startedAt: f.startedAt,
        reporter: f.reporter,
        source: f.source,
        destination: f.destination,
        destinationService: f.destinationService,
        method: f.method,
        path: f.path,
        status: f.status,
        flags: f.flags,
        record: JSON.stringify(rest),
        requestBody: requestBody ? JSON.stringify(requestBody) : null,
        responseBody: responseBody ? JSON.stringify(responseBody) : null
      });
    }
    trim.run(o.maxFlows);
  });
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    writeBatch(pending.splice(0, pending.length));
  };
  const row = (r: { record: string; request_body?: string | null; response_body?: string | null } | undefined, bodies: boolean): FlowRecord | undefined => {
    if (!r) return undefined;
    const f = JSON.parse(r.record) as FlowRecord;
    if (bodies) {
      f.requestBody = r.request_body ? JSON.parse(r.request_body) : null;
      f.responseBody = r.response_body ? JSON.parse(r.response_body) : null;
    }
    return f;
  };
  let closed = false;
  return {
    kind: 'sqlite',
    file,
    append(f) {
      pending.push(f);
      timer ??= setTimeout(flush, o.flushMs);
    },
    list(q) {
      flush();
      const limit = Math.max(1, Math.min(q.limit ?? 100, 10_000));
      const rows = (q.before
        ? db.prepare('SELECT record FROM flows WHERE seq < (SELECT seq FROM flows WHERE id = ?) ORDER BY seq DESC LIMIT ?').all(q.before, limit)
        : db.prepare('SELECT record FROM flows ORDER BY seq DESC LIMIT ?').all(limit)) as { record: string }[];
      return rows.reverse().map((r) => row(r, false)!);
    },
    get(id) {
      flush();
      return row(db.prepare('SELECT record, request_body, response_body FROM flows WHERE id = ?').get(id) as never, true);
    },
    clear() {
      pending.length = 0;
      db.prepare('DELETE FROM flows').run();
    },
    count() {
      flush();
      return (db.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
    },
    flush,
    close() {
      if (closed) return;
      closed = true;
      flush();
      db.prepare('UPDATE sessions SET ended_at = ? WHERE id = ?').run(new Date().toISOString(), session);
      db.close();
    }
  };
}

function migrate(db: Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) throw new Error(`flows.db has schema version ${version}, newer than this localmesh (${MIGRATIONS.length}); use a newer localmesh or another --state-dir`);
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

/** Flows in memory (a ring), when SQLite is not available. */
export function memoryStore(cap: number): FlowStore {
  const flows: FlowRecord[] = [];
  const byId = new Map<string, FlowRecord>();
  return {
    kind: 'memory',
    file: null,
    append(f) {
      flows.push(f);
      byId.set(f.id, f);
      if (flows.length > cap) for (const old of flows.splice(0, flows.length - cap)) byId.delete(old.id);
    },
    list(q) {
      const limit = Math.max(1, Math.min(q.limit ?? 100, cap));
      let end = flows.length;
      if (q.before) {
        const i = flows.findIndex((f) => f.id === q.before);
        if (i >= 0) end = i;
      }
      return flows.slice(Math.max(0, end - limit), end).map(withoutBodies);
    },
    get: (id) => byId.get(id),
    clear() {
      flows.length = 0;
      byId.clear();
    },
    count: () => flows.length,
    flush: () => undefined,
    close: () => undefined
  };
}
