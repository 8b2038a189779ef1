/**
 * Workflow engine benchmarks, each printed with a ratio against a baseline
 * measured in the same process:
 *
 * 1. Throughput: 1,000 runs of a one-step workflow dispatched at once, in
 *    runs per second (goal: 200 or more). Baseline: the same number of bare
 *    `bash -e` script spawns with the same parallelism, which is the floor
 *    any shell step pays.
 * 2. Step overhead: a job of 200 `run: true` steps; the p50 and p95 of each
 *    step's recorded duration minus the p50 of a bare spawn (goal: p50 under
 *    20 ms).
 *
 * Run with `npm run build && node dist/bench/workflows.js`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { Context } from '../src/core/context.js';
import { loadWorkflowFile } from '../src/workflows/catalog.js';
import { WorkflowEngine } from '../src/workflows/engine.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const STEPS = Number(process.env.BENCH_STEPS ?? 200);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function spawnScript(script: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', () => resolve(performance.now() - started));
  });
}

/** Spawns `count` bash scripts with at most `parallel` at once; returns each spawn's duration. */
async function bareSpawns(
  dir: string,
  count: number,
  parallel: number,
): Promise<{ seconds: number; durations: number[] }> {
  const script = path.join(dir, 'noop.sh');
  writeFileSync(script, 'true\n');
  const durations: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next++ < count) durations.push(await spawnScript(script));
    }),
  );
  return { seconds: (performance.now() - started) / 1000, durations };
}

async function throughput(dir: string): Promise<void> {
  const context = new Context({ dataDir: path.join(dir, 'throughput') });
  const file = path.join(dir, 'one-step.yml');
  writeFileSync(
    file,
    'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: echo "run ${{ github.run_id }}"\n',
  );
  const workflow = await loadWorkflowFile(file);
  const engine = new WorkflowEngine(context);
  const parallel = Number(process.env.OPSBOX_MAX_PARALLEL_RUNS ?? 16);

  const started = performance.now();
  const dispatched = await Promise.all(
    Array.from({ length: RUNS }, () => engine.dispatch(workflow, { event: 'workflow_dispatch' })),
  );
  const finished = await Promise.all(dispatched.map((run) => run.done));
  const seconds = (performance.now() - started) / 1000;
  const failed = finished.filter((run) => run.status !== 'success').length;
  context.close();

  const baseline = await bareSpawns(dir, RUNS, parallel);
  const opsboxRate = RUNS / seconds;
  const bareRate = RUNS / baseline.seconds;
  console.log(`throughput: ${RUNS} one-step runs dispatched at once, ${parallel} in parallel`);
  console.log(
    `  opsbox:   ${opsboxRate.toFixed(0)} runs/s (${seconds.toFixed(2)} s, ${failed} not successful; goal >= 200 runs/s)`,
  );
  console.log(
    `  baseline: ${bareRate.toFixed(0)} bare bash spawns/s (${baseline.seconds.toFixed(2)} s)`,
  );
  console.log(
    `  ratio:    opsbox reaches ${((opsboxRate / bareRate) * 100).toFixed(0)}% of the bare spawn rate`,
  );
}

async function stepOverhead(dir: string): Promise<void> {
  const context = new Context({ dataDir: path.join(dir, 'overhead') });
  const file = path.join(dir, 'many-steps.yml');
  writeFileSync(
    file,
    `on: workflow_dispatch\njobs:\n  a:\n    steps:\n${'      - run: "true"\n'.repeat(STEPS)}`,
  );
  const workflow = await loadWorkflowFile(file);
  const engine = new WorkflowEngine(context);
  const { done } = await engine.dispatch(workflow, { event: 'workflow_dispatch' });
  const run = await done;
  const steps = (await engine.store.steps(run.id)).map(
    (step) => Date.parse(step.finishedAt!) - Date.parse(step.startedAt!),
  );
  context.close();

  const baseline = await bareSpawns(dir, STEPS, 1);
  const bare = percentile(baseline.durations, 50);
  const p50 = percentile(steps, 50);
  const p95 = percentile(steps, 95);
  console.log(`step overhead: one job of ${STEPS} \`run: true\` steps (${run.status})`);
  console.log(`  opsbox step:  p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
  console.log(`  baseline:     bare bash spawn p50 ${bare.toFixed(1)} ms`);
  console.log(
    `  overhead:     p50 ${(p50 - bare).toFixed(1)} ms per step above a bare spawn (goal: step p50 < 20 ms); ratio ${(p50 / bare).toFixed(2)}x`,
  );
}

const dir = mkdtempSync(path.join(tmpdir(), 'opsbox-bench-workflows-'));
try {
  await throughput(dir);
  await stepOverhead(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
