// Types of sqlite-driver.mjs: the part of better-sqlite3's API the flow store uses, which both drivers provide.

export type SqliteDriverName = 'better-sqlite3' | 'node:sqlite';

/** A driver that loaded: its name, and for better-sqlite3 the module file (the writer thread loads the same one). */
export interface SqliteDriver {
  name: SqliteDriverName;
  module?: string;
}

export interface SqlStatement {
  run(...params: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

export interface SqlDatabase {
  prepare(sql: string): SqlStatement;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  close(): unknown;
}

export const DRIVERS: readonly SqliteDriverName[];
export function findSqlite(choice?: string): { driver: SqliteDriver } | { reasons: string[] };
export function openDatabase(driver: SqliteDriver, file: string): SqlDatabase;
