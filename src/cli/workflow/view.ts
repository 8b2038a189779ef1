import type { JobRecord, RunRecord, RunStore, StepRecord } from '../../workflows/store.js';
import type { CommandSpec } from '../command.js';
import { printJson, printTable } from '../output.js';
import { RunStore as Store } from '../../workflows/store.js';
import { duration, parseRunId } from './format.js';

export interface RunDetails extends RunRecord {
  jobs: (JobRecord & { steps: StepRecord[] })[];
}

/** Loads a run with its jobs, each with its steps. */
export function runDetails(store: RunStore, id: number): RunDetails {
  const run = store.getRun(id);
  const steps = store.steps(id);
  const jobs = store
    .jobs(id)
    .map((job) => ({ ...job, steps: steps.filter((step) => step.jobKey === job.key) }));
  return { ...run, jobs };
}

export const viewCommand: CommandSpec = {
  name: 'view <run>',
  summary: 'show a run with its jobs, steps, outputs and summary',
  options: [{ flags: '--json', description: 'print as JSON' }],
  run({ args: [runId], options, context }) {
    const details = runDetails(new Store(context.state), parseRunId(runId!));
    if (options.json) return printJson(details);
    const out = process.stdout;
    out.write(
      `Run ${details.id}: ${details.workflowName} #${details.number} (${details.event}) ${details.status} in ${duration(details.startedAt, details.finishedAt)}\n`,
    );
    if (details.error) out.write(`Error: ${details.error}\n`);
    const rows: unknown[][] = [];
    for (const job of details.jobs) {
      rows.push([job.key, '', job.status, duration(job.startedAt, job.finishedAt)]);
      for (const step of job.steps)
        rows.push([
          '',
          `${step.number}. ${step.name}`,
          step.status,
          duration(step.startedAt, step.finishedAt),
        ]);
    }
    printTable(['job', 'step', 'status', 'duration'], rows, 'No jobs ran.');
    if (details.outputs && Object.keys(details.outputs).length > 0)
      out.write(`Outputs: ${JSON.stringify(details.outputs)}\n`);
    if (details.summary) out.write(`\n${details.summary}\n`);
  },
};
