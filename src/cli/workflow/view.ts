import { openRunStore } from '../../workflows/engine.js';
import { runDetails } from '../../workflows/store.js';
import type { CommandSpec } from '../command.js';
import { printJson, printTable } from '../output.js';
import { duration, parseRunId } from './format.js';

export const viewCommand: CommandSpec = {
  name: 'view <run>',
  summary: 'show a run with its jobs, steps, outputs and summary',
  options: [{ flags: '--json', description: 'print as JSON' }],
  async run({ args: [runId], options, context }) {
    const details = await runDetails(openRunStore(context), parseRunId(runId!));
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
