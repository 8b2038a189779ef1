import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/…). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(ROOT, 'bin', 'opsbox.js');
/** Sample data sets (Chinook, Northwind, Sakila, Pagila) beside the repository. */
export const SHARED_DATA = path.resolve(ROOT, '..', 'shared', 'data');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  dataDir?: string;
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** Runs the real CLI in a child process and returns its exit code and output. */
export function runCli(args: string[], options: CliOptions = {}): CliResult {
  const fullArgs = options.dataDir ? ['--data-dir', options.dataDir, ...args] : args;
  const result = spawnSync(process.execPath, [BIN, ...fullArgs], {
    input: options.input ?? '',
    env: { ...process.env, OPSBOX_LOG_LEVEL: 'warn', ...options.env },
    cwd: options.cwd ?? ROOT,
    maxBuffer: 512 * 1024 * 1024,
  });
  return {
    code: result.status ?? -1,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
  };
}

/** Like runCli but does not block the event loop, for tests that also serve HTTP. */
export function runCliAsync(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const fullArgs = options.dataDir ? ['--data-dir', options.dataDir, ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...fullArgs], {
      env: { ...process.env, OPSBOX_LOG_LEVEL: 'warn', ...options.env },
      cwd: options.cwd ?? ROOT,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
      }),
    );
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Creates a temp folder for one test file. It is removed when the test
 * process exits with success (or by `cleanup(true)`), so a failure leaves
 * the evidence in place.
 */
export function tempDir(prefix: string): { dir: string; cleanup(passed: boolean): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `opsbox-${prefix}-`));
  let done = false;
  const cleanup = (passed: boolean) => {
    if (done) return;
    done = true;
    if (passed) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`kept test files in ${dir}\n`);
  };
  process.on('exit', () => cleanup(!process.exitCode));
  return { dir, cleanup };
}
