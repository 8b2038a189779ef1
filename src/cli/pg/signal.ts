import { cancelBackend, findBackend, terminateBackend } from '../../postgres/index.js';
import type { CommandSpec } from '../command.js';
import { confirm, info, printJson } from '../output.js';
import {
  CONNECTION_OPTIONS,
  connectionOptions,
  JSON_OPTION,
  parsePid,
  YES_OPTION,
} from './common.js';

function signalCommand(signal: 'cancel' | 'terminate'): CommandSpec {
  const action = signal === 'cancel' ? cancelBackend : terminateBackend;
  return {
    name: `${signal} <pid> [url]`,
    summary:
      signal === 'cancel'
        ? "Cancel a backend's current query (the session stays)"
        : "Terminate a backend's session",
    description:
      `${signal === 'cancel' ? 'Cancels the current query of' : 'Ends the session of'} backend PID after checking that the pid ` +
      'still belongs to the same backend (pid and backend_start), so a reused pid is never signalled.',
    options: [
      ...CONNECTION_OPTIONS,
      {
        flags: '--backend-start <timestamp>',
        description:
          'signal only if the backend started at this time (backend_start from pg activity --json)',
      },
      YES_OPTION,
      JSON_OPTION,
    ],
    async run(input) {
      const pid = parsePid(input.args[0]!);
      const connection = connectionOptions(input, input.args[1]);
      const backend = await findBackend({ ...connection, pid });
      const what = `${signal === 'cancel' ? 'Cancel the query of' : 'Terminate'} backend ${pid} (${backend.user ?? 'unknown role'}, ${backend.state ?? 'unknown state'}: ${(backend.query ?? '').replace(/\s+/g, ' ').slice(0, 60)})?`;
      await confirm(what, { yes: input.options.yes });
      const result = await action({
        ...connection,
        pid,
        backendStart: input.options.backendStart ?? backend.backend_start ?? undefined,
      });
      if (input.options.json) printJson(result);
      else info(`${signal === 'cancel' ? 'Cancelled the query of' : 'Terminated'} backend ${pid}.`);
    },
  };
}

export const cancelCommand = signalCommand('cancel');
export const terminateCommand = signalCommand('terminate');
