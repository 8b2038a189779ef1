import { createHash } from 'node:crypto';

import type { PoolClient } from 'pg';

import { UserError } from '../core/errors.js';
import type { PostgresState, Queryable } from '../core/postgres-state.js';
import { JobQueue } from '../core/queue.js';
import type { Masker } from '../secrets/masker.js';
import { missingLabels } from './labels.js';
import { BoundedRunLog, type LogLine } from './run-log.js';
import {
  FINISHED_RUN_STATUSES,
  SAVE_JOB_SQL,
  SAVE_STEP_SQL,
  jobValues,
  stepValues,
  json,
  now,
  runFinished,
  runNotFound,
  toFire,
  toJob,
  toRun,
  toStep,
  type FireClaim,
  type FireRecord,
  type FireRow,
  type JobRecord,
  type JobRow,
  type LogChunk,
  type NewRun,
  type RunLogWriter,
  type RunRecord,
  type RunRow,
  type RunSignal,
  type RunStatus,
  type RunStore,
  type StepRecord,
  type StepRow,
} from './store.js';

/** The queue that carries runs from servers to workers, when they need no labels. */
export const RUN_QUEUE = 'workflow-runs';

/** A run's queue job as a worker takes it. */
export interface QueuedRun {
  jobId: string;
  runId: number;
  queue: string;
}

/**
 * Names the queue of runs that need a set of labels: one queue per set, so
 * a worker fetches only runs it may execute. `self-hosted` is left out,
 * since every worker has it.
 */
export function queueFor(labels: string[]): { name: string; labels: string[] } {
  const needed = labels.filter((label) => label !== 'self-hosted').sort();
  if (needed.length === 0) return { name: RUN_QUEUE, labels: [] };
  const digest = createHash('sha256').update(needed.join(',')).digest('hex').slice(0, 16);
  return { name: `${RUN_QUEUE}-${digest}`, labels: needed };
}

/** The channel notified when a run is queued, so that idle workers take it without waiting for a poll. */
export const RUNS_CHANNEL = 'opsbox_runs_queued';

/** Seconds a worker may hold a run's queue job before claiming it; past that the job goes to another worker. */
const CLAIM_EXPIRY_SECONDS = 60;

/** Default seconds without a heartbeat after which a running run counts as lost; OPSBOX_RUN_STALE_SECONDS overrides it. */
export const DEFAULT_STALE_SECONDS = 30;

/** The shortest stale limit allowed: three heartbeats, since a worker sends one a second. */
const MIN_STALE_SECONDS = 3;

export function staleSeconds(env = process.env): number {
  const text = env.OPSBOX_RUN_STALE_SECONDS;
  if (text === undefined || text === '') return DEFAULT_STALE_SECONDS;
  const value = Number(text);
  if (!Number.isFinite(value) || value < MIN_STALE_SECONDS)
    throw new UserError(
      'usage',
      `Invalid OPSBOX_RUN_STALE_SECONDS "${text}": use a number of seconds of ${MIN_STALE_SECONDS} or more (workers send a heartbeat every second).`,
    );
  return value;
}

export type ClaimResult = 'claimed' | 'gone' | 'blocked';

const RUN_COLUMNS = `id, workflow, workflow_name, number, file, event, status, inputs, outputs, summary, error,
  concurrency_group, schedule_key, planned_at, owner, cancel_requested, created_at, started_at, finished_at`;

/**
 * The run store on PostgreSQL, shared by every server and worker. A run
 * created with a payload is queued for workers in the same transaction; a
 * worker claims it under the run's row lock. A heartbeat on the row
 * separates a live run from one whose worker died.
 */
export class PostgresRunStore implements RunStore {
  private queue?: Promise<JobQueue>;
  /** Label queues this process has already created or found. */
  private readonly queues = new Set<string>([RUN_QUEUE]);

  constructor(private readonly state: PostgresState) {}

  /** Creates or upgrades the store's tables. */
  ready(): Promise<void> {
    return this.state.ready();
  }

  /** Opens the run queue on first use: only processes that queue or claim runs need it. */
  private openQueue(): Promise<JobQueue> {
    this.queue ??= JobQueue.open(this.state, [RUN_QUEUE], true).catch((error) => {
      this.queue = undefined;
      throw error;
    });
    return this.queue;
  }

  /** Stops the run queue if this store opened it; the state store's connections stay with the context. */
  async close(): Promise<void> {
    const queue = await this.queue?.catch(() => undefined);
    this.queue = undefined;
    await queue?.close();
  }

