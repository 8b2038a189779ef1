import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

import { UserError } from '../core/errors.js';
import {
  connect,
  libpqEnv,
  openTargetTunnel,
  resolveTarget,
  type ConnectionOptions,
  type ConnectionTarget,
} from './connection.js';
import type { Tunnel } from './tunnel.js';
import { locateTool, requireToolForServer, type LocatedTool } from './tools.js';

/** Progress of a dump, restore or copy, counted in tables whose data is done. */
export interface TransferProgress {
  tablesDone: number;
  tablesTotal: number;
  /** The table being processed, as schema.table. */
  current?: string;
}

export type DumpFormat = 'custom' | 'plain' | 'tar';

export interface DumpOptions extends ConnectionOptions {
  /** Destination file; written to a temporary name and renamed when complete. */
  output: string;
  /** pg_dump format; custom (the default) is what pg_restore reads. */
  format?: DumpFormat;
  /** Directory of the pg_dump to use. */
  pgBinDir?: string;
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface DumpResult {
  output: string;
  bytes: number;
  format: DumpFormat;
  tables: number;
  serverVersion: string;
  pgDumpVersion: string;
  durationMs: number;
}

const FORMAT_FLAG: Record<DumpFormat, string> = { custom: 'c', plain: 'p', tar: 't' };

interface ServerFacts {
  versionNum: number;
  version: string;
  tables: number;
}

/** Reads the server version and how many tables pg_dump will copy data for (the progress total). */
async function serverFacts(options: ConnectionOptions): Promise<ServerFacts> {
  const session = await connect(options);
  try {
    const { rows } = await session.client.query(`
      SELECT current_setting('server_version_num')::int AS version_num, current_setting('server_version') AS version,
             (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)')::int AS tables`);
    return { versionNum: rows[0].version_num, version: rows[0].version, tables: rows[0].tables };
  } finally {
    await session.close();
  }
}

/**
 * Dumps one database with pg_dump. The archive appears under its final
 * name only once pg_dump succeeded and the file is synced to disk.
 */
export async function dumpDatabase(options: DumpOptions): Promise<DumpResult> {
  const started = performance.now();
  const format = options.format ?? 'custom';
  const tool = locateTool('pg_dump', { binDir: options.pgBinDir, env: options.env });
  const facts = await serverFacts(options);
  requireToolForServer(tool, 'pg_dump', facts.versionNum, facts.version);

  const output = path.resolve(options.output);
  const partial = path.join(
    path.dirname(output),
    `.${path.basename(output)}.${randomBytes(4).toString('hex')}.partial`,
  );
  const target = resolveTarget(options);
  const tunnel = await openTargetTunnel(options, target);
  try {
    const child = spawn(
      tool.path,
      ['--verbose', `--format=${FORMAT_FLAG[format]}`, `--file=${partial}`, '--no-password'],
      {
        env: childEnv(options, target, tunnel),
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    await runWithProgress(
      child,
      'pg_dump',
      facts.tables,
      /dumping contents of table "?([^"\s]+)"?/,
      options,
      target,
    );
    syncFile(partial);
    renameSync(partial, output);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    await tunnel?.close();
  }
  return {
    output,
    bytes: statSync(output).size,
    format,
    tables: facts.tables,
    serverVersion: facts.version,
    pgDumpVersion: tool.version,
    durationMs: Math.round(performance.now() - started),
  };
}

export interface RestoreOptions extends ConnectionOptions {
  /** A custom or tar format archive written by pg_dump. */
  input: string;
  /** Drop objects before recreating them (pg_restore --clean --if-exists). */
  clean?: boolean;
  /** Skip ownership and privilege commands, for restoring into another cluster's roles. */
  noOwner?: boolean;
  pgBinDir?: string;
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  input: string;
  tables: number;
  database: string;
  durationMs: number;
}

/**
 * Restores an archive with pg_restore in a single transaction, so a
 * failure leaves the target database as it was.
 */
export async function restoreDatabase(options: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  const input = path.resolve(options.input);
  checkArchive(input);
  const tool = locateTool('pg_restore', { binDir: options.pgBinDir, env: options.env });
  const tables = await countArchiveTables(tool, input);
  const facts = await serverFacts(options);
  requireToolForServer(tool, 'pg_restore', facts.versionNum, facts.version);

  const target = resolveTarget(options);
  const tunnel = await openTargetTunnel(options, target);
  try {
    const child = spawn(tool.path, [...restoreArgs(options, target), input], {
      env: childEnv(options, target, tunnel),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await runWithProgress(
      child,
      'pg_restore',
      tables,
      /processing data for table "?([^"\s]+)"?/,
      options,
      target,
    );
  } finally {
    await tunnel?.close();
  }
  return {
    input,
    tables,
    database: target.database,
    durationMs: Math.round(performance.now() - started),
  };
}

function restoreArgs(
  options: { clean?: boolean; noOwner?: boolean },
  target: ConnectionTarget,
): string[] {
  const args = [
    '--verbose',
    '--single-transaction',
    '--exit-on-error',
    '--no-password',
    `--dbname=${target.database}`,
  ];
  if (options.clean) args.push('--clean', '--if-exists');
  if (options.noOwner) args.push('--no-owner', '--no-privileges');
  return args;
}

/** Rejects files pg_restore cannot read, with the command that can. */
function checkArchive(file: string): void {
  let header = Buffer.alloc(0);
  try {
    const fd = openSync(file, 'r');
    header = Buffer.alloc(512);
    const length = readSync(fd, header, 0, 512, 0);
    header = header.subarray(0, length);
    closeSync(fd);
  } catch (error) {
    throw new UserError(
      'not_found',
      `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; check the path.`,
      { code: 'PG_ARCHIVE_MISSING' },
    );
  }
  const custom = header.subarray(0, 5).toString('latin1') === 'PGDMP';
  // A tar archive has "ustar" at offset 257 and pg_dump's toc.dat as its first member.
  const tar = header.subarray(257, 262).toString('latin1') === 'ustar';
  if (!custom && !tar) {
    throw new UserError(
      'invalid',
      `${file} is not a pg_dump custom or tar archive; restore a plain SQL dump with psql -f ${path.basename(file)}.`,
      { code: 'PG_ARCHIVE_INVALID' },
    );
  }
}

async function countArchiveTables(tool: LocatedTool, input: string): Promise<number> {
  const child = spawn(tool.path, ['--list', input], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  child.stdout!.on('data', (chunk) => chunks.push(chunk));
  child.stderr!.on('data', (chunk) => errors.push(chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) {
    const message = Buffer.concat(errors).toString().trim().split('\n').pop() ?? '';
    if (/unsupported version/.test(message)) {
      throw new UserError(
        'unavailable',
        `${input} was written by a newer pg_dump than the local pg_restore ${tool.version}: ${message}; install a newer pg_restore and pass --pg-bin-dir DIR.`,
        { code: 'PG_TOOL_TOO_OLD' },
      );
    }
    throw new UserError('invalid', `pg_restore cannot read ${input}: ${message}.`, {
      code: 'PG_ARCHIVE_INVALID',
    });
  }
  return Buffer.concat(chunks)
    .toString()
    .split('\n')
    .filter((line) => / TABLE DATA /.test(line) && !line.startsWith(';')).length;
}

export interface CopyOptions {
  /** Source and target connections; both accept the same options as other commands. */
  from: ConnectionOptions;
  to: ConnectionOptions;
  clean?: boolean;
  noOwner?: boolean;
  pgBinDir?: string;
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface CopyResult {
  tables: number;
  from: string;
  to: string;
  durationMs: number;
}

/**
 * Copies one database into another by piping pg_dump's custom format into
 * pg_restore, which applies it in a single transaction.
 */
export async function copyDatabase(options: CopyOptions): Promise<CopyResult> {
  const started = performance.now();
  const dumpTool = locateTool('pg_dump', { binDir: options.pgBinDir, env: options.from.env });
  const restoreTool = locateTool('pg_restore', { binDir: options.pgBinDir, env: options.to.env });
  const facts = await serverFacts(options.from);
  requireToolForServer(dumpTool, 'pg_dump', facts.versionNum, facts.version);
  const targetFacts = await serverFacts(options.to);
  requireToolForServer(restoreTool, 'pg_restore', targetFacts.versionNum, targetFacts.version);

  const source = resolveTarget(options.from);
  const target = resolveTarget(options.to);
  if (
    source.host === target.host &&
    source.port === target.port &&
    source.database === target.database
  ) {
    throw new UserError(
      'usage',
      `--from and --to both name ${source.display}; copy into a different database.`,
      { code: 'PG_COPY_SAME' },
    );
  }
  const sourceTunnel = await openTargetTunnel(options.from, source);
  const targetTunnel = await openTargetTunnel(options.to, target).catch(async (error) => {
    await sourceTunnel?.close();
    throw error;
  });
  try {
    const dump = spawn(dumpTool.path, ['--verbose', '--format=c', '--no-password'], {
      env: childEnv(options.from, source, sourceTunnel),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const restore = spawn(restoreTool.path, restoreArgs(options, target), {
      env: childEnv(options.to, target, targetTunnel),
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    dump.stdout!.pipe(restore.stdin!);
    // pg_restore exiting early closes the pipe; pg_dump's own error explains it.
    restore.stdin!.on('error', () => undefined);
    await Promise.all([
      runWithProgress(
        dump,
        'pg_dump',
        facts.tables,
        /dumping contents of table "?([^"\s]+)"?/,
        options,
        source,
      ),
      runWithProgress(
        restore,
        'pg_restore',
        facts.tables,
        /$^/,
        { signal: options.signal },
        target,
      ),
    ]).catch((error) => {
      dump.kill();
      restore.kill();
      throw error;
    });
  } finally {
    await sourceTunnel?.close();
    await targetTunnel?.close();
  }
  return {
    tables: facts.tables,
    from: source.display,
    to: target.display,
    durationMs: Math.round(performance.now() - started),
  };
}

function childEnv(
  options: ConnectionOptions,
  target: ConnectionTarget,
  tunnel?: Tunnel,
): NodeJS.ProcessEnv {
  const base = { ...(options.env ?? process.env) };
  // Drop inherited connection variables so only the resolved target applies.
  for (const key of Object.keys(base))
    if (/^PG(HOST|HOSTADDR|PORT|USER|DATABASE|PASSWORD|SERVICE|SSLMODE|OPTIONS)$/.test(key))
      delete base[key];
  return { ...base, ...libpqEnv(target, tunnel), LC_MESSAGES: 'C' };
}

/**
 * Waits for a pg_dump or pg_restore process, counting tables from its
 * --verbose lines, and turns a failure into one line from its last error.
 */
function runWithProgress(
  child: ChildProcess,
  name: string,
  total: number,
  tablePattern: RegExp,
  options: { onProgress?: (progress: TransferProgress) => void; signal?: AbortSignal },
  target: ConnectionTarget,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const errors: string[] = [];
    let pending = '';
    const onAbort = () => child.kill('SIGTERM');
    options.signal?.addEventListener('abort', onAbort, { once: true });

    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = tablePattern.exec(line);
        if (match) {
          done = Math.min(total, done + 1);
          options.onProgress?.({ tablesDone: done, tablesTotal: total, current: match[1] });
        } else if (/error|fatal|could not|aborting/i.test(line)) {
          errors.push(line.replace(/^\S+: /, ''));
        }
      }
    });
    child.on('error', (error) =>
      reject(
        new UserError('unavailable', `Cannot run ${name}: ${error.message}.`, { cause: error }),
      ),
    );
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (code === 0) {
        options.onProgress?.({ tablesDone: total, tablesTotal: total });
        resolve();
      } else if (options.signal?.aborted) {
        reject(new UserError('cancelled', `${name} was cancelled; nothing was written.`));
      } else {
        const detail =
          errors.find((line) => /error/i.test(line)) ??
          errors[0] ??
          `exited with ${signal ?? `code ${code}`}`;
        reject(toolFailure(name, target, detail.replace(/^error: /i, '')));
      }
    });
  });
}

/**
 * Turns the last error of pg_dump or pg_restore into a UserError. An object
 * that already exists in the target is a conflict with a fix. pg_restore
 * runs with --single-transaction, so the target is left unchanged.
 */
function toolFailure(name: string, target: ConnectionTarget, detail: string): UserError {
  const existing = /ERROR:\s+(.+ already exists)/.exec(detail);
  if (name === 'pg_restore' && existing) {
    return new UserError(
      'conflict',
      `pg_restore failed on ${target.display}: ${existing[1]}, so the database is not empty. ` +
        'Pass --clean to drop the existing objects first, or use a new, empty database; nothing was changed.',
      { code: 'PG_RESTORE_EXISTS' },
    );
  }
  return new UserError('unavailable', `${name} failed on ${target.display}: ${detail}`, {
    code: 'PG_TOOL_FAILED',
  });
}

function syncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
