import { closeSync, fstat, open, openSync, readSync, statSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';

import type { Context } from '../core/context.js';
import type { Masker } from '../secrets/masker.js';
import type { RunLogWriter } from './store.js';

/** One line of a run's log, as stored (one JSON object per line). */
export interface LogLine {
  /** ISO time the line was written. */
  t: string;
  /** Job key, such as `build` or `test (18, linux)`. */
  job?: string;
  /** Step number within the job, from 1. */
  step?: number;
  text: string;
}

const openFile = promisify(open);
const fstatFile = promisify(fstat);

/** Default size limit of one run's log; OPSBOX_RUN_LOG_MAX_BYTES overrides it. */
export const DEFAULT_LOG_MAX_BYTES = 16 * 1024 * 1024;

export function runLogPath(context: Context, runId: number): string {
  return context.dataDir.path('runs', `${runId}.log`);
}

export function logMaxBytes(env = process.env): number {
  const value = Number(env.OPSBOX_RUN_LOG_MAX_BYTES);
  return Number.isInteger(value) && value > 0 ? value : DEFAULT_LOG_MAX_BYTES;
}

/**
 * A run's log with a size limit, masked as lines arrive. Past the limit one
 * note is written and later lines are counted and dropped, so a step that
 * prints without end costs storage up to the limit and no memory.
 */
export abstract class BoundedRunLog implements RunLogWriter {
  private dropped = 0;

  protected constructor(
    private readonly masker: Masker,
    private readonly maxBytes: number,
    private bytes: number,
  ) {}

  /** Stores one serialized line (JSON, without a line break). */
  protected abstract append(line: string): void;
  /** Makes every appended line durable and releases the log. */
  protected abstract finish(): Promise<void>;

  write(text: string, job?: string, step?: number): void {
    if (this.dropped > 0) {
      this.dropped++;
      return;
    }
    const line = serialize(this.masker.mask(text), job, step);
    if (this.bytes + line.length + 1 > this.maxBytes) {
      this.dropped = 1;
      this.append(
        serialize(
          `Log truncated: it reached the limit of ${this.maxBytes} bytes (OPSBOX_RUN_LOG_MAX_BYTES); later lines are dropped.`,
          job,
          step,
        ),
      );
      return;
    }
    this.bytes += line.length + 1;
    this.append(line);
  }

  /** Number of lines dropped past the size limit. */
  get droppedLines(): number {
    return this.dropped;
  }

  async close(): Promise<void> {
    if (this.dropped > 1)
      this.append(serialize(`${this.dropped - 1} more log lines were dropped.`));
    await this.finish();
  }
}

function serialize(text: string, job?: string, step?: number): string {
  return JSON.stringify({ t: new Date().toISOString(), job, step, text } satisfies LogLine);
}

/** The embedded store's run log: one JSON object per line in a file of the data directory. */
export class RunLog extends BoundedRunLog {
  private constructor(
    readonly file: string,
    masker: Masker,
    maxBytes: number,
    private readonly fd: number,
    bytes: number,
  ) {
    super(masker, maxBytes, bytes);
  }

  /** Opens a run's log for appending, off the event loop. */
  static async open(file: string, masker: Masker, maxBytes = logMaxBytes()): Promise<RunLog> {
    // A raw descriptor, not a FileHandle, which would close it when collected.
    const fd = await openFile(file, 'a', 0o600);
    const { size } = await fstatFile(fd);
    return new RunLog(file, masker, maxBytes, fd, size);
  }

  protected append(line: string): void {
    writeSync(this.fd, line + '\n');
  }

  protected async finish(): Promise<void> {
    closeSync(this.fd);
  }
}

/**
 * Reads whole log lines from a byte offset; returns them with the offset
 * after the last complete line, so a follower can poll from there.
 */
export function readLog(file: string, offset = 0): { lines: LogLine[]; offset: number } {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return { lines: [], offset };
  }
  if (size <= offset) return { lines: [], offset };
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(size - offset, 8 * 1024 * 1024));
    const read = readSync(fd, buffer, 0, buffer.length, offset);
    const text = buffer.subarray(0, read).toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return { lines: [], offset };
    const lines = text
      .slice(0, end)
      .split('\n')
      .map((line) => JSON.parse(line) as LogLine);
    return { lines, offset: offset + Buffer.byteLength(text.slice(0, end + 1)) };
  } finally {
    closeSync(fd);
  }
}

/** Formats a log line for a terminal: `job | text`. */
export function formatLogLine(line: LogLine): string {
  return line.job ? `${line.job} | ${line.text}` : line.text;
}