  /**
   * Takes up to `count` run jobs from the queues whose labels a worker has;
   * each must then be claimed with `claimQueued`.
   */
  async takeQueued(count: number, workerLabels: string[]): Promise<QueuedRun[]> {
    const queue = await this.openQueue();
    const { rows } = await this.state.query<{ name: string; labels: string }>(
      'SELECT name, labels FROM run_queues',
    );
    const names = [
      RUN_QUEUE,
      ...rows
        .filter(
          (row) => missingLabels(JSON.parse(row.labels) as string[], workerLabels).length === 0,
        )
        .map((row) => row.name),
    ];
    const fetched: QueuedRun[] = [];
    for (const name of names) {
      if (fetched.length >= count) break;
      const jobs = await queue.fetch<{ runId: number }>(name, count - fetched.length);
      fetched.push(...jobs.map((job) => ({ jobId: job.id, runId: job.data.runId, queue: name })));
    }
    return fetched;
  }

  /** Creates the queue of a label set once, and records its labels for the workers. */
  private async ensureQueue(queue: JobQueue, name: string, labels: string[]): Promise<void> {
    if (this.queues.has(name)) return;
    await queue.ensure(name);
    await this.state.query(
      'INSERT INTO run_queues (name, labels) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
      [name, JSON.stringify(labels)],
    );
    this.queues.add(name);
  }

  async createRun(run: NewRun): Promise<RunRecord> {
    const queue = run.payload === undefined ? undefined : await this.openQueue();
    const target = queueFor(run.labels ?? []);
    if (queue) await this.ensureQueue(queue, target.name, target.labels);
    return this.state.transaction(async (client) => {
      if (run.concurrencyGroup) await lock(client, `concurrency:${run.concurrencyGroup}`);
      await lock(client, `run-number:${run.workflow}`);
      const { rows } = await client.query<RunRow>(
        `INSERT INTO workflow_runs (workflow, workflow_name, number, file, event, status, inputs, concurrency_group,
           schedule_key, planned_at, owner, created_at, payload, labels)
         SELECT $1, $2, coalesce(max(number), 0) + 1, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $11, $12
           FROM workflow_runs WHERE workflow = $1
         RETURNING ${RUN_COLUMNS}`,
        [
          run.workflow,
          run.workflowName,
          run.file,
          run.event,
          JSON.stringify(run.inputs),
          run.concurrencyGroup ?? null,
          run.scheduleKey ?? null,
          run.plannedAt ?? null,
          null,
          now(),
          run.payload ?? null,
          JSON.stringify(run.labels ?? []),
        ],
      );
      const created = toRun(rows[0]!);
      if (run.payload !== undefined) {
        if (run.concurrencyGroup) await this.supersede(client, created, run.cancelInProgress);
        await queue!.send(
          target.name,
          { runId: created.id },
          { client, expireInSeconds: CLAIM_EXPIRY_SECONDS },
        );
        // Delivered at commit, when the job is visible to the workers it wakes.
        await client.query(`NOTIFY ${RUNS_CHANNEL}`);
      }
      return created;
    });
  }

  /**
   * Applies `concurrency` to a new queued run, as GitHub does: the group's
   * pending run is replaced, and with `cancel-in-progress` so is the running
   * one. While no run of the group runs, its oldest queued run is in
   * progress (it waits only for a worker) rather than pending.
   */
  private async supersede(
    client: Queryable,
    run: RunRecord,
    cancelInProgress = false,
  ): Promise<void> {
    await client.query(
      `UPDATE workflow_runs SET status = 'cancelled', finished_at = $3,
         error = 'Cancelled: a newer run of concurrency group "' || $2 || '" replaced it while it was queued.'
       WHERE concurrency_group = $2 AND status = 'queued' AND id <> $1
         AND ($4::boolean
           OR EXISTS (SELECT 1 FROM workflow_runs WHERE concurrency_group = $2 AND status = 'running')
           OR id <> (SELECT min(id) FROM workflow_runs WHERE concurrency_group = $2 AND status = 'queued'))`,
      [run.id, run.concurrencyGroup, now(), cancelInProgress],
    );
    if (cancelInProgress)
      await client.query(
        "UPDATE workflow_runs SET cancel_requested = 1 WHERE concurrency_group = $1 AND status = 'running'",
        [run.concurrencyGroup],
      );
  }

