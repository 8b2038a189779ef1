import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

import pg from 'pg';

import type { Context } from '../core/context.js';
import { UserError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { secretBoxFor } from '../secrets/shared-key.js';
import { SecretStore } from '../secrets/store.js';
import { loadActions } from './action.js';
import {
  PAYLOAD_LABEL,
  defaultEngineSettings,
  openRunStore,
  type EngineSettings,
  type RunPayload,
} from './engine.js';
import { defaultWorkerLabels } from './labels.js';
import { parseWorkflow } from './parse.js';
import { RunExecution, removeStaleRunFolders } from './runner.js';
import { PostgresRunStore, RUNS_CHANNEL, staleSeconds } from './store-postgres.js';

export interface WorkerOptions {
  /** Runs executed at once by this worker. */
  concurrency: number;
  /** Labels beyond the default ones; a run whose `runs-on` names other labels waits for another worker. */
  labels?: string[];
  /** How often the queue is read when no notification arrives. */
  pollMs?: number;
}

/**
 * Opens the PostgreSQL run store of a context. Without OPSBOX_DATABASE_URL
 * it raises a usage error naming the setting, because workers and the
 * reaper only exist with a shared store.
 */
export function sharedRunStore(context: Context, command: string): PostgresRunStore {
  const store = context.postgres ? openRunStore(context) : undefined;
  if (!(store instanceof PostgresRunStore))
    throw new UserError(
      'usage',
      `${command} needs the shared state store: set OPSBOX_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE, the same for every server and worker.`,
    );
  return store;
}

/**
 * Marks runs whose worker stopped sending heartbeats as interrupted, on a
 * timer. Every server and worker runs one; they agree because the update
 * itself decides which rows are stale.
 */
export class Reaper {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;

  constructor(
    private readonly store: PostgresRunStore,
    private readonly logger: Logger,
    private readonly limitSeconds = staleSeconds(),
  ) {}

  start(): void {
    const everyMs = Math.max(500, Math.min(5000, (this.limitSeconds * 1000) / 3));
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
    }, everyMs);
    this.timer.unref();
  }

  async sweep(): Promise<void> {
    try {
      const lost = await this.store.markInterrupted(this.limitSeconds);
      if (lost.length > 0) this.logger.warn({ runs: lost }, 'workflow:run:lost');
    } catch (error) {
      this.logger.error({ err: errorMessage(error) }, 'workflow:reaper:error');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }
}

/**
 * `opsbox worker`: takes queued runs from the PostgreSQL store and executes
 * them, up to `concurrency` at once. A run is claimed under its row lock in
 * the same transaction that completes its queue job, so each run executes
 * once however many workers share the queue. A notification wakes idle
 * workers when a run is queued; the queue is also read every second.
 */
export class WorkflowWorker {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly labels: string[];
  private readonly store: PostgresRunStore;
  private readonly logger: Logger;
  private readonly settings: EngineSettings;
  private readonly executions = new Map<number, RunExecution>();
  private readonly finished = new Set<Promise<void>>();
  private readonly reaper: Reaper;
  private listener?: pg.Client;
  private stopping = false;
  private looping?: Promise<void>;
  private wake?: () => void;

  constructor(
    private readonly context: Context,
    private readonly options: WorkerOptions,
  ) {
    this.store = sharedRunStore(context, '`opsbox worker`');
    this.logger = context.logger.child({ worker: this.id });
    // One heartbeat a second per run: each is a write to the shared store, and cancels need no faster reply.
    this.settings = {
      ...defaultEngineSettings(),
      maxParallelRuns: options.concurrency,
      cancelPollMs: 1000,
    };
    this.reaper = new Reaper(this.store, this.logger);
    this.labels = [...new Set([...defaultWorkerLabels(), ...(options.labels ?? [])])];
  }

