import { performance } from 'node:perf_hooks';

import type Database from 'better-sqlite3';

import { UserError } from '../core/errors.js';
import { translateSqliteError } from './connection.js';

export interface QueryStatement {
  sql: string;
  params?: unknown[];
  /** Line of the statement in its script, for error messages. */
  line?: number;
}

/** D1's per-statement metadata. */
export interface StatementMeta {
  changes: number;
  last_row_id: number | bigint;
  changed_db: boolean;
  /** Rows returned by a query; SQLite does not expose rows scanned to better-sqlite3. */
  rows_read: number;
  /** Rows changed by the statement (sqlite3_changes), not counting index rows. */
  rows_written: number;
  /** Milliseconds spent in SQLite for this statement. */
  duration: number;
  /** Database size in bytes after the statement. */
  size_after: number;
}

export type Row = Record<string, unknown>;
export interface RawRows {
  columns: string[];
  rows: unknown[][];
}

export interface StatementResult<R = Row[] | RawRows> {
  results: R;
  success: true;
  meta: StatementMeta;
}

export interface ExecuteOptions {
  /** `object` gives D1's `/query` rows, `array` its `/raw` columns and rows. */
  rowMode?: 'object' | 'array';
  /**
   * `script` runs a script's own BEGIN, COMMIT and ROLLBACK (as in `.dump`
   * output) as a savepoint inside the transaction that wraps the whole
   * script, so a ROLLBACK still discards what it should. `api` rejects
   * transaction control, ATTACH, DETACH and VACUUM as D1 does: they would
   * reach files outside the database.
   */
  mode?: 'script' | 'api';
  /** Called after each statement, with its index (for progress bars). */
  onStatement?(index: number, statement: QueryStatement): void;
  /** Receives each result instead of collecting them all in memory. */
  onResult?(result: StatementResult, index: number): void;
}

/** A statement that failed; the batch was rolled back. */
export class StatementError extends UserError {
  constructor(
    readonly index: number,
    readonly line: number | undefined,
    readonly sqliteCode: string,
    readonly sqliteMessage: string,
    cause: unknown,
  ) {
    const where =
      line === undefined ? `statement ${index + 1}` : `line ${line} (statement ${index + 1})`;
    super('sql', `SQL error at ${where}: ${sqliteMessage} [${sqliteCode}]. Nothing was changed.`, {
      code: sqliteCode,
      cause,
    });
  }
}

