import { vacuum } from '../../postgres/index.js';
import type { CommandSpec } from '../command.js';
import { confirm, info, printJson } from '../output.js';
import {
  CONNECTION_OPTIONS,
  connectionOptions,
  isUrl,
  JSON_OPTION,
  progressBar,
  YES_OPTION,
} from './common.js';

export const vacuumCommand: CommandSpec = {
  name: 'vacuum [table] [url]',
  summary:
    'VACUUM a table (or the whole database) with progress; --full rewrites it under an exclusive lock',
  options: [
    ...CONNECTION_OPTIONS,
    { flags: '--analyze', description: 'also refresh planner statistics' },
    {
      flags: '--full',
      description:
        'rewrite the table to return space to the OS (locks it against reads and writes; asks first)',
    },
    YES_OPTION,
    JSON_OPTION,
  ],
  async run(input) {
    const [first, second] = input.args;
    const table = isUrl(first) ? undefined : first;
    const url = isUrl(first) ? first : second;
    if (input.options.full) {
      await confirm(
        `VACUUM FULL locks ${table ?? 'every table of the database'} against reads and writes until it finishes. Continue?`,
        { yes: input.options.yes },
      );
    }
    const bar = progressBar('vacuum');
    try {
      const result = await vacuum({
        ...connectionOptions(input, url),
        table,
        analyze: input.options.analyze,
        full: input.options.full,
        onProgress: (progress) =>
          bar.update(
            progress.blocksDone,
            Math.max(progress.blocksTotal, progress.blocksDone),
            `${progress.table ?? ''} ${progress.phase}`,
          ),
      });
      bar.stop();
      if (input.options.json) printJson(result);
      else
        info(
          `Vacuumed ${result.table ?? 'the database'}${result.analyze ? ' and analyzed' : ''} in ${(result.durationMs / 1000).toFixed(1)} s${result.deadRowsAfter !== null ? `; ${result.deadRowsAfter} dead rows left` : ''}.`,
        );
    } finally {
      bar.stop();
    }
  },
};