  async start(): Promise<void> {
    await this.store.ready();
    // A worker with another key than the servers' could open no run they queue.
    await secretBoxFor(this.context);
    const removed = await removeStaleRunFolders(this.context, this.store);
    if (removed > 0) this.logger.info({ folders: removed }, 'worker:cleanup');
    await this.listen();
    this.reaper.start();
    this.looping = this.loop();
    this.logger.info({ concurrency: this.options.concurrency }, 'worker:start');
  }

  /** Stops taking runs and interrupts the ones executing; they end as `interrupted`. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.looping;
    for (const execution of this.executions.values()) execution.interrupt();
    await Promise.allSettled([...this.finished]);
    await this.reaper.stop();
    await this.listener?.end().catch(() => undefined);
    await this.store.close();
    this.logger.info('worker:stop');
  }

  /** Records every executing run as interrupted at once, for a worker that exits without waiting for its steps. */
  async abandon(): Promise<void> {
    const error =
      'The worker was stopped at once (a second SIGINT or SIGTERM); its steps were killed.';
    await Promise.race([
      Promise.allSettled(
        [...this.executions.keys()].map((id) =>
          this.store.finishRun(id, { status: 'interrupted', error }),
        ),
      ),
      new Promise((resolve) => setTimeout(resolve, 3000)),
    ]);
  }

  private async listen(): Promise<void> {
    const state = this.context.postgres!;
    const client = new pg.Client({
      connectionString: state.url,
      application_name: 'opsbox-worker',
    });
    // A lost listening connection only delays runs until the next poll.
    client.on('error', () => undefined);
    await client.connect();
    await client.query(`LISTEN ${RUNS_CHANNEL}`);
    client.on('notification', () => this.wake?.());
    this.listener = client;
  }

  private async loop(): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    while (!this.stopping) {
      // Counted from claims, not from executions: a claimed run spends a few queries before it executes.
      const free = this.options.concurrency - this.finished.size;
      let fetchedJobs = 0;
      if (free > 0) {
        try {
          fetchedJobs = await this.take(free);
        } catch (error) {
          this.logger.error({ err: errorMessage(error) }, 'worker:queue:error');
        }
      }
      if (fetchedJobs > 0 && this.finished.size < this.options.concurrency) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Fetches up to `count` queued runs and starts each one this worker claims; returns how many jobs it took. */
  private async take(count: number): Promise<number> {
    const jobs = await this.store.takeQueued(count, this.labels);
    for (const job of jobs) {
      const claim = await this.store.claimQueued(job, this.id);
      if (claim !== 'claimed') continue;
      const done = this.execute(job.runId).finally(() => {
        this.finished.delete(done);
        this.wake?.();
      });
      this.finished.add(done);
    }
    return jobs.length;
  }

  private async execute(runId: number): Promise<void> {
    const log = this.logger.child({ run: runId });
    let execution: RunExecution;
    try {
      const run = await this.store.getRun(runId);
      const sealed = await this.store.payload(runId);
      if (!sealed) throw new Error(`Run ${runId} has no payload to execute.`);
      const box = await secretBoxFor(this.context);
      const payload = JSON.parse(box.decrypt(sealed, PAYLOAD_LABEL).toString('utf8')) as RunPayload;
      const workflow = parseWorkflow(payload.source, payload.file, await loadActions());
      const secrets = await new SecretStore(this.context).readAll();
      execution = new RunExecution(
        this.context,
        this.store,
        run,
        {
          workflow,
          inputs: payload.inputs,
          vars: payload.vars,
          secrets,
          workspace: this.context.dataDir.path('workspaces', workflow.id),
        },
        this.settings,
      );
    } catch (error) {
      // The run cannot start here (a wrong secret key, an action this worker lacks): it fails with the reason.
      log.error({ err: errorMessage(error) }, 'worker:run:error');
      await this.store
        .finishRun(runId, { status: 'failure', error: `Worker ${this.id}: ${errorMessage(error)}` })
        .catch(() => undefined);
      return;
    }
    this.executions.set(runId, execution);
    // A stop that came while the run was being prepared ends it at once, as interrupted.
    if (this.stopping) execution.interrupt();
    try {
      await execution.execute();
    } finally {
      this.executions.delete(runId);
    }
  }
}