  /**
   * Claims a queued run for a worker and completes its queue job in the same
   * transaction. A run waits ('blocked', queued again for later) while
   * another run of its concurrency group is running. A run that is no
   * longer queued is 'gone'.
   */
  async claimQueued(job: QueuedRun, owner: string): Promise<ClaimResult> {
    const { runId, jobId } = job;
    const queue = await this.openQueue();
    return this.state.transaction(async (client) => {
      const group = await client.query<{ concurrency_group: string | null }>(
        'SELECT concurrency_group FROM workflow_runs WHERE id = $1',
        [runId],
      );
      const concurrencyGroup = group.rows[0]?.concurrency_group;
      // The group lock is taken before the row lock, in the order createRun takes them.
      if (concurrencyGroup) await lock(client, `concurrency:${concurrencyGroup}`);
      const { rows } = await client.query<{ status: string }>(
        'SELECT status FROM workflow_runs WHERE id = $1 FOR UPDATE',
        [runId],
      );
      if (rows[0]?.status !== 'queued') {
        await queue.complete(job.queue, jobId, client);
        return 'gone';
      }
      const later = async (seconds: number): Promise<ClaimResult> => {
        await queue.complete(job.queue, jobId, client);
        await queue.send(
          job.queue,
          { runId },
          { client, startAfterSeconds: seconds, expireInSeconds: CLAIM_EXPIRY_SECONDS },
        );
        return 'blocked';
      };
      if (concurrencyGroup) {
        // Busy while a run of the group runs, or an older one waits for its turn.
        const busy = await client.query(
          `SELECT 1 FROM workflow_runs WHERE concurrency_group = $1
             AND (status = 'running' OR (status = 'queued' AND id < $2)) LIMIT 1`,
          [concurrencyGroup, runId],
        );
        if (busy.rowCount! > 0) return later(1);
      }
      await client.query(
        "UPDATE workflow_runs SET status = 'running', started_at = $2, owner = $3, heartbeat_at = now() WHERE id = $1",
        [runId, now(), owner],
      );
      await queue.complete(job.queue, jobId, client);
      return 'claimed';
    });
  }

  async claimRun(id: number, owner: string): Promise<boolean> {
    const result = await this.state.query(
      "UPDATE workflow_runs SET status = 'running', started_at = $2, owner = $3, heartbeat_at = now() WHERE id = $1 AND status = 'queued'",
      [id, now(), owner],
    );
    return result.rowCount === 1;
  }

  /** Returns the sealed payload a queued run was created with. */
  async payload(id: number): Promise<string | null> {
    const { rows } = await this.state.query<{ payload: string | null }>(
      'SELECT payload FROM workflow_runs WHERE id = $1',
      [id],
    );
    if (rows.length === 0) throw runNotFound(id);
    return rows[0]!.payload;
  }

  async finishRun(
    id: number,
    result: { status: RunStatus; outputs?: unknown; summary?: string; error?: string },
  ): Promise<void> {
    // A run already marked interrupted (its heartbeat was late) keeps that status.
    await this.state.query(
      `UPDATE workflow_runs SET status = $2, outputs = $3, summary = $4, error = $5, finished_at = $6
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [
        id,
        result.status,
        json(result.outputs),
        result.summary || null,
        result.error ?? null,
        now(),
      ],
    );
  }

  async getRun(id: number): Promise<RunRecord> {
    const { rows } = await this.state.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM workflow_runs WHERE id = $1`,
      [id],
    );
    if (rows.length === 0) throw runNotFound(id);
    return toRun(rows[0]!);
  }

