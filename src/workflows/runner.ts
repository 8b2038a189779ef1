import { mkdir, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';

import type { Context } from '../core/context.js';
import { errorMessage } from '../core/errors.js';
import { Masker } from '../secrets/masker.js';
import { ExpressionScope } from './expressions.js';
import { executeJob, type JobInstance, type JobOutcome, type NeedResult } from './job.js';
import { expandMatrix, matrixJobKey, type MatrixCombination } from './matrix.js';
import { jobNeeds, type LoadedWorkflow } from './parse.js';
import { renderValue, runContexts, testCondition, testFlag, type RunScope } from './run-scope.js';
import { processAlive, type RunRecord, type RunStatus, type RunStore } from './store.js';

export interface RunSettings {
  killGraceMs: number;
  logMaxBytes: number;
  /** How often the store is read for a cancel request from another process. */
  cancelPollMs: number;
}

export interface RunRequest {
  workflow: LoadedWorkflow;
  inputs: Record<string, unknown>;
  vars: Record<string, string>;
  secrets: Map<string, string>;
  workspace: string;
}

/**
 * Executes one run: plans jobs from `needs`, starts each when its needs are
 * done, expands matrices, and records every job and step as it goes. The
 * result is stored before `execute` returns; it never throws for a failing
 * workflow.
 */
export class RunExecution {
  private readonly controller = new AbortController();
  private jobCounter = 0;

  constructor(
    private readonly context: Context,
    private readonly store: RunStore,
    private readonly run: RunRecord,
    private readonly request: RunRequest,
    private readonly settings: RunSettings,
  ) {}

  private interrupted = false;
  /** Set when another process marked the run interrupted while it executed here. */
  private lost = false;

  cancel(): void {
    if (!this.controller.signal.aborted) this.controller.abort('cancelled');
  }

  /** Stops the run because the process is shutting down; it ends as `interrupted`. */
  interrupt(): void {
    this.interrupted = true;
    this.cancel();
  }

  async execute(): Promise<RunRecord> {
    const { context, store, run, request } = this;
    const masker = new Masker(request.secrets.values());
    const tempDir = await createRunFolders(context, run.id, request.workspace);
    const log = await store.openLog(run.id, masker, this.settings.logMaxBytes);
    const logger = context.logger.child({ run: run.id, workflow: run.workflow });
    const scope: RunScope = {
      context,
      logger,
      store,
      run,
      workflow: request.workflow,
      inputs: request.inputs,
      vars: request.vars,
      secrets: request.secrets,
      masker,
      log,
      tempDir,
      workspace: request.workspace,
      killGraceMs: this.settings.killGraceMs,
      signal: this.controller.signal,
      summaries: [],
    };

    logger.info({ event: run.event }, 'workflow:run:start');
    const poll = setInterval(() => {
      store.touchRun(run.id).then(
        (signal) => {
          if (signal === 'lost' && !this.lost) {
            this.lost = true;
            log.write(
              'Stopping: the run was marked interrupted because its heartbeats reached the state store too late.',
            );
          }
          if (signal !== 'continue') this.cancel();
        },
        (error: unknown) => logger.warn({ err: errorMessage(error) }, 'workflow:run:poll-error'),
      );
    }, this.settings.cancelPollMs);
    poll.unref();

    let status: RunStatus = 'success';
    let error: string | undefined;
    let outputs: Record<string, Record<string, string>> = {};
    try {
      const results = await this.executeJobs(scope);
      outputs = Object.fromEntries([...results].map(([jobId, result]) => [jobId, result.outputs]));
      const failed = [...results.values()].some((result) => result.result === 'failure');
      status = this.controller.signal.aborted ? 'cancelled' : failed ? 'failure' : 'success';
    } catch (caught) {
      status = this.controller.signal.aborted ? 'cancelled' : 'failure';
      error = masker.mask(errorMessage(caught));
      log.write(`Error: ${error}`);
      logger.error({ err: masker.mask(errorMessage(caught)) }, 'workflow:run:error');
    } finally {
      clearInterval(poll);
    }
    if (this.interrupted || this.lost) {
      status = 'interrupted';
      // A lost run keeps the reason recorded by the process that marked it.
      error = this.lost ? undefined : 'The process running this run stopped during the run.';
    }
    try {
      log.write(`Run finished: ${status}.`);
      await log.close();
    } finally {
      // Removed off the event loop: a recursive rmSync per run costs more than the run's own bookkeeping.
      await rm(tempDir, { recursive: true, force: true });
    }

    await store.finishRun(run.id, {
      status,
      outputs: masker.maskDeep(outputs),
      summary: masker.mask(scope.summaries.join('\n')),
      error,
    });
    logger.info({ status }, 'workflow:run:finish');
    return await store.getRun(run.id);
  }

  /** Starts each job once all its needs finished; returns every job's result. */
  private async executeJobs(scope: RunScope): Promise<Map<string, NeedResult>> {
    const jobs = scope.workflow.definition.jobs;
    const results = new Map<string, NeedResult>();
    const pending = new Set(Object.keys(jobs));
    const running = new Map<string, Promise<void>>();
    while (pending.size > 0 || running.size > 0) {
      for (const jobId of [...pending]) {
        const needs = jobNeeds(jobs[jobId]!);
        if (!needs.every((need) => results.has(need))) continue;
        pending.delete(jobId);
        const needResults = Object.fromEntries(needs.map((need) => [need, results.get(need)!]));
        // A job that cannot start (a condition or matrix that fails to evaluate) fails alone,
        // so the run still waits for its other jobs before it is finished.
        const started = this.executeJobGroup(scope, jobId, needResults)
          .catch((error: unknown) => this.failJob(scope, jobId, error))
          .then((result) => {
            results.set(jobId, result);
            running.delete(jobId);
          });
        running.set(jobId, started);
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
    return results;
  }

  /** Runs a job, or every combination of its matrix, and combines the results. */
  private async executeJobGroup(
    scope: RunScope,
    jobId: string,
    needs: Record<string, NeedResult>,
  ): Promise<NeedResult> {
    const job = scope.workflow.definition.jobs[jobId]!;
    const where = ['jobs', jobId];
    const flags = {
      failed: Object.values(needs).some((need) => need.result === 'failure'),
      cancelled: scope.signal.aborted,
      blocked: Object.values(needs).some(
        (need) => need.result === 'skipped' || need.result === 'cancelled',
      ),
    };
    const base = { ...runContexts(scope, jobId), needs, env: {} };
    const expressions = new ExpressionScope(base, flags);
    if (!testCondition(scope, expressions, job.if, [...where, 'if'])) {
      await scope.store.saveJob(scope.run.id, {
        key: jobId,
        jobId,
        status: 'skipped',
        matrix: null,
        outputs: null,
        error: null,
        startedAt: null,
        finishedAt: new Date().toISOString(),
      });
      scope.log.write(`Job ${jobId} skipped: its condition is false.`, jobId);
      return { result: 'skipped', outputs: {} };
    }

    const combinations = this.combinations(scope, expressions, jobId);
    const failFast = job.strategy
      ? job.strategy['fail-fast'] === undefined ||
        testFlag(scope, expressions, job.strategy['fail-fast'], [...where, 'strategy', 'fail-fast'])
      : false;
    const maxParallel = job.strategy?.['max-parallel'] ?? combinations.length;
    const group = new AbortController();
    const outcomes: JobOutcome[] = [];
    let next = 0;
    const worker = async () => {
      while (next < combinations.length) {
        const index = next++;
        const matrix = combinations[index];
        const instance: JobInstance = {
          jobId,
          key: matrixJobKey(jobId, matrix),
          index: this.jobCounter++,
          matrix,
          strategy: {
            'fail-fast': failFast,
            'job-index': index,
            'job-total': combinations.length,
            'max-parallel': maxParallel,
          },
          needs,
        };
        const outcome = await executeJob(scope, instance, group.signal);
        outcomes.push(outcome);
        if (outcome.status === 'failure' && failFast) group.abort('cancelled');
      }
    };
    await Promise.all(Array.from({ length: Math.min(maxParallel, combinations.length) }, worker));

    const statuses = outcomes.map((outcome) => outcome.status);
    const result = statuses.includes('failure')
      ? 'failure'
      : statuses.includes('cancelled')
        ? 'cancelled'
        : 'success';
    return { result, outputs: Object.assign({}, ...outcomes.map((outcome) => outcome.outputs)) };
  }

  private async failJob(scope: RunScope, jobId: string, error: unknown): Promise<NeedResult> {
    const message = scope.masker.mask(errorMessage(error));
    const now = new Date().toISOString();
    await scope.store.saveJob(scope.run.id, {
      key: jobId,
      jobId,
      status: 'failure',
      matrix: null,
      outputs: null,
      error: message,
      startedAt: now,
      finishedAt: now,
    });
    scope.log.write(`Error: ${message}`, jobId);
    return { result: 'failure', outputs: {} };
  }

  private combinations(
    scope: RunScope,
    expressions: ExpressionScope,
    jobId: string,
  ): (MatrixCombination | undefined)[] {
    const matrix = scope.workflow.definition.jobs[jobId]!.strategy?.matrix;
    if (matrix === undefined) return [undefined];
    const where = ['jobs', jobId, 'strategy', 'matrix'];
    const resolved =
      typeof matrix === 'string'
        ? renderValue(scope, expressions, matrix, where)
        : renderMatrixValues(scope, expressions, matrix, where);
    const combinations = expandMatrix(resolved as Record<string, unknown>);
    return combinations.length > 0 ? combinations : [undefined];
  }
}

/**
 * Removes the temp folders that runs of a killed process left in the data
 * directory: they hold the rendered scripts, which may contain secrets. A
 * folder stays while its run is running in a live process of this host.
 */
export async function removeStaleRunFolders(context: Context, store: RunStore): Promise<number> {
  const dir = context.dataDir.path('tmp');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const match = /^run-(\d+)$/.exec(name);
    if (!match) continue;
    const run = await store.getRun(Number(match[1])).catch(() => undefined);
    const [host, pid] = (run?.owner ?? '').split(':');
    const live = run?.status === 'running' && host === hostname() && processAlive(Number(pid));
    if (live) continue;
    await rm(path.join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

const createdFolders = new Set<string>();

/**
 * Creates the run's temp folder, and once per process the shared folders
 * (runs, tmp, the workspace), which a recursive mkdir per run would stat again
 * each time. File system calls of the run go through the thread pool, off
 * the event loop that serves every other run.
 */
async function createRunFolders(
  context: Context,
  runId: number,
  workspace: string,
): Promise<string> {
  for (const folder of [context.dataDir.path('runs'), context.dataDir.path('tmp'), workspace]) {
    if (createdFolders.has(folder)) continue;
    await mkdir(folder, { recursive: true, mode: 0o700 });
    createdFolders.add(folder);
  }
  const tempDir = context.dataDir.path('tmp', `run-${runId}`);
  await mkdir(tempDir, { mode: 0o700 });
  return tempDir;
}

function renderMatrixValues(
  scope: RunScope,
  expressions: ExpressionScope,
  matrix: Record<string, unknown>,
  where: string[],
): Record<string, unknown> {
  const resolved: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(matrix)) {
    resolved[key] =
      typeof value === 'string' ? renderValue(scope, expressions, value, [...where, key]) : value;
  }
  return resolved;
}
