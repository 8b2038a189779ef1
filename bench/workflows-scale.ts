/**
 * Scale-out benchmark of workflow runs on the PostgreSQL state store: how
 * much faster three `opsbox worker` processes finish a queue of runs than
 * one (goal: at least 2x, with steps that sleep 100 ms).
 *
 * One process run starts a throwaway PostgreSQL 15 cluster on loopback and
 * measures two setups, each on a fresh database:
 *
 * 1. R runs of a one-step workflow (`sleep 0.1`) are dispatched at once
 *    through an in-process `WorkflowEngine`, which queues them.
 * 2. One (then three) `opsbox worker --concurrency C` child processes start.
 *    The clock runs from their spawn until the store shows no queued or
 *    running run, polled every 50 ms. Worker start-up (node, the CLI's
 *    modules and pg-boss) is inside that time, so the benchmark also prints
 *    the span from the first run's start to the last run's finish.
 * 3. The workers get SIGTERM and the benchmark waits for them to exit.
 *
 * The two setups alternate for a number of rounds, so that load from other
 * processes on the machine hits both alike, and the ratio uses medians.
 *
 * For each setup it prints the time, runs/s and the p50 queue wait
 * (created_at to started_at). It also prints the maximum number of steps
 * that each worker executed at once (from the steps' timestamps), the CPU
 * time of the workers and of PostgreSQL, and how busy the machine's CPUs
 * were (from /proc/stat, so other processes count). Then it prints the
 * ratio one/three.
 *
 * C defaults to 1. A 100 ms sleep costs no CPU, but each run costs about
 * 45 ms of CPU (43 to 52 ms measured) in the worker, its step launcher,
 * bash and PostgreSQL. All workers, the PostgreSQL server and this process
 * share one machine, which had 2 cores where this was written. A run takes
 * about 150 ms from claim to finish, so three workers at C = 1 ask for
 * about 20 runs/s, or 0.9 cores. At C = 2 they would ask for about 40
 * runs/s, or 1.8 cores, and at C = 4 for more than the machine has. The
 * ratio would then measure the machine's CPU limit rather than horizontal
 * scale, which workers on separate machines do not share. The CPU lines
 * show how close each setup came to that limit, other processes included.
 *
 * The "steps at once" figure shows the parallelism each worker reached,
 * which must not exceed C.
 *
 * R defaults to 360. Each worker needs about 1 s of CPU to start, so with
 * 120 runs the start-up of three workers took a third to a half of their
 * time, and the ratio measured start-up more than running steps.
 *
 * Environment: BENCH_RUNS (R, default 360), BENCH_CONCURRENCY (C, default
 * 1), BENCH_ROUNDS (default 2).
 * Run with `npm run build && node dist/bench/workflows-scale.js`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';

import { Context } from '../src/core/context.js';
import { loadWorkflowFile } from '../src/workflows/catalog.js';
import { WorkflowEngine } from '../src/workflows/engine.js';
import { startCluster, type TestCluster } from '../test/postgres/cluster.js';
import { BIN, median } from './common.js';

const RUNS = positiveInteger('BENCH_RUNS', 360);
const CONCURRENCY = positiveInteger('BENCH_CONCURRENCY', 1);
const ROUNDS = positiveInteger('BENCH_ROUNDS', 2);
const STEP_SECONDS = 0.1;
/** Maximum wait for one setup's runs to finish before the benchmark gives up. */
const FINISH_TIMEOUT_MS = 300_000;

/** Worker processes that have not exited yet, stopped by the signal handler too. */
const liveWorkers = new Set<ChildProcess>();

const WORKFLOW = `on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: sleep ${STEP_SECONDS}\n`;

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  stderr: () => string;
}

interface RunTimes {
  status: string;
  owner: string | null;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  /** When the run's one step started and finished executing. */
  stepStartedAt: number;
  stepFinishedAt: number;
}