const TRANSACTION_CONTROL = /^(?:BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i;
const FILE_ACCESS = /^(?:ATTACH|DETACH|VACUUM)\b/i;
const SCRIPT_SAVEPOINT = 'opsbox_script_transaction';

/** Whether a script's own BEGIN is open, as a savepoint inside the wrapping transaction. */
interface ScriptState {
  open: boolean;
}

/**
 * Runs statements in order. More than one statement run as one transaction:
 * if any fails, everything is rolled back and a StatementError names it.
 * Returns the results unless `onResult` consumes them.
 */
export function executeStatements(
  db: Database.Database,
  statements: QueryStatement[],
  options: ExecuteOptions = {},
): StatementResult[] {
  const collected: StatementResult[] = [];
  const wrap = statements.length > 1;
  let sizeNow: () => number;
  try {
    const size = cacheFor(db).size;
    sizeNow = () => Number(size.get());
    if (wrap) db.exec('BEGIN');
  } catch (error) {
    throw translateSqliteError(error);
  }
  const script: ScriptState = { open: false };
  try {
    statements.forEach((statement, index) => {
      const result = runOne(db, statement, index, options, sizeNow, script);
      if (options.onResult) options.onResult(result, index);
      else collected.push(result);
      options.onStatement?.(index, statement);
    });
    // A script that ends inside its own BEGIN loses that part, as in the shell.
    if (script.open) db.exec(`ROLLBACK TO ${SCRIPT_SAVEPOINT}; RELEASE ${SCRIPT_SAVEPOINT}`);
    if (wrap) db.exec('COMMIT');
  } catch (error) {
    if (wrap && db.inTransaction) db.exec('ROLLBACK');
    throw translateSqliteError(error);
  }
  return collected;
}

function runOne(
  db: Database.Database,
  statement: QueryStatement,
  index: number,
  options: ExecuteOptions,
  sizeNow: () => number,
  script: ScriptState,
): StatementResult {
  if (options.mode === 'api') {
    if (TRANSACTION_CONTROL.test(statement.sql)) {
      throw notAuthorized(
        index,
        statement,
        'transaction control statements (BEGIN, COMMIT, ROLLBACK, SAVEPOINT) are not allowed: a batch already runs as one transaction',
      );
    }
    if (FILE_ACCESS.test(statement.sql)) {
      throw notAuthorized(
        index,
        statement,
        'ATTACH, DETACH and VACUUM are not allowed through the API: they reach files outside the database',
      );
    }
  } else if (runScriptTransactionControl(db, statement, index, script)) {
    return emptyResult(options, sizeNow());
  }

  const started = performance.now();
  try {
    const prepared = cachedStatement(db, statement.sql);
    const params = (statement.params ?? []).map(bindValue);
    if (prepared.reader) {
      const rows = readRows(prepared, params, options.rowMode ?? 'object');
      const count = Array.isArray(rows) ? rows.length : rows.rows.length;
      if (prepared.readonly)
        return result(rows, 0, 0, false, count, performance.now() - started, sizeNow());
      // INSERT, UPDATE or DELETE … RETURNING: a reader that also writes.
      const [changes, lastRowId] = cacheFor(db).changes.get() as [number | bigint, number | bigint];
      const written = Number(changes);
      return result(
        rows,
        written,
        toJsonInteger(lastRowId),
        written > 0,
        count,
        performance.now() - started,
        sizeNow(),
      );
    }
    const schemaBefore = prepared.readonly ? 0 : schemaVersion(db);
    const info = prepared.run(...params);
    const changes = Number(info.changes);
    const changed = changes > 0 || (!prepared.readonly && schemaVersion(db) !== schemaBefore);
    return result(
      options.rowMode === 'array' ? { columns: [], rows: [] } : [],
      changes,
      toJsonInteger(info.lastInsertRowid),
      changed,
      0,
      performance.now() - started,
      sizeNow(),
    );
  } catch (error) {
    throw asStatementError(error, index, statement);
  }
}

/**
 * Runs a script's own BEGIN, COMMIT, END or ROLLBACK as a savepoint and
 * returns true. Returns false for every other statement, including SAVEPOINT,
 * RELEASE and ROLLBACK TO, because those work inside the wrapping transaction.
 */
function runScriptTransactionControl(
  db: Database.Database,
  statement: QueryStatement,
  index: number,
  script: ScriptState,
): boolean {
  const keyword = /^(BEGIN|COMMIT|END|ROLLBACK)\b(?!\s+TO\b)(?:\s+TRANSACTION\b)?(?!\s+TO\b)/i
    .exec(statement.sql)?.[1]
    ?.toUpperCase();
  if (!keyword) return false;
  if (keyword === 'BEGIN') {
    if (script.open)
      throw new StatementError(
        index,
        statement.line,
        'SQLITE_ERROR',
        'cannot start a transaction within a transaction',
        undefined,
      );
    db.exec(`SAVEPOINT ${SCRIPT_SAVEPOINT}`);
    script.open = true;
    return true;
  }
  // The shell's input has no transaction open before its first BEGIN; a
  // COMMIT or ROLLBACK then fails there, but .dump-style scripts never do this.
  if (!script.open) {
    const verb = keyword === 'ROLLBACK' ? 'rollback' : 'commit';
    throw new StatementError(
      index,
      statement.line,
      'SQLITE_ERROR',
      `cannot ${verb} - no transaction is active`,
      undefined,
    );
  }
  if (keyword === 'ROLLBACK') db.exec(`ROLLBACK TO ${SCRIPT_SAVEPOINT}`);
  db.exec(`RELEASE ${SCRIPT_SAVEPOINT}`);
  script.open = false;
  return true;
}

function notAuthorized(index: number, statement: QueryStatement, reason: string): StatementError {
  return new StatementError(
    index,
    statement.line,
    'SQLITE_AUTH',
    `not authorized: ${reason}`,
    undefined,
  );
}

function readRows(
  prepared: Database.Statement,
  params: unknown[],
  rowMode: 'object' | 'array',
): Row[] | RawRows {
  // raw() sets a mode on the statement, which the cache shares between calls.
  prepared.raw(rowMode === 'array');
  if (rowMode === 'array') {
    const columns = prepared.columns().map((column) => column.name);
    const rows = prepared.all(...params) as unknown[][];
    for (const row of rows) for (let i = 0; i < row.length; i++) row[i] = toJsonValue(row[i]);
    return { columns, rows };
  }
  const rows = prepared.all(...params) as Row[];
  for (const row of rows) for (const key in row) row[key] = toJsonValue(row[key]);
  return rows;
}

function result(
  results: Row[] | RawRows,
  changes: number,
  lastRowId: number | bigint,
  changed: boolean,
  rowsRead: number,
  duration: number,
  size: number,
): StatementResult {
  return {
    results,
    success: true,
    meta: {
      changes,
      last_row_id: lastRowId,
      changed_db: changed,
      rows_read: rowsRead,
      rows_written: changes,
      duration,
      size_after: size,
    },
  };
}

function emptyResult(options: ExecuteOptions, size: number): StatementResult {
  return result(
    options.rowMode === 'array' ? { columns: [], rows: [] } : [],
    0,
    0,
    false,
    0,
    0,
    size,
  );
}

function schemaVersion(db: Database.Database): number {
  return Number(cacheFor(db).schemaVersion.get());
}

/** Prepared statements kept per connection, so repeated queries skip SQLite's compiler. */
interface ConnectionCache {
  size: Database.Statement;
  changes: Database.Statement;
  schemaVersion: Database.Statement;
  statements: Map<string, Database.Statement>;
}

const STATEMENT_CACHE_SIZE = 200;
const caches = new WeakMap<Database.Database, ConnectionCache>();

function cacheFor(db: Database.Database): ConnectionCache {
  let cache = caches.get(db);
  if (!cache) {
    cache = {
      size: db
        .prepare('SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()')
        .pluck(),
      schemaVersion: db.prepare('PRAGMA schema_version').pluck(),
      changes: db.prepare('SELECT changes(), last_insert_rowid()').raw(true),
      statements: new Map(),
    };
    caches.set(db, cache);
  }
  return cache;
}

function cachedStatement(db: Database.Database, sql: string): Database.Statement {
  const { statements } = cacheFor(db);
  let statement = statements.get(sql);
  if (statement) {
    // Move to the end: the Map's insertion order is the eviction order.
    statements.delete(sql);
  } else {
    statement = db.prepare(sql);
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
  }
  statements.set(sql, statement);
  return statement;
}

/**
 * Converts a SQLite value to its JSON form: integers within ±(2^53 − 1)
 * become numbers, larger ones stay bigints (printed with every digit), and
 * BLOBs become arrays of byte values, as D1 returns them.
 */
export function toJsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return toJsonInteger(value);
  if (value instanceof Uint8Array) return Array.from(value);
  return value;
}