  async listRuns(
    filter: { workflow?: string; status?: string; limit?: number } = {},
  ): Promise<RunRecord[]> {
    const { rows } = await this.state.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM workflow_runs
        WHERE ($1::text IS NULL OR workflow = $1) AND ($2::text IS NULL OR status = $2)
        ORDER BY id DESC LIMIT $3`,
      [filter.workflow ?? null, filter.status ?? null, filter.limit ?? 50],
    );
    return rows.map(toRun);
  }

  async requestCancel(id: number): Promise<RunRecord> {
    const run = await this.getRun(id);
    if (FINISHED_RUN_STATUSES.includes(run.status)) throw runFinished(run);
    await this.state.query('UPDATE workflow_runs SET cancel_requested = 1 WHERE id = $1', [id]);
    // A queued run that no worker took yet ends here. A running one ends when its worker reads the request.
    await this.state.query(
      `UPDATE workflow_runs SET status = 'cancelled', error = 'Cancelled before it started.', finished_at = $2
        WHERE id = $1 AND status = 'queued'`,
      [id, now()],
    );
    return this.getRun(id);
  }

  async touchRun(id: number): Promise<RunSignal> {
    const { rows } = await this.state.query<{ cancel_requested: number }>(
      "UPDATE workflow_runs SET heartbeat_at = now() WHERE id = $1 AND status = 'running' RETURNING cancel_requested",
      [id],
    );
    if (rows.length === 0) return 'lost';
    return rows[0]!.cancel_requested === 1 ? 'cancel' : 'continue';
  }

  /**
   * Marks running runs whose heartbeat is older than the stale limit as
   * interrupted, with their unfinished jobs and steps: their worker was
   * killed or lost its connection. Any server or worker may call this.
   */
  async markInterrupted(limitSeconds = staleSeconds()): Promise<number[]> {
    const finishedAt = now();
    const { rows } = await this.state.query<{ id: number }>(
      `WITH lost AS (
         UPDATE workflow_runs SET status = 'interrupted', finished_at = $1,
           error = 'The process running this run sent no heartbeat for ' || $2::text || ' s (it was killed, or lost the state store); it was marked interrupted.'
          WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $2::double precision)
          RETURNING id),
       jobs AS (
         UPDATE workflow_jobs SET status = 'cancelled', finished_at = $1
          WHERE run_id IN (SELECT id FROM lost) AND status IN ('queued', 'running')),
       steps AS (
         UPDATE workflow_steps SET status = 'cancelled', finished_at = $1
          WHERE run_id IN (SELECT id FROM lost) AND status = 'running')
       SELECT id FROM lost ORDER BY id`,
      [finishedAt, limitSeconds],
    );
    return rows.map((row) => row.id);
  }

  async saveJob(runId: number, job: JobRecord): Promise<void> {
    await this.state.query(SAVE_JOB_SQL, jobValues(runId, job));
  }

  async saveStep(runId: number, step: StepRecord): Promise<void> {
    await this.state.query(SAVE_STEP_SQL, stepValues(runId, step));
  }

  async jobs(runId: number): Promise<JobRecord[]> {
    const { rows } = await this.state.query<JobRow>(
      'SELECT * FROM workflow_jobs WHERE run_id = $1 ORDER BY position',
      [runId],
    );
    return rows.map(toJob);
  }

  async steps(runId: number): Promise<StepRecord[]> {
    const { rows } = await this.state.query<StepRow>(
      'SELECT * FROM workflow_steps WHERE run_id = $1 ORDER BY position',
      [runId],
    );
    return rows.map(toStep);
  }

  async isEnabled(workflow: string): Promise<boolean> {
    const { rows } = await this.state.query<{ enabled: number }>(
      'SELECT enabled FROM workflow_settings WHERE workflow = $1',
      [workflow],
    );
    return rows.length === 0 || rows[0]!.enabled === 1;
  }

  async setEnabled(workflow: string, enabled: boolean): Promise<void> {
    await this.state.query(
      `INSERT INTO workflow_settings (workflow, enabled, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (workflow) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at`,
      [workflow, enabled ? 1 : 0, now()],
    );
  }

  async claimFire(fire: FireClaim): Promise<boolean> {
    const result = await this.state.query(
      `INSERT INTO schedule_fires (schedule_key, planned_at, workflow, status, reason, created_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [fire.scheduleKey, fire.plannedAt, fire.workflow, fire.status, fire.reason ?? null, now()],
    );
    return result.rowCount === 1;
  }

  async linkFire(scheduleKey: string, plannedAt: string, runId: number): Promise<void> {
    await this.state.query(
      'UPDATE schedule_fires SET run_id = $3 WHERE schedule_key = $1 AND planned_at = $2',
      [scheduleKey, plannedAt, runId],
    );
  }

  async failFire(scheduleKey: string, plannedAt: string, reason: string): Promise<void> {
    await this.state.query(
      "UPDATE schedule_fires SET status = 'failed', reason = $3 WHERE schedule_key = $1 AND planned_at = $2",
      [scheduleKey, plannedAt, reason],
    );
  }

  async lastFire(scheduleKey: string): Promise<string | undefined> {
    const { rows } = await this.state.query<{ last: string | null }>(
      'SELECT max(planned_at) AS last FROM schedule_fires WHERE schedule_key = $1',
      [scheduleKey],
    );
    return rows[0]?.last ?? undefined;
  }

