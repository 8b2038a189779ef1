import { UserError } from '../core/errors.js';
import { parseLabels } from '../workflows/labels.js';
import { WorkflowWorker } from '../workflows/worker.js';
import type { CommandSpec } from './command.js';
import { info, untilStopSignal } from './output.js';

export const workerCommand: CommandSpec = {
  name: 'worker',
  summary: 'execute queued workflow runs from the PostgreSQL state store',
  description:
    'Takes workflow runs that `opsbox serve` queued in the PostgreSQL state store (OPSBOX_DATABASE_URL) and executes them. ' +
    'Start any number of workers on any machines; each run executes once. Every worker and server needs the same ' +
    'OPSBOX_DATABASE_URL and OPSBOX_SECRET_KEY. On SIGINT or SIGTERM the worker stops its runs, which end as interrupted.',
  serverLogger: true,
  options: [
    {
      flags: '-c, --concurrency <count>',
      description: 'runs executed at once by this worker',
      default: '4',
    },
    {
      flags: '-l, --labels <list>',
      description:
        'comma-separated labels that `runs-on` can select, besides self-hosted, the OS and the architecture',
    },
  ],
  async run({ options, context }) {
    const concurrency = Number(options.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
      throw new UserError(
        'usage',
        `Invalid --concurrency "${options.concurrency}": use a number from 1 to 256.`,
      );
    const labels = options.labels === undefined ? [] : parseLabels(options.labels);
    const worker = new WorkflowWorker(context, { concurrency, labels });
    await worker.start();
    info(
      `Worker ${worker.id} takes runs from PostgreSQL at ${context.postgres!.displayUrl}, ${concurrency} at a time, with labels ${worker.labels.join(', ')}. Press Ctrl+C to stop.`,
    );
    await untilStopSignal(context.logger, 'worker:signal');
    info('Stopping: the running steps get SIGTERM. Press Ctrl+C again to kill them at once.');
    // A second signal records the runs as interrupted and exits; the step launcher then kills the steps.
    void untilStopSignal(context.logger, 'worker:signal:again').then(async () => {
      await worker.abandon();
      process.exit(130);
    });
    await worker.stop();
    context.close();
  },
};
