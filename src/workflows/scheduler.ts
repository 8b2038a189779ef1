import { statSync } from 'node:fs';

import { Cron } from 'croner';

import type { Context } from '../core/context.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { listWorkflowFiles, loadWorkflowFile } from './catalog.js';
import type { WorkflowEngine } from './engine.js';
import { scheduleKey, type LoadedWorkflow, type Schedule } from './parse.js';
import type { RunStore } from './store.js';

export interface SchedulerOptions {
  /** How often schedules are checked; fires start within this delay of their planned instant. */
  tickMs?: number;
  /**
   * How late a fire may start and still count as on time. A fire later than
   * this was missed (the server was down or busy) and follows the
   * workflow's `missed-runs` policy.
   */
  graceMs?: number;
  /** The clock, replaceable in tests. */
  now?: () => Date;
}

/** At most this many missed fires of one schedule are looked at after a long downtime. */
const MAX_MISSED_FIRES = 1000;

interface CachedWorkflow {
  mtimeMs: number;
  workflow?: LoadedWorkflow;
}

/**
 * Starts scheduled runs. Each fire is recorded under the primary key
 * (schedule, planned UTC instant) before its run starts, so however many
 * schedulers share the state store, a fire runs at most once. Planned
 * instants come from croner, one `nextRun` at a time: a fixed time in a
 * skipped DST hour moves to the first valid instant after the gap, and a
 * fixed time in a repeated hour fires once.
 */
export class Scheduler {
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private readonly cursors = new Map<string, Date>();
  private readonly files = new Map<string, CachedWorkflow>();
  private readonly store: RunStore;
  private readonly logger: Logger;
  private readonly tickMs: number;
  private readonly graceMs: number;
  private readonly now: () => Date;

  constructor(
    private readonly context: Context,
    private readonly engine: WorkflowEngine,
    options: SchedulerOptions = {},
  ) {
    this.store = engine.store;
    this.logger = context.logger.child({ component: 'scheduler' });
    this.tickMs = options.tickMs ?? 1000;
    this.graceMs = options.graceMs ?? 60_000;
    this.now = options.now ?? (() => new Date());
  }

  start(): void {
    const loop = () => {
      this.ticking = this.tick()
        .catch((error) =>
          this.logger.error({ err: errorMessage(error) }, 'workflow:schedule:error'),
        )
        .finally(() => {
          if (this.timer) this.timer = setTimeout(loop, this.tickMs).unref();
        });
    };
    // Unreferenced: the server's listener keeps the process alive, never the scheduler alone.
    this.timer = setTimeout(loop, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** Checks every schedule once and starts the fires that are due. */
  async tick(): Promise<void> {
    const now = this.now();
    for (const workflow of await this.workflows()) {
      for (const schedule of workflow.schedules) await this.fireDue(workflow, schedule, now);
    }
  }

  /** Loads the workflows folder, parsing only files that changed; a broken file is logged once and skipped. */
  private async workflows(): Promise<LoadedWorkflow[]> {
    const files = listWorkflowFiles(this.context);
    for (const file of [...this.files.keys()]) if (!files.includes(file)) this.files.delete(file);
    const loaded: LoadedWorkflow[] = [];
    for (const file of files) {
      let mtimeMs: number;
      try {
        mtimeMs = statSync(file).mtimeMs;
      } catch {
        continue;
      }
      let cached = this.files.get(file);
      if (!cached || cached.mtimeMs !== mtimeMs) {
        cached = { mtimeMs };
        try {
          cached.workflow = await loadWorkflowFile(file);
        } catch (error) {
          this.logger.error({ file, err: errorMessage(error) }, 'workflow:load:error');
        }
        this.files.set(file, cached);
      }
      if (cached.workflow) loaded.push(cached.workflow);
    }
    return loaded;
  }

  private async fireDue(workflow: LoadedWorkflow, schedule: Schedule, now: Date): Promise<void> {
    const key = scheduleKey(workflow.id, schedule);
    const due = await this.dueInstants(key, schedule, now);
    if (due.length === 0) return;
    this.cursors.set(key, due[due.length - 1]!);

    const policy = workflow.definition['missed-runs'] ?? 'skip';
    const enabled = await this.store.isEnabled(workflow.id);
    for (const [index, planned] of due.entries()) {
      const plannedAt = planned.toISOString();
      const late = now.getTime() - planned.getTime() > this.graceMs;
      const isLast = index === due.length - 1;
      let skipReason: string | undefined;
      if (!enabled) skipReason = 'the workflow is disabled';
      else if (late && !(policy === 'run-once' && isLast))
        skipReason = `missed: opsbox was not running at the planned time (missed-runs: ${policy})`;
      if (skipReason) {
        if (
          await this.store.claimFire({
            scheduleKey: key,
            plannedAt,
            workflow: workflow.id,
            status: 'skipped',
            reason: skipReason,
          })
        ) {
          this.logger.info(
            { workflow: workflow.id, plannedAt, reason: skipReason },
            'workflow:schedule:skip',
          );
        }
        continue;
      }
      const reason = late
        ? 'missed while opsbox was not running; started once (missed-runs: run-once)'
        : undefined;
      if (
        !(await this.store.claimFire({
          scheduleKey: key,
          plannedAt,
          workflow: workflow.id,
          status: 'started',
          reason,
        }))
      )
        continue;
      await this.startRun(workflow, key, plannedAt);
    }
  }

  private async startRun(workflow: LoadedWorkflow, key: string, plannedAt: string): Promise<void> {
    try {
      const { run } = await this.engine.dispatch(workflow, {
        event: 'schedule',
        scheduleKey: key,
        plannedAt,
      });
      await this.store.linkFire(key, plannedAt, run.id);
      this.logger.info({ workflow: workflow.id, plannedAt, run: run.id }, 'workflow:schedule:fire');
    } catch (error) {
      await this.store
        .failFire(key, plannedAt, `could not start: ${errorMessage(error)}`)
        .catch(() => undefined);
      this.logger.error(
        { workflow: workflow.id, plannedAt, err: errorMessage(error) },
        'workflow:schedule:error',
      );
    }
  }

  /**
   * Lists the planned instants after the schedule's cursor up to now. The
   * cursor is the last recorded fire; a schedule never fired starts from the
   * moment this scheduler first saw it, so a new workflow does not replay
   * the past.
   */
  private async dueInstants(key: string, schedule: Schedule, now: Date): Promise<Date[]> {
    let cursor = this.cursors.get(key);
    if (!cursor) {
      const last = await this.store.lastFire(key);
      cursor = last ? new Date(last) : now;
      this.cursors.set(key, cursor);
    }
    const cron = new Cron(schedule.cron, {
      timezone: schedule.timezone,
      paused: true,
      mode: '5-part',
    });
    const due: Date[] = [];
    let next = cron.nextRun(cursor);
    while (next && next.getTime() <= now.getTime()) {
      due.push(next);
      if (due.length > MAX_MISSED_FIRES) due.shift();
      next = cron.nextRun(next);
    }
    return due;
  }
}