interface SetupResult {
  workers: number;
  seconds: number;
  /** Seconds from spawning the workers until the last one printed its start line. */
  readySeconds: number;
  runs: RunTimes[];
  /** Fraction of the machine's CPU time that was busy, from /proc/stat (other processes count). */
  cpuBusy: number;
  /** CPU seconds of the worker processes and their children (launcher, bash steps), start-up included. */
  workerCpu: number;
  /** CPU seconds of the worker processes when the last one printed its start line. */
  startupCpu: number;
  /** CPU seconds of the PostgreSQL server's processes. */
  postgresCpu: number;
  loadAverage: string;
}

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`Invalid ${name} "${text}": use a whole number of 1 or more.`);
  return value;
}

/** Reads the machine's busy and total CPU time in clock ticks, summed over all CPUs. */
function cpuTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
  const ticks = fields.map(Number);
  const idle = ticks[3]! + ticks[4]!;
  const total = ticks.reduce((sum, value) => sum + value, 0);
  return { busy: total - idle, total };
}

/** Clock ticks per second of the times in /proc/PID/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * Returns the CPU seconds of a process and its descendants: user and system
 * time of each live process plus that of its children that already exited
 * and were reaped. A process that exits loses its figures, so read this
 * before stopping the tree.
 */
function treeCpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after the command name, which may contain spaces: utime is field 14, cstime field 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = fields.slice(11, 15).reduce((sum, value) => sum + Number(value), 0);
  return (
    ticks / TICKS_PER_SECOND + childPids(pid).reduce((sum, child) => sum + treeCpuSeconds(child), 0)
  );
}

function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .split(' ')
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return [];
  }
}

