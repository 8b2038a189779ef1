import { DatabaseCatalog } from '../../databases/catalog.js';
import type { CommandSpec } from '../command.js';
import { confirm, formatBytes, info, printJson, printTable } from '../output.js';

const json = { flags: '--json', description: 'print as JSON' };

export const createCommand: CommandSpec = {
  name: 'create <name>',
  summary: 'create an empty database',
  options: [json],
  run({ args: [name], options, context }) {
    const record = new DatabaseCatalog(context).create(name!);
    if (options.json)
      return printJson({ uuid: record.uuid, name: record.name, created_at: record.createdAt });
    info(`Created database "${record.name}" (${record.uuid}).`);
  },
};

export const listCommand: CommandSpec = {
  name: 'list',
  summary: 'list databases',
  options: [json],
  run({ options, context }) {
    const records = new DatabaseCatalog(context).list();
    if (options.json)
      return printJson(
        records.map((r) => ({ uuid: r.uuid, name: r.name, created_at: r.createdAt })),
      );
    printTable(
      ['name', 'uuid', 'created'],
      records.map((r) => [r.name, r.uuid, r.createdAt]),
      'No databases. Create one with `opsbox db create NAME`.',
    );
  },
};

export const infoCommand: CommandSpec = {
  name: 'info <name>',
  summary: 'show size, tables with row counts and creation time',
  options: [json],
  run({ args: [name], options, context }) {
    const details = new DatabaseCatalog(context).info(name!);
    if (options.json) {
      return printJson({
        uuid: details.uuid,
        name: details.name,
        created_at: details.createdAt,
        file_size: details.sizeBytes,
        num_tables: details.tables.length,
        tables: details.tables,
      });
    }
    printTable(
      ['name', 'uuid', 'created', 'size', 'tables'],
      [
        [
          details.name,
          details.uuid,
          details.createdAt,
          formatBytes(details.sizeBytes),
          details.tables.length,
        ],
      ],
    );
    printTable(
      ['table', 'rows'],
      details.tables.map((t) => [t.name, t.rows]),
      'No tables.',
    );
  },
};

export const deleteCommand: CommandSpec = {
  name: 'delete <name>',
  summary: 'delete a database (its backups are kept)',
  options: [{ flags: '-y, --yes', description: 'skip the confirmation' }, json],
  async run({ args: [name], options, context }) {
    const catalog = new DatabaseCatalog(context);
    const record = catalog.get(name!);
    await confirm(`Delete database "${record.name}" and all its data?`, { yes: options.yes });
    catalog.delete(record.uuid);
    if (options.json) return printJson({ uuid: record.uuid, name: record.name, deleted: true });
    info(
      `Deleted database "${record.name}". Its backups remain; list them with \`opsbox db backup list ${record.name}\`.`,
    );
  },
};
