import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** The repository root (benchmarks run from dist/bench/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin', 'opsbox.js');
export const SHARED_DATA = path.resolve(ROOT, '..', 'shared', 'data');

/** Runs a command and returns its wall time in milliseconds; fails loudly on a non-zero exit. */
export function timeCommand(
  command: string,
  args: string[],
  options: SpawnSyncOptions = {},
): number {
  const started = performance.now();
  const result = spawnSync(command, args, {
    stdio: ['pipe', 'ignore', 'pipe'],
    maxBuffer: 1 << 30,
    ...options,
  });
  const elapsed = performance.now() - started;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr?.toString()}`);
  return elapsed;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Alternates runs of the candidate and the baseline so that machine noise
 * hits both alike, and returns both medians.
 */
export function compare(
  runs: number,
  candidate: () => number,
  baseline: () => number,
): { candidate: number; baseline: number; ratio: number } {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(candidate());
    b.push(baseline());
  }
  const result = { candidate: median(a), baseline: median(b), ratio: 0 };
  result.ratio = result.candidate / result.baseline;
  return result;
}

/** Peak resident memory (VmHWM) of a process in MiB, from /proc. */
export function peakMemoryMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib / 1024;
}

export function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}
