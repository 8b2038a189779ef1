import { setTimeout as sleep } from 'node:timers/promises';

import type { Context } from '../core/context.js';
import { Masker } from '../secrets/masker.js';
import { secretBoxFor } from '../secrets/shared-key.js';
import { SecretStore } from '../secrets/store.js';
import { ExpressionScope, parseTemplate } from './expressions.js';
import { resolveInputs } from './inputs.js';
import { runLabels } from './labels.js';
import type { LoadedWorkflow } from './parse.js';
import { logMaxBytes } from './run-log.js';
import { RunExecution, type RunSettings } from './runner.js';
import { killGraceMs } from './shell.js';
import { PostgresRunStore } from './store-postgres.js';
import {
  FINISHED_RUN_STATUSES,
  OWNER,
  SqliteRunStore,
  type NewRun,
  type RunRecord,
  type RunStore,
} from './store.js';

export interface DispatchOptions {
  /** `workflow_dispatch`, `schedule`, or `cli` for `opsbox workflow run`. */
  event: string;
  inputs?: Record<string, unknown>;
  vars?: Record<string, string>;
  /** Default working directory of `run` steps; a per-workflow folder in the data directory otherwise. */
  workspace?: string;
  scheduleKey?: string;
  plannedAt?: string;
}

export interface DispatchedRun {
  run: RunRecord;
  /** Settles with the finished run record. */
  done: Promise<RunRecord>;
}

export interface EngineSettings extends RunSettings {
  /** Runs executing at once in this process; more wait in `queued`. */
  maxParallelRuns: number;
}

/** The workflow text, inputs and vars a queued run carries to its worker, sealed with the secret key because inputs may contain sensitive values. */
export interface RunPayload {
  source: string;
  file: string;
  inputs: Record<string, unknown>;
  vars: Record<string, string>;
}

/** Associated data of sealed run payloads, so no other sealed value can pass for one. */
export const PAYLOAD_LABEL = 'workflow-run-payload';

/**
 * Opens the run store of a context: PostgreSQL when OPSBOX_DATABASE_URL is
 * set, otherwise the data directory's SQLite state.
 */
export function openRunStore(context: Context): RunStore {
  const postgres = context.postgres;
  return postgres ? new PostgresRunStore(postgres) : new SqliteRunStore(context);
}

interface GroupState {
  running?: number;
  pending?: { runId: number; admit(start: boolean): void };
}

export function defaultEngineSettings(env = process.env): EngineSettings {
  const parallel = Number(env.OPSBOX_MAX_PARALLEL_RUNS);
  return {
    killGraceMs: killGraceMs(env),
    logMaxBytes: logMaxBytes(env),
    cancelPollMs: 250,
    maxParallelRuns: Number.isInteger(parallel) && parallel > 0 ? parallel : 16,
  };
}

/**
 * Starts runs: checks inputs and applies `concurrency` (one running and one
 * pending run per group; a newer pending run supersedes the older, and
 * `cancel-in-progress` also cancels the running one).
 *
 * Embedded, runs execute in this process under a process-wide limit of
 * parallel runs. With the PostgreSQL store, dispatch queues the run for
 * `opsbox worker` processes, which apply the same rules across machines.
 * `executeHere` keeps execution in this process (`opsbox workflow run`).
 */
export class WorkflowEngine {
  readonly store: RunStore;
  /** True when dispatched runs go to the queue for workers. */
  readonly queued: boolean;
  private readonly settings: EngineSettings;
  private readonly executions = new Map<number, RunExecution>();
  private readonly finished = new Map<number, Promise<RunRecord>>();
  private readonly groups = new Map<string, GroupState>();
  private readonly waiting: (() => void)[] = [];
  private runningCount = 0;
  private stopping = false;

  constructor(
    private readonly context: Context,
    settings: Partial<EngineSettings> = {},
    options: { store?: RunStore; executeHere?: boolean } = {},
  ) {
    this.store = options.store ?? openRunStore(context);
    this.queued = this.store instanceof PostgresRunStore && !options.executeHere;
    this.settings = { ...defaultEngineSettings(), ...settings };
  }

  async dispatch(workflow: LoadedWorkflow, options: DispatchOptions): Promise<DispatchedRun> {
    const inputs = resolveInputs(workflow, options.inputs ?? {});
    const vars = options.vars ?? {};
    const secrets = await new SecretStore(this.context).readAll();
    const concurrency = this.concurrency(workflow, inputs, vars);
    const record: NewRun = {
      workflow: workflow.id,
      workflowName: workflow.name,
      file: workflow.file,
      event: options.event,
      // The record keeps inputs masked; the run itself reads the values given.
      inputs: new Masker(secrets.values()).maskDeep(inputs),
      concurrencyGroup: concurrency?.group,
      scheduleKey: options.scheduleKey,
      plannedAt: options.plannedAt,
    };
    if (this.queued) {
      const payload: RunPayload = { source: workflow.source, file: workflow.file, inputs, vars };
      const run = await this.store.createRun({
        ...record,
        cancelInProgress: concurrency?.cancelInProgress,
        labels: runLabels(workflow),
        payload: (await secretBoxFor(this.context)).encrypt(JSON.stringify(payload), PAYLOAD_LABEL),
      });
      const store = this.store;
      // A getter, so that only a caller that waits starts polling the store.
      return {
        run,
        get done() {
          return waitForRun(store, run.id);
        },
      };
    }
    const run = await this.store.createRun(record);
    const workspace = options.workspace ?? this.context.dataDir.path('workspaces', workflow.id);
    const done = this.start(run, concurrency, async () => {
      const execution = new RunExecution(
        this.context,
        this.store,
        run,
        { workflow, inputs, vars, secrets, workspace },
        this.settings,
      );
      this.executions.set(run.id, execution);
      try {
        return await execution.execute();
      } finally {
        this.executions.delete(run.id);
      }
    });
    this.finished.set(run.id, done);
    void done.finally(() => this.finished.delete(run.id));
    return { run, done };
  }

