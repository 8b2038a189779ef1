import Database from 'better-sqlite3';

import { UserError, errorMessage } from '../core/errors.js';

/** How long to wait for another process's lock; OPSBOX_BUSY_TIMEOUT_MS overrides it. */
const DEFAULT_BUSY_TIMEOUT_MS = Number(process.env.OPSBOX_BUSY_TIMEOUT_MS ?? 5000);

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
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS}`);
    db.pragma(`foreign_keys = ${options.foreignKeys ? 'ON' : 'OFF'}`);
    db.defaultSafeIntegers(true);
  } catch (error) {
    throw translateSqliteError(error, file);
  }
  return db;
}

/** Turns SQLite's failures to open or lock a file into user errors. */
export function translateSqliteError(error: unknown, file?: string): unknown {
  const code = (error as { code?: string }).code ?? '';
  const subject = file ? `Database file ${file}` : 'The database';
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new UserError(
      'busy',
      `${subject} is locked by another writer (${code}). Retry when the other process finishes; nothing was changed.`,
      { code: 'DATABASE_LOCKED', cause: error },
    );
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new UserError('invalid', `${subject} is not a valid SQLite database (${code}).`, {
      code: 'NOT_A_DATABASE',
      cause: error,
    });
  }
  if (
    code === 'SQLITE_CANTOPEN' ||
    code === 'SQLITE_READONLY' ||
    code === 'SQLITE_FULL' ||
    code === 'SQLITE_IOERR'
  ) {
    return new UserError(
      'unavailable',
      `${subject} cannot be used: ${errorMessage(error)} (${code}).`,
      { code, cause: error },
    );
  }
  return error;
}
