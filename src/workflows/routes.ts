import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import type { FastifyInstance } from 'fastify';

import type { Context } from '../core/context.js';
import { UserError } from '../core/errors.js';
import { envelope } from '../server/app.js';
import { listWorkflows, resolveWorkflow } from './catalog.js';
import { engineFor } from './engine.js';
import { parseRunLimit, parseRunStatus } from './run-filter.js';
import { formatLogLine } from './run-log.js';
import { FINISHED_RUN_STATUSES, runDetails, type RunStore } from './store.js';

interface RunParams {
  id: string;
}

/**
 * Registers the workflow API: list workflows, dispatch a run, list and show runs,
 * cancel one, and stream a run's log while it is written.
 */
export function registerWorkflowRoutes(app: FastifyInstance, context: Context): void {
  const engine = () => engineFor(context);

  app.get('/workflows', async () => {
    const store = engine().store;
    const entries = await listWorkflows(context);
    return envelope(
      await Promise.all(
        entries.map(async (entry) => ({
          id: entry.id,
          name: entry.workflow?.name ?? entry.id,
          enabled: await store.isEnabled(entry.id),
          schedules:
            entry.workflow?.schedules.map((s) => ({ cron: s.cron, timezone: s.timezone })) ?? [],
          error: entry.error ?? null,
        })),
      ),
    );
  });

  app.post<{
    Params: { workflow: string };
    Body: { inputs?: Record<string, unknown> } | undefined;
  }>('/workflows/:workflow/dispatches', async (request, reply) => {
    const inputs = request.body?.inputs ?? {};
    if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
      throw new UserError(
        'invalid',
        'Invalid body: "inputs" must be an object of input names to values.',
      );
    }
    const workflow = await resolveWorkflow(context, safeName(request.params.workflow));
    const { run } = await engine().dispatch(workflow, { event: 'workflow_dispatch', inputs });
    reply.code(201);
    return envelope(run);
  });

  app.get<{ Querystring: { workflow?: string; status?: unknown; limit?: unknown } }>(
    '/workflows/runs',
    async (request) => {
      const { status, limit } = request.query;
      return envelope(
        await engine().store.listRuns({
          workflow: request.query.workflow,
          status:
            status === undefined ? undefined : parseRunStatus(String(status), 'status', 'invalid'),
          limit: limit === undefined ? 50 : parseRunLimit(String(limit), 'limit', 'invalid'),
        }),
      );
    },
  );

  app.get<{ Params: RunParams }>('/workflows/runs/:id', async (request) => {
    return envelope(await runDetails(engine().store, runId(request.params.id)));
  });

  app.post<{ Params: RunParams }>('/workflows/runs/:id/cancel', async (request, reply) => {
    const run = await engine().cancel(runId(request.params.id));
    reply.code(202);
    return envelope(run);
  });

  app.get<{ Params: RunParams; Querystring: { follow?: string; format?: string } }>(
    '/workflows/runs/:id/logs',
    async (request, reply) => {
      const store = engine().store;
      const id = runId(request.params.id);
      await store.getRun(id);
      const json = request.query.format === 'json';
      const follow = request.query.follow === 'true' || request.query.follow === '1';
      reply.header('content-type', json ? 'application/x-ndjson' : 'text/plain; charset=utf-8');
      reply.header('cache-control', 'no-cache');
      return reply.send(Readable.from(streamLog(store, id, follow, json)));
    },
  );
}

/**
 * Yields a run's log from the start; with `follow`, keeps polling the file
 * until the run has finished and every line was sent. The stream ends when
 * the client disconnects, because Readable.from stops the generator.
 */
async function* streamLog(
  store: RunStore,
  id: number,
  follow: boolean,
  json: boolean,
): AsyncGenerator<string> {
  let offset = 0;
  for (;;) {
    // Read before the lines, so that the last read after the end gets every line.
    const finished = FINISHED_RUN_STATUSES.includes((await store.getRun(id)).status);
    const chunk = await store.readLog(id, offset);
    offset = chunk.offset;
    if (chunk.lines.length > 0) {
      yield chunk.lines
        .map((line) => (json ? JSON.stringify(line) : formatLogLine(line)) + '\n')
        .join('');
      continue;
    }
    if (!follow || finished) return;
    await sleep(200);
  }
}

function runId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id <= 0)
    throw new UserError('invalid', `Invalid run id "${text}": use a positive integer.`);
  return id;
}

/** Rejects a workflow name that is not a plain id, so a URL can never name a file path. */
function safeName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.includes('..') || /\.ya?ml$/i.test(name)) {
    throw new UserError(
      'invalid',
      `Invalid workflow name "${name}": use the file name without .yml, as \`opsbox workflow list\` shows it.`,
    );
  }
  return name;
}
