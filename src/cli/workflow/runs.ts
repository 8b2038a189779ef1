import { openRunStore } from '../../workflows/engine.js';
import { RUN_STATUSES, parseRunLimit } from '../../workflows/run-filter.js';
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
      choices: [...RUN_STATUSES],
    },
    { flags: '--json', description: 'print as JSON' },
  ],
  async run({ args: [workflow], options, context }) {
    const limit = parseRunLimit(options.limit, '--limit', 'usage');
    const runs = await openRunStore(context).listRuns({ workflow, status: options.status, limit });
    if (options.json) return printJson(runs);
    printTable(
      RUN_COLUMNS,
      runs.map(runRow),
      'No runs yet. Start one with `opsbox workflow run NAME`.',
    );
  },
};
