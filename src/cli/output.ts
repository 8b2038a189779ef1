import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

import type TableType from 'cli-table3';
import pc from 'picocolors';

import { UserError } from '../core/errors.js';
import { stringifyJson } from '../core/json.js';
import type { Logger } from '../core/logger.js';

/** Prints a value as JSON on stdout; big integers keep every digit. */
export function printJson(value: unknown): void {
  process.stdout.write(stringifyJson(value, 2) + '\n');
}

/** Prints rows as a table with the given columns; an empty list prints a note. */
export function printTable(columns: string[], rows: unknown[][], emptyNote = 'No rows.'): void {
  if (rows.length === 0) {
    process.stdout.write(pc.dim(emptyNote) + '\n');
    return;
  }
  // cli-table3 is loaded on first use; JSON output never needs it.
  const Table = createRequire(import.meta.url)('cli-table3') as typeof TableType;
  const table = new Table({
    head: columns,
    style: { head: process.stdout.isTTY ? ['cyan'] : [], border: [] },
  });
  for (const row of rows) table.push(row.map(formatCell));
  process.stdout.write(table.toString() + '\n');
}

/**
 * Prints rows the way the sqlite3 shell's list mode does: values separated
 * by `|`, NULL as an empty string, no header. Used when stdout is not a
 * terminal, where drawing tables would cost more than the query.
 */
export function printList(rows: unknown[][]): void {
  const lines = rows.map((row) =>
    row.map((value) => (value === null ? '' : formatCell(value))).join('|'),
  );
  if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
}

export function formatCell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof Uint8Array) return `<blob ${value.byteLength} bytes>`;
  // Query results carry BLOBs as arrays of byte values, printed as SQL literals.
  if (Array.isArray(value) && value.every((byte) => typeof byte === 'number'))
    return `X'${Buffer.from(value).toString('hex')}'`;
  if (typeof value === 'object') return stringifyJson(value);
  return String(value);
}

export function info(message: string): void {
  process.stderr.write(message + '\n');
}

/** Formats a byte count with binary units: 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Asks a yes/no question on the terminal. Without a terminal there is nobody
 * to answer, so the command fails and names the flag that skips the question.
 */
export async function confirm(
  question: string,
  options: { yes?: boolean; flag?: string } = {},
): Promise<void> {
  if (options.yes) return;
  const flag = options.flag ?? '--yes';
  if (!process.stdin.isTTY) {
    throw new UserError(
      'usage',
      `${question} Refusing without a terminal to confirm; pass ${flag} to proceed.`,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) {
    throw new UserError('cancelled', 'Cancelled; nothing was changed.');
  }
}

/** Reads all of stdin as text (for secrets and passwords piped in). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves at the first SIGINT or SIGTERM, logging which one; long-running commands stop cleanly then. */
export function untilStopSignal(logger: Logger, event: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, event);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