/** Reads the postmaster's process id from the first line of postmaster.pid. */
function postmasterPid(cluster: TestCluster): number {
  return Number(readFileSync(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Queues RUNS runs of the one-step workflow through the engine, as `opsbox serve` would. */
async function dispatchRuns(dir: string, databaseUrl: string): Promise<void> {
  // The Context reads OPSBOX_DATABASE_URL when it first opens the store.
  process.env.OPSBOX_DATABASE_URL = databaseUrl;
  const context = new Context({ dataDir: path.join(dir, 'dispatch') });
  const file = path.join(dir, 'sleep.yml');
  writeFileSync(file, WORKFLOW);
  const workflow = await loadWorkflowFile(file);
  const engine = new WorkflowEngine(context);
  if (!engine.queued) throw new Error('The engine did not choose the PostgreSQL queue.');
  try {
    await Promise.all(
      Array.from({ length: RUNS }, () => engine.dispatch(workflow, { event: 'workflow_dispatch' })),
    );
  } finally {
    // Stops this process's pg-boss, so that only the workers poll the queue.
    await engine.stop();
    context.close();
  }
}

/** Spawns `opsbox worker`. Its `ready` promise resolves once it prints its start line. */
function startWorker(dataDir: string, databaseUrl: string): Worker {
  const child = spawn(
    process.execPath,
    [BIN, '--data-dir', dataDir, 'worker', '--concurrency', String(CONCURRENCY)],
    {
      env: { ...process.env, OPSBOX_DATABASE_URL: databaseUrl, OPSBOX_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  liveWorkers.add(child);
  child.once('exit', () => liveWorkers.delete(child));
  let stderr = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('takes runs from PostgreSQL')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`worker exited with ${code}: ${stderr}`)));
  });
  return { child, ready, stderr: () => stderr };
}

/** Sends SIGTERM and waits for the exit, sending SIGKILL after 30 s. */
async function stopWorker(worker: Worker): Promise<void> {
  const { child } = worker;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/** Polls the store until no run is queued or running. */
async function waitUntilFinished(db: pg.Client, workers: Worker[]): Promise<void> {
  const deadline = Date.now() + FINISH_TIMEOUT_MS;
  for (;;) {
    const { rows } = await db.query<{ open: number }>(
      "SELECT count(*)::int AS open FROM workflow_runs WHERE status IN ('queued', 'running')",
    );
    if (rows[0]!.open === 0) return;
    const dead = workers.find((worker) => worker.child.exitCode !== null);
    if (dead) throw new Error(`a worker exited during the benchmark: ${dead.stderr()}`);
    if (Date.now() > deadline)
      throw new Error(`${rows[0]!.open} runs were still open after ${FINISH_TIMEOUT_MS} ms`);
    await sleep(50);
  }
}

async function readRuns(db: pg.Client): Promise<RunTimes[]> {
  const { rows } = await db.query<Record<string, string | null>>(
    `SELECT r.status, r.owner, r.created_at, r.started_at, r.finished_at,
            s.started_at AS step_started_at, s.finished_at AS step_finished_at
       FROM workflow_runs r LEFT JOIN workflow_steps s ON s.run_id = r.id
      ORDER BY r.id`,
  );
  return rows.map((row) => ({
    status: row.status!,
    owner: row.owner,
    createdAt: Date.parse(row.created_at!),
    startedAt: Date.parse(row.started_at ?? ''),
    finishedAt: Date.parse(row.finished_at ?? ''),
    stepStartedAt: Date.parse(row.step_started_at ?? ''),
    stepFinishedAt: Date.parse(row.step_finished_at ?? ''),
  }));
}

/** Dispatches the runs into a fresh database, then times `workerCount` workers draining them. */
async function measure(
  dir: string,
  cluster: TestCluster,
  round: number,
  workerCount: number,
): Promise<SetupResult> {
  const database = `bench_round_${round}_workers_${workerCount}`;
  await cluster.psql(`CREATE DATABASE ${database}`);
  const databaseUrl = cluster.url(database);
  const setupDir = path.join(dir, database);
  mkdirSync(setupDir);
  await dispatchRuns(setupDir, databaseUrl);

  const db = new pg.Client({ connectionString: databaseUrl, options: '-c search_path=opsbox' });
  await db.connect();
  const workers: Worker[] = [];
  try {
    const postgresCpuBefore = treeCpuSeconds(postmasterPid(cluster));
    const cpuBefore = cpuTicks();
    const started = performance.now();
    for (let index = 1; index <= workerCount; index++)
      workers.push(startWorker(path.join(setupDir, `worker-${index}`), databaseUrl));
    await Promise.all(workers.map((worker) => worker.ready));
    const readySeconds = (performance.now() - started) / 1000;
    const startupCpu = workers.reduce((sum, worker) => sum + treeCpuSeconds(worker.child.pid!), 0);
    await waitUntilFinished(db, workers);
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = cpuTicks();
    const workerCpu = workers.reduce((sum, worker) => sum + treeCpuSeconds(worker.child.pid!), 0);
    const postgresCpu = treeCpuSeconds(postmasterPid(cluster)) - postgresCpuBefore;
    const cpuBusy = (cpuAfter.busy - cpuBefore.busy) / (cpuAfter.total - cpuBefore.total);
    const load = loadAverage();
    const runs = await readRuns(db);
    return {
      workers: workerCount,
      seconds,
      readySeconds,
      runs,
      cpuBusy,
      workerCpu,
      startupCpu,
      postgresCpu,
      loadAverage: load,
    };
  } finally {
    await Promise.all(workers.map(stopWorker));
    await db.end();
  }
}

/** Returns the maximum number of these runs' steps that were executing at the same moment. */
function stepsAtOnce(runs: RunTimes[]): number {
  const events = runs.flatMap((run) => [
    { at: run.stepStartedAt, delta: 1 },
    { at: run.stepFinishedAt, delta: -1 },
  ]);
  // A step that ends at the same millisecond another starts does not overlap it.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let current = 0;
  let max = 0;
  for (const event of events) {
    current += event.delta;
    max = Math.max(max, current);
  }
  return max;
}

/** Seconds from the first run's start to the last run's finish, by the store's timestamps. */
function processingSeconds(runs: RunTimes[]): number {
  const first = Math.min(...runs.map((run) => run.startedAt));
  const last = Math.max(...runs.map((run) => run.finishedAt));
  return (last - first) / 1000;
}

function report(result: SetupResult): void {
  const failed = result.runs.filter((run) => run.status !== 'success').length;
  const waits = result.runs.map((run) => run.startedAt - run.createdAt);
  const owners = new Map<string, RunTimes[]>();
  for (const run of result.runs) {
    const owner = run.owner ?? 'none';
    owners.set(owner, [...(owners.get(owner) ?? []), run]);
  }

  const perWorker = [...owners.values()].map(
    (runs) => `${runs.length} runs, at most ${stepsAtOnce(runs)} steps at once`,
  );
  const durations = result.runs.map((run) => run.finishedAt - run.startedAt);
  const spanSeconds = processingSeconds(result.runs);

  console.log(`${result.workers} worker(s) x concurrency ${CONCURRENCY}:`);
  console.log(
    `  ${result.seconds.toFixed(2)} s, ${(RUNS / result.seconds).toFixed(1)} runs/s, ${failed} not successful; workers ready after ${result.readySeconds.toFixed(2)} s`,
  );
  console.log(
    `  first run started to last run finished: ${spanSeconds.toFixed(2)} s (${(RUNS / spanSeconds).toFixed(1)} runs/s)`,
  );
  console.log(
    `  queue wait p50 ${(percentile(waits, 50) / 1000).toFixed(2)} s; run p50 ${median(durations).toFixed(0)} ms (started to finished)`,
  );
  console.log(`  per worker: ${perWorker.join('; ')}`);
  const perRunMs = ((result.workerCpu - result.startupCpu + result.postgresCpu) / RUNS) * 1000;
  console.log(
    `  CPU: workers ${result.workerCpu.toFixed(1)} s (${result.startupCpu.toFixed(1)} s of it until ready), PostgreSQL ${result.postgresCpu.toFixed(1)} s; about ${perRunMs.toFixed(0)} ms a run after start-up`,
  );
  console.log(
    `  CPU busy ${(result.cpuBusy * 100).toFixed(0)}% of all cores; load average ${result.loadAverage}`,
  );
}

/** Prints the ratio of the median times, one worker over three, from spawn and by the store's timestamps. */
function printRatio(oneWorker: SetupResult[], threeWorkers: SetupResult[]): void {
  const spawnRatio =
    median(oneWorker.map((result) => result.seconds)) /
    median(threeWorkers.map((result) => result.seconds));
  const spanRatio =
    median(oneWorker.map((result) => processingSeconds(result.runs))) /
    median(threeWorkers.map((result) => processingSeconds(result.runs)));
  const verdict = spawnRatio >= 2 ? 'met' : 'not met';
  console.log(
    `ratio one/three workers, medians of ${ROUNDS} round(s): ${spawnRatio.toFixed(2)}x from worker spawn (goal >= 2x: ${verdict}); ${spanRatio.toFixed(2)}x from first start to last finish`,
  );
}

async function main(): Promise<void> {
  process.env.OPSBOX_SECRET_KEY = randomBytes(32).toString('hex');
  const dir = mkdtempSync(path.join(tmpdir(), 'opsbox-bench-scale-'));
  let cluster: TestCluster | undefined;
  // Ctrl+C or a kill must not leave the cluster or workers running, and `finally` does not run on a signal.
  const onSignal = (signal: NodeJS.Signals) => {
    for (const child of liveWorkers) child.kill('SIGTERM');
    void (cluster?.stop() ?? Promise.resolve()).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(128 + constants.signals[signal]);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    cluster = await startCluster(dir, 'pg');
    console.log(
      `${RUNS} runs of one \`sleep ${STEP_SECONDS}\` step, dispatched at once; load average ${loadAverage()}`,
    );
    const oneWorker: SetupResult[] = [];
    const threeWorkers: SetupResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      oneWorker.push(await measure(dir, cluster, round, 1));
      report(oneWorker.at(-1)!);
      threeWorkers.push(await measure(dir, cluster, round, 3));
      report(threeWorkers.at(-1)!);
    }
    printRatio(oneWorker, threeWorkers);
  } finally {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
