import { hostname } from 'node:os';

import type { Statement } from 'better-sqlite3';

import type { Context } from '../core/context.js';
import { UserError } from '../core/errors.js';
import { sqliteStatement } from '../core/state-query.js';
import type { StateDb } from '../core/state.js';
import type { Masker } from '../secrets/masker.js';
import { RunLog, readLog, runLogPath, type LogLine } from './run-log.js';

export type RunStatus = 'queued' | 'running' | 'success' | 'failure' | 'cancelled' | 'interrupted';
export type JobStatus = 'queued' | 'running' | 'success' | 'failure' | 'cancelled' | 'skipped';
export type StepStatus = 'running' | 'success' | 'failure' | 'cancelled' | 'skipped';

export const FINISHED_RUN_STATUSES: RunStatus[] = [
  'success',
  'failure',
  'cancelled',
  'interrupted',
];

export interface RunRecord {
  id: number;
  workflow: string;
  workflowName: string;
  number: number;
  file: string;
  event: string;
  status: RunStatus;
  inputs: Record<string, unknown>;
  outputs: Record<string, Record<string, string>> | null;
  summary: string | null;
  error: string | null;
  concurrencyGroup: string | null;
  scheduleKey: string | null;
  plannedAt: string | null;
  owner: string | null;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface JobRecord {
  key: string;
  jobId: string;
  status: JobStatus;
  matrix: Record<string, unknown> | null;
  outputs: Record<string, string> | null;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface StepRecord {
  jobKey: string;
  number: number;
  stepId: string | null;
  name: string;
  status: StepStatus;
  /** The result before `continue-on-error` is applied, as in GitHub's `steps.<id>.outcome`. */
  outcome: string | null;
  outputs: Record<string, string> | null;
  attempts: number;
  exitCode: number | null;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export type RunSignal = 'continue' | 'cancel' | 'lost';

export interface FireRecord {
  scheduleKey: string;
  plannedAt: string;
  workflow: string;
  status: 'started' | 'skipped' | 'failed';
  reason: string | null;
  runId: number | null;
  createdAt: string;
}

export interface NewRun {
  workflow: string;
  workflowName: string;
  file: string;
  event: string;
  inputs: Record<string, unknown>;
  concurrencyGroup?: string;
  /** With a group: a new queued run also cancels the group's running one. */
  cancelInProgress?: boolean;
  scheduleKey?: string;
  plannedAt?: string;
  /**
   * The sealed workflow text, inputs and vars of a run queued for workers,
   * so that a worker on another machine can execute it. A store that hands
   * runs to workers queues a run created with a payload.
   */
  payload?: string;
  /** The labels a worker needs to take a queued run (from `runs-on`). */
  labels?: string[];
}

/** Appends a run's log lines, masked; `close` writes what is buffered. */
export interface RunLogWriter {
  write(text: string, job?: string, step?: number): void;
  close(): Promise<void>;
}

/** A chunk of a run's log and the position to read the next chunk from. */
export interface LogChunk {
  lines: LogLine[];
  offset: number;
}

export interface FireClaim {
  scheduleKey: string;
  plannedAt: string;
  workflow: string;
  status: 'started' | 'skipped';
  reason?: string;
}

/**
 * Runs, jobs, steps, logs and schedule fires. The embedded store keeps them
 * in the data directory's SQLite state and log files; the PostgreSQL store
 * shares them between servers and workers. Every write is one statement or
 * one transaction, so a crash leaves each record either before or after a
 * change, never half-written.
 */
export interface RunStore {
  createRun(run: NewRun): Promise<RunRecord>;
  /** Moves a queued run to running for `owner`; false when another process took it or it was cancelled. */
  claimRun(id: number, owner: string): Promise<boolean>;
  finishRun(
    id: number,
    result: { status: RunStatus; outputs?: unknown; summary?: string; error?: string },
  ): Promise<void>;
  getRun(id: number): Promise<RunRecord>;
  listRuns(filter?: { workflow?: string; status?: string; limit?: number }): Promise<RunRecord[]>;
  requestCancel(id: number): Promise<RunRecord>;
  /**
   * Records that the run's process is alive and returns whether it goes on:
   * 'cancel' when a cancel was requested, 'lost' when the run is no longer
   * running (another process marked it interrupted because its heartbeats
   * were late). Stores shared between machines mark a running run that is
   * not touched for a while as interrupted.
   */
  touchRun(id: number): Promise<RunSignal>;
  /** Marks runs whose process is gone as interrupted; returns their ids. */
  markInterrupted(): Promise<number[]>;
  saveJob(runId: number, job: JobRecord): Promise<void>;
  saveStep(runId: number, step: StepRecord): Promise<void>;
  jobs(runId: number): Promise<JobRecord[]>;
  steps(runId: number): Promise<StepRecord[]>;
  isEnabled(workflow: string): Promise<boolean>;
  setEnabled(workflow: string, enabled: boolean): Promise<void>;
  /**
   * Records a schedule fire. The key (schedule, planned instant) lets
   * exactly one caller win, however many schedulers share the store;
   * returns false when the fire was already recorded.
   */
  claimFire(fire: FireClaim): Promise<boolean>;
  linkFire(scheduleKey: string, plannedAt: string, runId: number): Promise<void>;
  /** Marks a claimed fire whose run could not start, keeping the reason in the history. */
  failFire(scheduleKey: string, plannedAt: string, reason: string): Promise<void>;
  /** Returns the latest planned instant recorded for a schedule, as an ISO string. */
  lastFire(scheduleKey: string): Promise<string | undefined>;
  fires(workflow?: string, limit?: number): Promise<FireRecord[]>;
  openLog(runId: number, masker: Masker, maxBytes: number): Promise<RunLogWriter>;
  /** Reads whole log lines from `offset` (0 for the start). */
  readLog(runId: number, offset: number): Promise<LogChunk>;
}

/** Identifies this process in `owner`, so a restart can tell its own interrupted runs. */
export const OWNER = `${hostname()}:${process.pid}`;

export const now = () => new Date().toISOString();
export const json = (value: unknown) =>
  value === undefined || value === null ? null : JSON.stringify(value);
export const parse = <T>(text: string | null): T | null =>
  text === null ? null : (JSON.parse(text) as T);

export function runNotFound(id: number): UserError {
  return new UserError(
    'not_found',
    `Run ${id} not found. List runs with \`opsbox workflow runs\`.`,
    { code: 'RUN_NOT_FOUND' },
  );
}

export function runFinished(run: RunRecord): UserError {
  return new UserError(
    'conflict',
    `Run ${run.id} already finished with status ${run.status}; nothing to cancel.`,
    { code: 'RUN_FINISHED' },
  );
}

export const INTERRUPTED_MESSAGE = 'The process running this run stopped before it finished.';

/** Inserts or updates a job, in both stores' SQL; `jobValues` gives its parameters. */
export const SAVE_JOB_SQL = `INSERT INTO workflow_jobs (run_id, key, job_id, status, matrix, outputs, error, started_at, finished_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, outputs = excluded.outputs, error = excluded.error,
    started_at = excluded.started_at, finished_at = excluded.finished_at`;

export function jobValues(runId: number, job: JobRecord): unknown[] {
  return [
    runId,
    job.key,
    job.jobId,
    job.status,
    json(job.matrix),
    json(job.outputs),
    job.error,
    job.startedAt,
    job.finishedAt,
  ];
}

/** Inserts or updates a step, in both stores' SQL; `stepValues` gives its parameters. */
export const SAVE_STEP_SQL = `INSERT INTO workflow_steps (run_id, job_key, number, step_id, name, status, outcome, outputs, attempts, exit_code, error, started_at, finished_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
  ON CONFLICT (run_id, job_key, number) DO UPDATE SET name = excluded.name, status = excluded.status, outcome = excluded.outcome,
    outputs = excluded.outputs, attempts = excluded.attempts, exit_code = excluded.exit_code, error = excluded.error,
    started_at = excluded.started_at, finished_at = excluded.finished_at`;

export function stepValues(runId: number, step: StepRecord): unknown[] {
  return [
    runId,
    step.jobKey,
    step.number,
    step.stepId,
    step.name,
    step.status,
    step.outcome,
    json(step.outputs),
    step.attempts,
    step.exitCode,
    step.error,
    step.startedAt,
    step.finishedAt,
  ];
}

/** The embedded store: SQLite state in the data directory, one log file per run. */
export class SqliteRunStore implements RunStore {
  private readonly statements = new Map<string, Statement>();
  private readonly db: StateDb;

  constructor(private readonly context: Context) {
    this.db = context.state;
  }

  /** Prepares a statement once per store: preparing costs more than running these small statements. */
  private sql(text: string): Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  async createRun(run: NewRun): Promise<RunRecord> {
    const insert = this.db.transaction(() => {
      const { next } = this.sql(
        'SELECT coalesce(max(number), 0) + 1 AS next FROM workflow_runs WHERE workflow = ?',
      ).get(run.workflow) as { next: number };
      const result = this.sql(
        `INSERT INTO workflow_runs (workflow, workflow_name, number, file, event, status, inputs, concurrency_group, schedule_key, planned_at, owner, created_at)
           VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)`,
      ).run(
        run.workflow,
        run.workflowName,
        next,
        run.file,
        run.event,
        JSON.stringify(run.inputs),
        run.concurrencyGroup ?? null,
        run.scheduleKey ?? null,
        run.plannedAt ?? null,
        OWNER,
        now(),
      );
      return Number(result.lastInsertRowid);
    });
    return this.getRun(insert.immediate());
  }

  async claimRun(id: number, owner: string): Promise<boolean> {
    const result = this.sql(
      "UPDATE workflow_runs SET status = 'running', started_at = ?, owner = ? WHERE id = ? AND status = 'queued'",
    ).run(now(), owner, id);
    return result.changes === 1;
  }

  async finishRun(
    id: number,
    result: { status: RunStatus; outputs?: unknown; summary?: string; error?: string },
  ): Promise<void> {
    this.sql(
      'UPDATE workflow_runs SET status = ?, outputs = ?, summary = ?, error = ?, finished_at = ? WHERE id = ?',
    ).run(
      result.status,
      json(result.outputs),
      result.summary || null,
      result.error ?? null,
      now(),
      id,
    );
  }

  async getRun(id: number): Promise<RunRecord> {
    const row = this.sql('SELECT * FROM workflow_runs WHERE id = ?').get(id) as RunRow | undefined;
    if (!row) throw runNotFound(id);
    return toRun(row);
  }

  async listRuns(
    filter: { workflow?: string; status?: string; limit?: number } = {},
  ): Promise<RunRecord[]> {
    const rows = this.sql(
      `SELECT * FROM workflow_runs
         WHERE (@workflow IS NULL OR workflow = @workflow) AND (@status IS NULL OR status = @status)
         ORDER BY id DESC LIMIT @limit`,
    ).all({
      workflow: filter.workflow ?? null,
      status: filter.status ?? null,
      limit: filter.limit ?? 50,
    }) as RunRow[];
    return rows.map(toRun);
  }

  async requestCancel(id: number): Promise<RunRecord> {
    const run = await this.getRun(id);
    if (FINISHED_RUN_STATUSES.includes(run.status)) throw runFinished(run);
    this.sql('UPDATE workflow_runs SET cancel_requested = 1 WHERE id = ?').run(id);
    return this.getRun(id);
  }

  async touchRun(id: number): Promise<RunSignal> {
    const row = this.sql('SELECT cancel_requested FROM workflow_runs WHERE id = ?').get(id) as
      { cancel_requested: number } | undefined;
    return row?.cancel_requested === 1 ? 'cancel' : 'continue';
  }

  /**
   * Marks queued or running runs whose owning process on this host is gone as
   * interrupted, with their unfinished jobs and steps. Runs owned by another
   * host are left alone: only that host can tell whether they still run.
   */
  async markInterrupted(isAlive: (pid: number) => boolean = processAlive): Promise<number[]> {
    const host = hostname();
    const rows = this.sql(
      "SELECT id, owner FROM workflow_runs WHERE status IN ('queued', 'running')",
    ).all() as { id: number; owner: string | null }[];
    const orphans = rows
      .filter((row) => {
        const [owner, pid] = (row.owner ?? '').split(':');
        return owner === host && !isAlive(Number(pid));
      })
      .map((row) => row.id);
    const mark = this.db.transaction(() => {
      for (const id of orphans) {
        this.sql(
          "UPDATE workflow_runs SET status = 'interrupted', error = ?, finished_at = ? WHERE id = ?",
        ).run(INTERRUPTED_MESSAGE, now(), id);
        this.sql(
          "UPDATE workflow_jobs SET status = 'cancelled', finished_at = ? WHERE run_id = ? AND status IN ('queued', 'running')",
        ).run(now(), id);
        this.sql(
          "UPDATE workflow_steps SET status = 'cancelled', finished_at = ? WHERE run_id = ? AND status = 'running'",
        ).run(now(), id);
      }
    });
    mark.immediate();
    return orphans;
  }

  async saveJob(runId: number, job: JobRecord): Promise<void> {
    const [text, values] = sqliteStatement(SAVE_JOB_SQL, jobValues(runId, job));
    this.sql(text).run(...values);
  }

  async saveStep(runId: number, step: StepRecord): Promise<void> {
    const [text, values] = sqliteStatement(SAVE_STEP_SQL, stepValues(runId, step));
    this.sql(text).run(...values);
  }

  async jobs(runId: number): Promise<JobRecord[]> {
    const rows = this.sql('SELECT * FROM workflow_jobs WHERE run_id = ? ORDER BY rowid').all(
      runId,
    ) as JobRow[];
    return rows.map(toJob);
  }

  async steps(runId: number): Promise<StepRecord[]> {
    const rows = this.sql('SELECT * FROM workflow_steps WHERE run_id = ? ORDER BY rowid').all(
      runId,
    ) as StepRow[];
    return rows.map(toStep);
  }

  async isEnabled(workflow: string): Promise<boolean> {
    const row = this.sql('SELECT enabled FROM workflow_settings WHERE workflow = ?').get(
      workflow,
    ) as { enabled: number } | undefined;
    return row ? row.enabled === 1 : true;
  }

  async setEnabled(workflow: string, enabled: boolean): Promise<void> {
    this.sql(
      'INSERT INTO workflow_settings (workflow, enabled, updated_at) VALUES (?, ?, ?) ON CONFLICT (workflow) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at',
    ).run(workflow, enabled ? 1 : 0, now());
  }

  async claimFire(fire: FireClaim): Promise<boolean> {
    const result = this.sql(
      'INSERT OR IGNORE INTO schedule_fires (schedule_key, planned_at, workflow, status, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(fire.scheduleKey, fire.plannedAt, fire.workflow, fire.status, fire.reason ?? null, now());
    return result.changes === 1;
  }

  async linkFire(scheduleKey: string, plannedAt: string, runId: number): Promise<void> {
    this.sql('UPDATE schedule_fires SET run_id = ? WHERE schedule_key = ? AND planned_at = ?').run(
      runId,
      scheduleKey,
      plannedAt,
    );
  }

  async failFire(scheduleKey: string, plannedAt: string, reason: string): Promise<void> {
    this.sql(
      "UPDATE schedule_fires SET status = 'failed', reason = ? WHERE schedule_key = ? AND planned_at = ?",
    ).run(reason, scheduleKey, plannedAt);
  }

  async lastFire(scheduleKey: string): Promise<string | undefined> {
    const row = this.sql(
      'SELECT max(planned_at) AS last FROM schedule_fires WHERE schedule_key = ?',
    ).get(scheduleKey) as { last: string | null };
    return row.last ?? undefined;
  }

  async fires(workflow?: string, limit = 50): Promise<FireRecord[]> {
    const rows = this.sql(
      'SELECT * FROM schedule_fires WHERE (@workflow IS NULL OR workflow = @workflow) ORDER BY planned_at DESC LIMIT @limit',
    ).all({ workflow: workflow ?? null, limit }) as FireRow[];
    return rows.map(toFire);
  }

  openLog(runId: number, masker: Masker, maxBytes: number): Promise<RunLogWriter> {
    return RunLog.open(runLogPath(this.context, runId), masker, maxBytes);
  }

  async readLog(runId: number, offset: number): Promise<LogChunk> {
    return readLog(runLogPath(this.context, runId), offset);
  }
}

export interface RunDetails extends RunRecord {
  jobs: (JobRecord & { steps: StepRecord[] })[];
}

/** Loads a run with its jobs, each with its steps. */
export async function runDetails(store: RunStore, id: number): Promise<RunDetails> {
  const run = await store.getRun(id);
  const steps = await store.steps(id);
  const jobs = (await store.jobs(id)).map((job) => ({
    ...job,
    steps: steps.filter((step) => step.jobKey === job.key),
  }));
  return { ...run, jobs };
}

export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RunRow {
  id: number;
  workflow: string;
  workflow_name: string;
  number: number;
  file: string;
  event: string;
  status: string;
  inputs: string;
  outputs: string | null;
  summary: string | null;
  error: string | null;
  concurrency_group: string | null;
  schedule_key: string | null;
  planned_at: string | null;
  owner: string | null;
  cancel_requested: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface JobRow {
  key: string;
  job_id: string;
  status: string;
  matrix: string | null;
  outputs: string | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface StepRow {
  job_key: string;
  number: number;
  step_id: string | null;
  name: string;
  status: string;
  outcome: string | null;
  outputs: string | null;
  attempts: number;
  exit_code: number | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface FireRow {
  schedule_key: string;
  planned_at: string;
  workflow: string;
  status: string;
  reason: string | null;
  run_id: number | null;
  created_at: string;
}

export function toRun(row: RunRow): RunRecord {
  return {
    id: row.id,
    workflow: row.workflow,
    workflowName: row.workflow_name,
    number: row.number,
    file: row.file,
    event: row.event,
    status: row.status as RunStatus,
    inputs: JSON.parse(row.inputs) as Record<string, unknown>,
    outputs: parse(row.outputs),
    summary: row.summary,
    error: row.error,
    concurrencyGroup: row.concurrency_group,
    scheduleKey: row.schedule_key,
    plannedAt: row.planned_at,
    owner: row.owner,
    cancelRequested: row.cancel_requested === 1,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export function toJob(row: JobRow): JobRecord {
  return {
    key: row.key,
    jobId: row.job_id,
    status: row.status as JobStatus,
    matrix: parse(row.matrix),
    outputs: parse(row.outputs),
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export function toStep(row: StepRow): StepRecord {
  return {
    jobKey: row.job_key,
    number: row.number,
    stepId: row.step_id,
    name: row.name,
    status: row.status as StepStatus,
    outcome: row.outcome,
    outputs: parse(row.outputs),
    attempts: row.attempts,
    exitCode: row.exit_code,
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export function toFire(row: FireRow): FireRecord {
  return {
    scheduleKey: row.schedule_key,
    plannedAt: row.planned_at,
    workflow: row.workflow,
    status: row.status as FireRecord['status'],
    reason: row.reason,
    runId: row.run_id,
    createdAt: row.created_at,
  };
}
