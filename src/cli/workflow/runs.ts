import { UserError } from '../../core/errors.js';
import { openRunStore } from '../../workflows/engine.js';
import type { CommandSpec } from '../command.js';
import { printJson, printTable } from '../output.js';
import { RUN_COLUMNS, runRow } from './format.js';

export const runsCommand: CommandSpec = {
  name: 'runs [workflow]',
  summary: 'list recent runs, newest first',
  options: [
    { flags: '-L, --limit <count>', description: 'maximum number of runs to list', default: '20' },
    {
      flags: '-s, --status <status>',
      description: 'only runs with this status',
      choices: ['queued', 'running', 'success', 'failure', 'cancelled', 'interrupted'],
    },
    { flags: '--json', description: 'print as JSON' },
  ],
  async run({ args: [workflow], options, context }) {
    const limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit <= 0 || limit > 1000)
      throw new UserError(
        'usage',
        `Invalid --limit "${options.limit}": use a number from 1 to 1000.`,
      );
    const runs = await openRunStore(context).listRuns({ workflow, status: options.status, limit });
    if (options.json) return printJson(runs);
    printTable(
      RUN_COLUMNS,
      runs.map(runRow),
      'No runs yet. Start one with `opsbox workflow run NAME`.',
    );
  },
};
