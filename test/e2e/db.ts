import Database from 'better-sqlite3';
import path from 'node:path';

/** Reads the server's SQLite file directly, as an operator with `sqlite3` would. */
export function query<T = any>(home: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path.join(home, 'slipway.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
