import { UserError } from '../../core/errors.js';
import { resolveWorkflow } from '../../workflows/catalog.js';
import { WorkflowEngine, openRunStore } from '../../workflows/engine.js';
import type { CommandGroupSpec, CommandSpec } from '../command.js';
import { info, printJson, printTable } from '../output.js';
import { parseRunId } from './format.js';
import { listCommand } from './list.js';
import { logsCommand } from './logs.js';
import { runCommand } from './run.js';
import { runsCommand } from './runs.js';
import { validateCommand } from './validate.js';
import { viewCommand } from './view.js';

const cancel: CommandSpec = {
  name: 'cancel <run>',
  summary: 'cancel a queued or running run (the process running it stops its steps)',
  options: [{ flags: '--json', description: 'print the run as JSON' }],
  async run({ args: [runText], options, context }) {
    const run = await new WorkflowEngine(context).cancel(parseRunId(runText!));
    if (options.json) return printJson(run);
    // The SQLite store leaves a cancelled queued run queued, and the process that
    // would start it finishes it as cancelled instead. PostgreSQL cancels it at once.
    if (run.status === 'queued' || run.status === 'cancelled')
      info(`Cancelled run ${run.id} while it was queued; it will not start.`);
    else info(`Cancel requested for run ${run.id}; its steps are being stopped.`);
  },
};

function toggle(enabled: boolean): CommandSpec {
  return {
    name: `${enabled ? 'enable' : 'disable'} <workflow>`,
    summary: enabled
      ? 'let the scheduler start a workflow again'
      : 'stop the scheduler from starting a workflow (dispatch still works)',
    options: [{ flags: '--json', description: 'print the setting as JSON' }],
    async run({ args: [reference], options, context }) {
      const workflow = await resolveWorkflow(context, reference!);
      await openRunStore(context).setEnabled(workflow.id, enabled);
      if (options.json) return printJson({ workflow: workflow.id, enabled });
      info(`Workflow ${workflow.id} is ${enabled ? 'enabled' : 'disabled'}.`);
    },
  };
}

const fires: CommandSpec = {
  name: 'fires [workflow]',
  summary: 'list schedule fires, started and skipped, newest first',
  options: [
    { flags: '-L, --limit <count>', description: 'maximum number of fires to list', default: '50' },
    { flags: '--json', description: 'print as JSON' },
  ],
  async run({ args: [workflow], options, context }) {
    const limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit <= 0)
      throw new UserError('usage', `Invalid --limit "${options.limit}": use a positive number.`);
    const list = await openRunStore(context).fires(workflow, limit);
    if (options.json) return printJson(list);
    printTable(
      ['planned (UTC)', 'workflow', 'status', 'run', 'reason'],
      list.map((f) => [f.plannedAt, f.workflow, f.status, f.runId ?? '-', f.reason ?? '']),
      'No schedule fires yet.',
    );
  },
};

export const workflowCommands: CommandGroupSpec = {
  name: 'workflow',
  summary: 'YAML workflows: run, list runs, read logs, cancel, enable and disable schedules',
  commands: [
    listCommand,
    validateCommand,
    runCommand,
    runsCommand,
    viewCommand,
    logsCommand,
    cancel,
    toggle(true),
    toggle(false),
    fires,
  ],
};
