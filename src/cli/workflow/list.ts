import { listWorkflows } from '../../workflows/catalog.js';
import { openRunStore } from '../../workflows/engine.js';
import type { CommandSpec } from '../command.js';
import { printJson, printTable } from '../output.js';

export const listCommand: CommandSpec = {
  name: 'list',
  summary: "list the workflows in the data directory's workflows folder",
  options: [{ flags: '--json', description: 'print as JSON' }],
  async run({ options, context }) {
    const store = openRunStore(context);
    const entries = [];
    for (const entry of await listWorkflows(context)) {
      const [lastRun] = await store.listRuns({ workflow: entry.id, limit: 1 });
      const definition = entry.workflow?.definition;
      entries.push({
        id: entry.id,
        name: entry.workflow?.name ?? entry.id,
        file: entry.file,
        enabled: await store.isEnabled(entry.id),
        schedules:
          entry.workflow?.schedules.map((s) => ({ cron: s.cron, timezone: s.timezone })) ?? [],
        dispatch: definition ? definition.on.workflow_dispatch !== undefined : false,
        lastRun: lastRun
          ? { id: lastRun.id, status: lastRun.status, createdAt: lastRun.createdAt }
          : null,
        error: entry.error ?? null,
      });
    }
    if (options.json) return printJson(entries);
    printTable(
      ['workflow', 'name', 'enabled', 'triggers', 'last run'],
      entries.map((e) => [
        e.id,
        e.error ? `invalid: ${e.error.split('\n').slice(-1)[0]}` : e.name,
        e.enabled ? 'yes' : 'no',
        [
          ...e.schedules.map(
            (s) => `cron ${s.cron}${s.timezone === 'UTC' ? '' : ` ${s.timezone}`}`,
          ),
          ...(e.dispatch ? ['dispatch'] : []),
        ].join(', ') || '-',
        e.lastRun ? `${e.lastRun.id} ${e.lastRun.status}` : '-',
      ]),
      'No workflows. Put a .yml file in the workflows folder of the data directory.',
    );
  },
};
