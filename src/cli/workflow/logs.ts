import { setTimeout as sleep } from 'node:timers/promises';

import { openRunStore } from '../../workflows/engine.js';
import { formatLogLine } from '../../workflows/run-log.js';
import { FINISHED_RUN_STATUSES, type RunRecord } from '../../workflows/store.js';
import type { CommandSpec } from '../command.js';
import { info } from '../output.js';
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
    let printed = 0;
    let run: RunRecord;
    for (;;) {
      run = await store.getRun(id);
      const finished = FINISHED_RUN_STATUSES.includes(run.status);
      const chunk = await store.readLog(id, offset);
      offset = chunk.offset;
      printed += chunk.lines.length;
      for (const line of chunk.lines)
        process.stdout.write((options.json ? JSON.stringify(line) : formatLogLine(line)) + '\n');
      // Lines arrive in chunks of a bounded size: read on until one comes back empty.
      if (chunk.lines.length > 0) continue;
      if (!options.follow || finished) break;
      await sleep(200);
    }
    if (printed === 0 && run.startedAt === null) info(neverStartedNote(run));
    // A run that ended without its own last line (its worker was killed) still ends the follow with a reason.
    else if (options.follow && run.status === 'interrupted')
      info(`Run ${run.id} was interrupted: ${run.error ?? 'no reason was recorded'}`);
  },
};

/** Formats the stderr note for an empty log of a run that no process started. */
function neverStartedNote(run: RunRecord): string {
  const reason = run.status === 'queued' ? 'it has not started yet' : 'it never started';
  return `Run ${run.id} has no log lines: ${reason} (status ${run.status}).`;
}
