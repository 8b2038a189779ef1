import Database from 'better-sqlite3';

import { UserError, errorMessage } from '../core/errors.js';

export interface OpenOptions {
  readonly?: boolean;
  /** Enforce foreign keys (D1 does; the sqlite3 shell does not by default). */
  foreignKeys?: boolean;
  /** Milliseconds to wait for another process's lock before failing. */
  busyTimeoutMs?: number;
}

/**
 * Opens a managed database file. Managed databases keep SQLite's default
 * rollback journal rather than WAL: a backup restore replaces the file by a
 * rename, which is only safe when no -wal file can hold newer pages.
 */
export function openDatabaseFile(file: string, options: OpenOptions = {}): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: true });
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    db.pragma(`foreign_keys = ${options.foreignKeys ? 'ON' : 'OFF'}`);
    db.defaultSafeIntegers(true);
  } catch (error) {
    throw translateSqliteError(error, file);
  }
  return db;
}

/** Turns SQLite's failures to open or lock a file into user errors. */
export function translateSqliteError(error: unknown, file: string): unknown {
  const code = (error as { code?: string }).code ?? '';
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new UserError('busy', `Database file ${file} is locked by another writer (${code}). Retry when the other process finishes.`, { code: 'DATABASE_LOCKED', cause: error });
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new UserError('invalid', `File ${file} is not a valid SQLite database (${code}).`, { code: 'NOT_A_DATABASE', cause: error });
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'SQLITE_FULL' || code === 'SQLITE_IOERR') {
    return new UserError('unavailable', `Cannot use database file ${file}: ${errorMessage(error)} (${code}).`, { code, cause: error });
  }
  return error;
}
