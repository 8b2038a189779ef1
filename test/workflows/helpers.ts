import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { Context } from '../../src/core/context.js';
import { loadWorkflowFile } from '../../src/workflows/catalog.js';
import {
  WorkflowEngine,
  type DispatchOptions,
  type EngineSettings,
} from '../../src/workflows/engine.js';
import { readLog, runLogPath } from '../../src/workflows/run-log.js';
import type { JobRecord, RunRecord, StepRecord } from '../../src/workflows/store.js';

export interface FinishedRun {
  run: RunRecord;
  jobs: JobRecord[];
  steps: StepRecord[];
  /** Log lines as `job | text`. */
  log: string[];
}

let counter = 0;

/** Writes a workflow to a file in the context's data directory and runs it to the end. */
export async function runYaml(
  context: Context,
  yaml: string,
  options: Partial<DispatchOptions> & { settings?: Partial<EngineSettings>; name?: string } = {},
): Promise<FinishedRun> {
  const file = path.join(
    context.dataDir.ensure('files'),
    `${options.name ?? `workflow-${++counter}`}.yml`,
  );
  writeFileSync(file, yaml);
  const workflow = await loadWorkflowFile(file);
  const engine = new WorkflowEngine(context, { killGraceMs: 500, ...options.settings });
  const { done } = await engine.dispatch(workflow, {
    event: 'workflow_dispatch',
    workspace: context.dataDir.ensure('workspace'),
    ...options,
  });
  const run = await done;
  return finished(context, engine, run);
}

export async function finished(
  context: Context,
  engine: WorkflowEngine,
  run: RunRecord,
): Promise<FinishedRun> {
  return {
    run,
    jobs: await engine.store.jobs(run.id),
    steps: await engine.store.steps(run.id),
    log: readLog(runLogPath(context, run.id)).lines.map((line) =>
      line.job ? `${line.job} | ${line.text}` : line.text,
    ),
  };
}

/** Log lines of one job, without the lines opsbox writes itself (job start/finish, step headers). */
export function output(result: FinishedRun, job: string): string[] {
  return result.log
    .filter((line) => line.startsWith(`${job} | `))
    .map((line) => line.slice(job.length + 3))
    .filter((line) => !/^(Job .* (started|finished)|Run )/.test(line));
}
