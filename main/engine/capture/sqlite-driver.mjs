// Which SQLite the flow store runs on. better-sqlite3 first (the CLI, `localmesh up`, the tests): a native module
// built for the Node that installed it. Where it cannot load -- the desktop app's engine host, which runs Electron's
// newer Node from an esbuild bundle with no node_modules -- Node's own `node:sqlite` (Node 22.13+/24, so every
// Electron localmesh supports), behind the same small interface. Plain JavaScript, like flow-writer.mjs, because the
// writer thread loads it without a TypeScript loader; its types are in sqlite-driver.d.mts.
//
// LOCALMESH_SQLITE=better-sqlite3 | node:sqlite | none picks one (tests run the store suite on each; `none` keeps
// flows in memory).
import { createRequire } from 'node:module';

export const DRIVERS = /** @type {const} */ (['better-sqlite3', 'node:sqlite']);

/**
 * The first driver that loads, in the order LOCALMESH_SQLITE or the default gives, or why none does.
 * @param {string | undefined} [choice] a driver name, `none`, or undefined for the default order
 * @returns {{ driver: import('./sqlite-driver.d.mts').SqliteDriver } | { reasons: string[] }}
 */
export function findSqlite(choice = process.env.LOCALMESH_SQLITE || undefined) {
  if (choice === 'none') return { reasons: ['LOCALMESH_SQLITE=none'] };
  if (choice !== undefined && !DRIVERS.includes(/** @type {never} */ (choice))) {
    return { reasons: [`LOCALMESH_SQLITE=${choice} is not one of ${DRIVERS.join(', ')}, none`] };
  }
  const reasons = [];
  for (const name of choice ? [choice] : DRIVERS) {
    try {
      if (name === 'better-sqlite3') {
        const require = createRequire(import.meta.url);
        // better-sqlite3 loads its native addon on the first open: an ABI mismatch throws there, not at require
        const Database = require('better-sqlite3');
        new Database(':memory:').close();
        return { driver: { name, module: require.resolve('better-sqlite3') } };
      }
      if (nodeSqlite() === undefined) throw new Error(`this Node (${process.version}) has no node:sqlite`);
      return { driver: { name: 'node:sqlite' } };
    } catch (e) {
      reasons.push(`${name}: ${/** @type {Error} */ (e).message.split('\n')[0]}`);
    }
  }
  return { reasons };
}

/**
 * Open (creating) a database file with a driver found by findSqlite.
 * @param {import('./sqlite-driver.d.mts').SqliteDriver} driver
 * @param {string} file
 * @returns {import('./sqlite-driver.d.mts').SqlDatabase}
 */
export function openDatabase(driver, file) {
  if (driver.name === 'better-sqlite3') {
    const Database = createRequire(import.meta.url)(driver.module ?? 'better-sqlite3');
    return new Database(file);
  }
  const sqlite = nodeSqlite();
  if (!sqlite) throw new Error(`this Node (${process.version}) has no node:sqlite`);
  return new NodeSqliteDatabase(new sqlite.DatabaseSync(file));
}

/** node:sqlite when this Node has it (without the module loader's experimental warning on every import). */
function nodeSqlite() {
  const get = /** @type {{ getBuiltinModule?: (id: string) => any }} */ (process).getBuiltinModule;
  if (!get) return undefined;
  const emit = process.emitWarning;
  // node:sqlite warns once that it is experimental; the store says which driver it runs on instead
  process.emitWarning = (/** @type {string | Error} */ w, /** @type {any[]} */ ...rest) => {
    if (!String(typeof w === 'string' ? w : w.message).includes('SQLite'))
      emit.call(process, /** @type {string} */ (w), ...rest);
  };
  try {
    return get('node:sqlite');
  } catch {
    return undefined;
  } finally {
    process.emitWarning = emit;
  }
}

/** better-sqlite3 binds an array argument's elements as the anonymous parameters; node:sqlite takes them spread. */
const params = (/** @type {unknown[]} */ p) => (p.length === 1 && Array.isArray(p[0]) ? p[0] : p);

/** A node:sqlite statement with better-sqlite3's method names. */
class NodeSqliteStatement {
  /** @param {any} s a StatementSync */
  constructor(s) {
    this.s = s;
  }
  /** @param {...unknown} p */
  run(...p) {
    return this.s.run(...params(p));
  }
  /** @param {...unknown} p */
  get(...p) {
    return this.s.get(...params(p));
  }
  /** @param {...unknown} p */
  all(...p) {
    return this.s.all(...params(p));
  }
  /** @param {...unknown} p */
  iterate(...p) {
    return this.s.iterate(...params(p));
  }
}

/** A node:sqlite DatabaseSync with the part of better-sqlite3's Database the store uses. */
class NodeSqliteDatabase {
  /** @param {any} db a DatabaseSync */
  constructor(db) {
    this.db = db;
    /** transactions open in this connection: nested ones are savepoints, as in better-sqlite3 */
    this.depth = 0;
  }
  /** @param {string} sql */
  prepare(sql) {
    return new NodeSqliteStatement(this.db.prepare(sql));
  }
  /** @param {string} sql */
  exec(sql) {
    this.db.exec(sql);
    return this;
  }
  /**
   * `PRAGMA <source>`: its rows, or with `simple` the first column of the first row.
   * @param {string} source
   * @param {{ simple?: boolean }} [options]
   */
  pragma(source, options = {}) {
    const rows = this.db.prepare(`PRAGMA ${source}`).all();
    return options.simple ? (rows[0] === undefined ? undefined : Object.values(rows[0])[0]) : rows;
  }
  /**
   * A function that runs `fn` in a transaction (a savepoint when one is already open): committed when it returns,
   * rolled back when it throws.
   * @template {(...args: any[]) => any} F
   * @param {F} fn
   * @returns {F}
   */
  transaction(fn) {
    const self = this;
    return /** @type {F} */ (
      function (/** @type {any[]} */ ...args) {
        const name = `lm_tx_${self.depth}`;
        const nested = self.depth > 0;
        self.db.exec(nested ? `SAVEPOINT ${name}` : 'BEGIN');
        self.depth++;
        try {
          const result = fn(...args);
          self.db.exec(nested ? `RELEASE ${name}` : 'COMMIT');
          return result;
        } catch (e) {
          self.db.exec(nested ? `ROLLBACK TO ${name}; RELEASE ${name}` : 'ROLLBACK');
          throw e;
        } finally {
          self.depth--;
        }
      }
    );
  }
  close() {
    this.db.close();
  }
}
