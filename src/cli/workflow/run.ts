import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { resolveWorkflow } from '../../workflows/catalog.js';
import { WorkflowEngine } from '../../workflows/engine.js';
import { parseInputFlags } from '../../workflows/inputs.js';
import { formatLogLine } from '../../workflows/run-log.js';
import type { CommandSpec } from '../command.js';
import { info, printJson } from '../output.js';
import { runDetails } from '../../workflows/store.js';

export const runCommand: CommandSpec = {
  name: 'run <workflow>',
  summary: 'run a workflow now, in this process, and print its log (like act)',
  description:
    "Run a workflow file (a path) or an installed workflow (its name in the data directory's workflows folder) in this process. " +
    'The log streams to stdout while it runs. Exit code 0 means success, 1 a failed run, 130 a cancelled one. ' +
    'Steps of a file given by path run in the current directory; steps of an installed workflow run in its workspace in the data directory.',
  options: [
    {
      flags: '-i, --input <name=value>',
      description: 'a workflow_dispatch input (repeatable)',
      repeatable: true,
    },
    {
      flags: '--var <name=value>',
      description: 'a value of the vars context (repeatable)',
      repeatable: true,
    },
    {
      flags: '--json',
      description: 'print the finished run with its jobs and steps as JSON instead of the log',
    },
  ],
  async run({ args: [reference], options, context }) {
    const workflow = await resolveWorkflow(context, reference!);
    const engine = new WorkflowEngine(context, {}, { executeHere: true });
    await engine.store.markInterrupted();
    // The same test resolveWorkflow uses to read the argument as a path rather than a name.
    const isFile = /\.ya?ml$/i.test(reference!) && existsSync(reference!);
    const { run, done } = await engine.dispatch(workflow, {
      event: 'workflow_dispatch',
      inputs: parseInputFlags(options.input),
      vars: parseInputFlags(options.var),
      workspace: isFile ? process.cwd() : undefined,
    });

    const onSignal = () => void engine.cancel(run.id).catch(() => undefined);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let ended = false;
    const printing = (async () => {
      let offset = 0;
      for (;;) {
        // Read before the lines, so that the last read after the end gets every line.
        const last = ended;
        let chunk;
        try {
          chunk = await engine.store.readLog(run.id, offset);
        } catch {
          // The store is unreachable (PostgreSQL restarting): the run's own result reports it.
          if (last) return;
          await sleep(500);
          continue;
        }
        offset = chunk.offset;
        if (!options.json)
          for (const line of chunk.lines) process.stdout.write(formatLogLine(line) + '\n');
        if (chunk.lines.length > 0) continue;
        if (last) return;
        await sleep(100);
      }
    })();
    let finished;
    try {
      finished = await done;
    } finally {
      ended = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    await printing;

    if (options.json) printJson(await runDetails(engine.store, finished.id));
    else
      info(
        `Run ${finished.id} (${workflow.id} #${finished.number}) finished: ${finished.status}.${finished.error ? ` ${finished.error}` : ''}`,
      );
    if (finished.status === 'cancelled') process.exitCode = 130;
    else if (finished.status !== 'success') process.exitCode = 1;
  },
};