  async fires(workflow?: string, limit = 50): Promise<FireRecord[]> {
    const { rows } = await this.state.query<FireRow>(
      `SELECT * FROM schedule_fires WHERE ($1::text IS NULL OR workflow = $1)
        ORDER BY planned_at DESC LIMIT $2`,
      [workflow ?? null, limit],
    );
    return rows.map(toFire);
  }

  async openLog(runId: number, masker: Masker, maxBytes: number): Promise<RunLogWriter> {
    const { rows } = await this.state.query<{ seq: number; bytes: string }>(
      'SELECT coalesce(max(seq), 0) AS seq, coalesce(sum(length(line) + 1), 0) AS bytes FROM workflow_log_lines WHERE run_id = $1',
      [runId],
    );
    return new PostgresRunLog(
      this.state,
      runId,
      masker,
      maxBytes,
      rows[0]!.seq,
      Number(rows[0]!.bytes),
    );
  }

  async readLog(runId: number, offset: number): Promise<LogChunk> {
    const { rows } = await this.state.query<{ seq: number; line: string }>(
      'SELECT seq, line FROM workflow_log_lines WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT 10000',
      [runId, offset],
    );
    return {
      lines: rows.map((row) => JSON.parse(row.line) as LogLine),
      offset: rows.length > 0 ? rows[rows.length - 1]!.seq : offset,
    };
  }
}

/** Takes a transaction-scoped advisory lock on a name. */
async function lock(client: PoolClient | Queryable, name: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [name]);
}

/** How often buffered log lines are written. */
const LOG_FLUSH_MS = 200;
/** Lines written by one INSERT at most. */
const LOG_BATCH = 500;
/** Lines kept while the store is unreachable; older ones are dropped and counted past this. */
const LOG_BUFFER_LINES = 20_000;
/** How long `close` keeps retrying a store that is unreachable. */
const LOG_CLOSE_RETRY_MS = 30_000;

/**
 * A run's log in the PostgreSQL store: lines are buffered and inserted in
 * batches every 200 ms, so a chatty step costs a few statements a second.
 * While the store is unreachable the lines wait in memory, up to 20,000,
 * and are retried. Lines dropped past that are counted in a note written
 * once the store is reachable again.
 */
class PostgresRunLog extends BoundedRunLog {
  private pending: string[] = [];
  private lostLines = 0;
  private writing: Promise<boolean> = Promise.resolve(true);
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly state: PostgresState,
    private readonly runId: number,
    masker: Masker,
    maxBytes: number,
    private seq: number,
    bytes: number,
  ) {
    super(masker, maxBytes, bytes);
  }

  protected append(line: string): void {
    this.pending.push(line);
    if (this.pending.length > LOG_BUFFER_LINES) {
      this.pending.shift();
      this.lostLines++;
    }
    if (this.pending.length >= LOG_BATCH) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), LOG_FLUSH_MS);
  }

  protected async finish(): Promise<void> {
    clearTimeout(this.timer);
    const deadline = Date.now() + LOG_CLOSE_RETRY_MS;
    while (!(await this.flush()) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 1000));
    clearTimeout(this.timer);
  }

  /** Writes what is buffered, after any write in progress; resolves false when the store failed. */
  private flush(): Promise<boolean> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(() => this.writeAll());
    return this.writing;
  }

  private async writeAll(): Promise<boolean> {
    while (this.pending.length > 0 || this.lostLines > 0) {
      const lines = this.pending.slice(0, LOG_BATCH);
      if (this.lostLines > 0)
        lines.unshift(
          JSON.stringify({
            t: new Date().toISOString(),
            text: `${this.lostLines} log lines were dropped while the state store was unreachable.`,
          } satisfies LogLine),
        );
      try {
        await this.state.query(
          `INSERT INTO workflow_log_lines (run_id, seq, line)
           SELECT $1, $2 + ordinality - 1, line FROM unnest($3::text[]) WITH ORDINALITY AS t(line, ordinality)`,
          [this.runId, this.seq + 1, lines],
        );
      } catch {
        // Kept for the next flush; the run's own records report a store that stays away.
        this.timer ??= setTimeout(() => void this.flush(), 1000);
        return false;
      }
      this.seq += lines.length;
      this.pending.splice(0, this.lostLines > 0 ? lines.length - 1 : lines.length);
      this.lostLines = 0;
    }
    return true;
  }
}
