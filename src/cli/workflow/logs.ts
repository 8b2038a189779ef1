import { setTimeout as sleep } from 'node:timers/promises';

import { openRunStore } from '../../workflows/engine.js';
import { formatLogLine } from '../../workflows/run-log.js';
import { FINISHED_RUN_STATUSES } from '../../workflows/store.js';
import type { CommandSpec } from '../command.js';
import { parseRunId } from './format.js';

export const logsCommand: CommandSpec = {
  name: 'logs <run>',
  summary: "print a run's log; --follow keeps printing until the run finishes",
  options: [
    { flags: '-f, --follow', description: 'wait for new lines until the run finishes' },
    { flags: '--json', description: 'print one JSON object per line (time, job, step, text)' },
  ],
  async run({ args: [runText], options, context }) {
    const id = parseRunId(runText!);
    const store = openRunStore(context);
    let offset = 0;
    for (;;) {
      const finished = FINISHED_RUN_STATUSES.includes((await store.getRun(id)).status);
      const chunk = await store.readLog(id, offset);
      offset = chunk.offset;
      for (const line of chunk.lines)
        process.stdout.write((options.json ? JSON.stringify(line) : formatLogLine(line)) + '\n');
      // Lines arrive in chunks of a bounded size: read on until one comes back empty.
      if (chunk.lines.length > 0) continue;
      if (!options.follow || finished) break;
      await sleep(200);
    }
  },
};
