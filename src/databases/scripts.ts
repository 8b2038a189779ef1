import { readFileSync } from 'node:fs';

import type Database from 'better-sqlite3';

import { UserError, errorMessage } from '../core/errors.js';
import {
  executeStatements,
  type ExecuteOptions,
  type QueryStatement,
  type StatementResult,
} from './execute.js';
import { splitStatements } from './script.js';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Reads a SQL script and rejects what is not one: a SQLite database file
 * (a common mix-up with `import`), binary data, or text that is not UTF-8.
 * A UTF-8 byte order mark is dropped and CRLF line ends become LF.
 */
export function readScriptFile(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : errorMessage(error);
    throw new UserError(
      code === 'ENOENT' ? 'not_found' : 'invalid',
      `Cannot read SQL file ${file}: ${reason}.`,
      { code: 'SCRIPT_UNREADABLE', cause: error },
    );
  }
  if (bytes.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER)) {
    throw new UserError(
      'invalid',
      `${file} is a SQLite database file, not a SQL script. Restore it with \`opsbox db backup restore NAME --from-file ${file}\`.`,
      { code: 'SCRIPT_IS_DATABASE' },
    );
  }
  const nul = bytes.indexOf(0);
  if (nul !== -1) {
    throw new UserError(
      'invalid',
      `${file} is not a text file (a zero byte at offset ${nul}). Pass a SQL script in UTF-8.`,
      { code: 'SCRIPT_NOT_TEXT' },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(
      'invalid',
      `${file} is not valid UTF-8 (at byte ${firstInvalidUtf8(bytes)}). Convert it, for example with \`iconv -f latin1 -t utf-8\`.`,
      { code: 'SCRIPT_NOT_UTF8' },
    );
  }
  return normalizeLineEndings(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
}

/**
 * Replaces each CRLF with LF, as the sqlite3 shell does when it reads input
 * line by line (observed with sqlite3 3.40.1 on Linux). A string literal that
 * spans CRLF lines is then stored with `\n` alone, as with `sqlite3 db < file`.
 */
export function normalizeLineEndings(script: string): string {
  if (!script.includes('\r')) return script;
  const text = script.replace(/\r\n/g, '\n');
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

/** Splits a script and runs it as one transaction; a failure leaves the database as it was. */
export function runScript(
  db: Database.Database,
  script: string,
  options: ExecuteOptions & { onProgress?(offset: number, total: number): void } = {},
): StatementResult[] {
  const statements: (QueryStatement & { end: number })[] = [...splitStatements(script)];
  if (statements.length === 0) return [];
  const total = script.length;
  const onStatement = options.onProgress
    ? (index: number) => options.onProgress!(statements[index]!.end, total)
    : undefined;
  // executeStatements leaves a single statement unwrapped: it is atomic by
  // itself, and VACUUM or PRAGMA journal_mode cannot run in a transaction.
  return executeStatements(db, statements, { mode: 'script', ...options, onStatement });
}

/** Returns the offset of the first byte that starts an invalid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    const length =
      lead < 0x80
        ? 1
        : lead >= 0xc2 && lead < 0xe0
          ? 2
          : lead >= 0xe0 && lead < 0xf0
            ? 3
            : lead >= 0xf0 && lead < 0xf5
              ? 4
              : 0;
    if (length === 0 || i + length > bytes.length) return i;
    for (let k = 1; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += length;
  }
  return i;
}