function toJsonInteger(value: number | bigint): number | bigint {
  if (typeof value === 'number') return value;
  return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value;
}

/** Converts a JSON parameter to a value SQLite can bind, as D1 does. */
export function bindValue(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'bigint') return value;
  if (typeof value === 'number')
    return Number.isInteger(value) && Number.isSafeInteger(value) ? BigInt(value) : value;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (
    Array.isArray(value) &&
    value.every((byte) => Number.isInteger(byte) && byte >= 0 && byte <= 255)
  )
    return Buffer.from(value);
  if (value instanceof Uint8Array) return value;
  throw new UserError(
    'invalid',
    `D1_TYPE_ERROR: Type '${value === undefined ? 'undefined' : typeof value}' not supported for value '${JSON.stringify(value)}'. Bind null, a number, a string, a boolean or an array of byte values.`,
    { code: 'D1_TYPE_ERROR' },
  );
}

function asStatementError(error: unknown, index: number, statement: QueryStatement): unknown {
  if (error instanceof UserError) return error;
  const code = (error as { code?: string }).code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    const translated = translateSqliteError(error);
    if (translated instanceof UserError) return translated;
    return new StatementError(index, statement.line, code, (error as Error).message, error);
  }
  if (error instanceof RangeError || error instanceof TypeError) {
    // better-sqlite3 reports parameter count mismatches this way.
    return new StatementError(
      index,
      statement.line,
      'SQLITE_RANGE',
      (error as Error).message,
      error,
    );
  }
  return error;
}
