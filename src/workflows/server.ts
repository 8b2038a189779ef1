import type { Context } from '../core/context.js';
import { secretBoxFor } from '../secrets/shared-key.js';
import type { ServerExtension } from '../server/extensions.js';
import { listWorkflowFiles } from './catalog.js';
import { engineFor } from './engine.js';
import { removeStaleRunFolders } from './runner.js';
import { Scheduler } from './scheduler.js';
import { PostgresRunStore } from './store-postgres.js';
import { Reaper } from './worker.js';

/**
 * The workflow part of `opsbox serve`. Embedded, it marks runs left
 * unfinished by a previous server process as interrupted, runs the scheduler
 * and executes runs itself. On stop, runs still executing end as
 * `interrupted`. With the PostgreSQL store it runs the scheduler and the
 * reaper of lost runs, and `opsbox worker` processes execute the runs.
 */
export const workflowsExtension: ServerExtension = {
  name: 'workflows',
  async start(context: Context) {
    const engine = engineFor(context);
    const store = engine.store;
    const reaper =
      store instanceof PostgresRunStore ? new Reaper(store, context.logger) : undefined;
    if (reaper) {
      // Fail at start, as a worker does, when the shared store is unusable or the key differs.
      await (store as PostgresRunStore).ready();
      await secretBoxFor(context);
      await reaper.sweep();
      reaper.start();
    } else {
      const interrupted = await store.markInterrupted();
      if (interrupted.length > 0)
        context.logger.warn({ runs: interrupted }, 'workflow:run:interrupted');
    }
    const removed = await removeStaleRunFolders(context, store);
    if (removed > 0) context.logger.info({ folders: removed }, 'workflow:cleanup');
    const scheduler = new Scheduler(context, engine);
    scheduler.start();
    const count = listWorkflowFiles(context).length;
    const where = engine.queued
      ? `runs go to the queue in PostgreSQL at ${context.postgres!.displayUrl} for \`opsbox worker\``
      : 'runs execute in this process';
    return {
      banner: [
        `Workflows: ${count} file${count === 1 ? '' : 's'} in ${context.dataDir.path('workflows')}; the scheduler is running; ${where}.`,
      ],
      async stop() {
        await scheduler.stop();
        await reaper?.stop();
        await engine.stop();
      },
    };
  },
};
