import { readFileSync } from 'node:fs';

import type Database from 'better-sqlite3';

import { UserError, errorMessage } from '../core/errors.js';
import { executeStatements, type ExecuteOptions, type QueryStatement, type StatementResult } from './execute.js';
import { splitStatements } from './script.js';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Reads a SQL script and rejects what is not one: a SQLite database file
 * (a common mix-up with `import`), binary data, or text that is not UTF-8.
 * A UTF-8 byte order mark is dropped, as the sqlite3 shell does.
 */
export function readScriptFile(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : errorMessage(error);
    throw new UserError(code === 'ENOENT' ? 'not_found' : 'invalid', `Cannot read SQL file ${file}: ${reason}.`, { code: 'SCRIPT_UNREADABLE', cause: error });
  }
  if (bytes.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER)) {
    throw new UserError('invalid', `${file} is a SQLite database file, not a SQL script. Restore it with \`opsbox db backup restore NAME --from-file ${file}\`.`, { code: 'SCRIPT_IS_DATABASE' });
  }
  const nul = bytes.indexOf(0);
  if (nul !== -1) {
    throw new UserError('invalid', `${file} is not a text file (a zero byte at offset ${nul}). Pass a SQL script in UTF-8.`, { code: 'SCRIPT_NOT_TEXT' });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError('invalid', `${file} is not valid UTF-8 (at byte ${firstInvalidUtf8(bytes)}). Convert it, for example with \`iconv -f latin1 -t utf-8\`.`, { code: 'SCRIPT_NOT_UTF8' });
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Splits a script and runs it as one transaction; a failure leaves the database as it was. */
export function runScript(db: Database.Database, script: string, options: ExecuteOptions & { onProgress?(offset: number, total: number): void } = {}): StatementResult[] {
  const statements: (QueryStatement & { end: number })[] = [...splitStatements(script)];
  if (statements.length === 0) return [];
  const total = script.length;
  const onStatement = options.onProgress
    ? (index: number) => options.onProgress!(statements[index]!.end, total)
    : undefined;
  // executeStatements leaves a single statement unwrapped: it is atomic by
  // itself, and VACUUM or PRAGMA journal_mode cannot run in a transaction.
  return executeStatements(db, statements, { transactionControl: 'skip', ...options, onStatement });
}

function firstInvalidUtf8(bytes: Buffer): number {
  let low = 0;
  let high = bytes.length;
  // Binary search for the shortest prefix that fails to decode.
  while (low < high) {
    const mid = (low + high) >>> 1;
    try {
      // Streaming mode tolerates a sequence cut at the end, so only a truly
      // invalid byte inside the prefix throws.
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid + 1), { stream: true });
      low = mid + 1;
    } catch {
      high = mid;
    }
  }
  return low;
}
