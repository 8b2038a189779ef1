import type { Context } from '../core/context.js';
import type { ServerExtension } from '../server/extensions.js';
import { listWorkflowFiles } from './catalog.js';
import { engineFor } from './engine.js';
import { Scheduler } from './scheduler.js';

/**
 * The workflow part of `opsbox serve`: marks runs left unfinished by a
 * previous server process as interrupted, then runs the scheduler. On stop,
 * runs still executing end as `interrupted` with their steps stopped.
 */
export const workflowsExtension: ServerExtension = {
  name: 'workflows',
  async start(context: Context) {
    const engine = engineFor(context);
    const interrupted = engine.store.markInterrupted();
    if (interrupted.length > 0)
      context.logger.warn({ runs: interrupted }, 'workflow:run:interrupted');
    const scheduler = new Scheduler(context, engine);
    scheduler.start();
    const count = listWorkflowFiles(context).length;
    return {
      banner: [
        `Workflows: ${count} file${count === 1 ? '' : 's'} in ${context.dataDir.path('workflows')}; the scheduler is running.`,
      ],
      async stop() {
        await scheduler.stop();
        await engine.stop();
      },
    };
  },
};