  /** Cancels a run: at once when this process runs it, otherwise through the store. */
  async cancel(runId: number): Promise<RunRecord> {
    const run = await this.store.requestCancel(runId);
    this.executions.get(runId)?.cancel();
    for (const state of this.groups.values()) {
      if (state.pending?.runId === runId) {
        state.pending.admit(false);
        state.pending = undefined;
      }
    }
    return run;
  }

  /** Resolves when a run started by this engine finishes. */
  wait(runId: number): Promise<RunRecord> | undefined {
    return this.finished.get(runId);
  }

  /** Stops every run of this process; they end as `interrupted`. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const execution of this.executions.values()) execution.interrupt();
    for (const state of this.groups.values()) state.pending?.admit(false);
    await Promise.allSettled([...this.finished.values()]);
    if (this.store instanceof PostgresRunStore) await this.store.close();
  }

  private concurrency(
    workflow: LoadedWorkflow,
    inputs: Record<string, unknown>,
    vars: Record<string, string>,
  ): { group: string; cancelInProgress: boolean } | undefined {
    const setting = workflow.definition.concurrency;
    if (setting === undefined) return undefined;
    const spec = typeof setting === 'string' ? { group: setting } : setting;
    const expressions = new ExpressionScope({
      github: { workflow: workflow.name, event: { inputs } },
      inputs,
      vars,
    });
    const group = String(expressions.render(parseTemplate(spec.group)));
    const flag = spec['cancel-in-progress'];
    let cancelInProgress = false;
    if (typeof flag === 'boolean') cancelInProgress = flag;
    else if (flag !== undefined)
      cancelInProgress = String(expressions.render(parseTemplate(flag))) === 'true';
    return { group, cancelInProgress };
  }

  private async start(
    run: RunRecord,
    concurrency: { group: string; cancelInProgress: boolean } | undefined,
    execute: () => Promise<RunRecord>,
  ): Promise<RunRecord> {
    if (
      concurrency &&
      !(await this.admit(run.id, concurrency.group, concurrency.cancelInProgress))
    ) {
      await this.store.finishRun(run.id, {
        status: 'cancelled',
        error: `Cancelled: a newer run of concurrency group "${concurrency.group}" replaced it, or it was cancelled while pending.`,
      });
      return await this.store.getRun(run.id);
    }
    await this.acquireSlot();
    try {
      if (this.stopping) {
        await this.store.finishRun(run.id, {
          status: 'interrupted',
          error: 'The server stopped before the run started.',
        });
        return await this.store.getRun(run.id);
      }
      if (
        (await this.store.touchRun(run.id)) === 'cancel' ||
        !(await this.store.claimRun(run.id, OWNER))
      ) {
        await this.store.finishRun(run.id, {
          status: 'cancelled',
          error: 'Cancelled before it started.',
        });
        return await this.store.getRun(run.id);
      }
      return await execute();
    } finally {
      this.releaseSlot();
      if (concurrency) this.release(run.id, concurrency.group);
    }
  }

  /** Waits until the run may start in its group; resolves false when it was superseded. */
  private admit(runId: number, group: string, cancelInProgress: boolean): Promise<boolean> {
    const state = this.groups.get(group) ?? {};
    this.groups.set(group, state);
    if (state.pending) {
      state.pending.admit(false);
      state.pending = undefined;
    }
    if (state.running === undefined) {
      state.running = runId;
      return Promise.resolve(true);
    }
    if (cancelInProgress) this.executions.get(state.running)?.cancel();
    return new Promise((resolve) => {
      state.pending = { runId, admit: resolve };
    });
  }

  private release(runId: number, group: string): void {
    const state = this.groups.get(group);
    if (!state || state.running !== runId) return;
    const pending = state.pending;
    if (pending) {
      state.running = pending.runId;
      state.pending = undefined;
      pending.admit(true);
    } else {
      this.groups.delete(group);
    }
  }

  private acquireSlot(): Promise<void> {
    if (this.runningCount < this.settings.maxParallelRuns) {
      this.runningCount++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.runningCount--;
  }
}

/** Waits for a run executed elsewhere (by a worker) to finish, reading the store twice a second. */
export async function waitForRun(store: RunStore, id: number): Promise<RunRecord> {
  for (;;) {
    const run = await store.getRun(id);
    if (FINISHED_RUN_STATUSES.includes(run.status)) return run;
    await sleep(500);
  }
}

const engines = new WeakMap<Context, WorkflowEngine>();

/** Returns the engine of a long-lived context (the server's), shared by its routes and scheduler. */
export function engineFor(context: Context): WorkflowEngine {
  let engine = engines.get(context);
  if (!engine) {
    engine = new WorkflowEngine(context);
    engines.set(context, engine);
  }
  return engine;
}
