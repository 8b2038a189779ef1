import { UserError } from '../../core/errors.js';
import { BackupService, type BackupInfo } from '../../databases/backups.js';
import type { CommandSpec } from '../command.js';
import { confirm, formatBytes, info, printJson, printTable } from '../output.js';

const json = { flags: '--json', description: 'print as JSON' };

function backupJson(backup: BackupInfo) {
  return {
    id: backup.id,
    database: backup.database,
    created_at: backup.createdAt,
    size: backup.sizeBytes,
  };
}

export const backupCreate: CommandSpec = {
  name: 'create <name>',
  summary: 'take a consistent backup while writes go on',
  options: [
    {
      flags: '--to <bucket[/prefix]>',
      description: 'also store the backup as an object in this bucket',
    },
    json,
  ],
  async run({ args: [name], options, context }) {
    const service = new BackupService(context);
    if (options.to) {
      const stored = await service.createInBucket(name!, options.to);
      if (options.json)
        return printJson({ ...backupJson(stored), bucket: stored.bucket, key: stored.key });
      info(
        `Created backup ${stored.id} of "${stored.database}" (${formatBytes(stored.sizeBytes)}) and stored it as ${stored.bucket}/${stored.key}.`,
      );
      return;
    }
    const backup = service.create(name!);
    if (options.json) return printJson(backupJson(backup));
    info(`Created backup ${backup.id} of "${backup.database}" (${formatBytes(backup.sizeBytes)}).`);
  },
};

export const backupList: CommandSpec = {
  name: 'list <name>',
  summary: 'list backups of a database, oldest first',
  options: [json],
  run({ args: [name], options, context }) {
    const backups = new BackupService(context).list(name!);
    if (options.json) return printJson(backups.map(backupJson));
    printTable(
      ['id', 'created', 'size'],
      backups.map((b) => [b.id, b.createdAt, formatBytes(b.sizeBytes)]),
      `No backups. Create one with \`opsbox db backup create ${name}\`.`,
    );
  },
};

export const backupDownload: CommandSpec = {
  name: 'download <name> <backup-id>',
  summary: 'copy a backup (or "latest") to a SQLite file',
  options: [
    { flags: '--output <file>', description: 'file to write (default: <name>-<backup-id>.sqlite)' },
    json,
  ],
  run({ args: [name, id], options, context }) {
    const service = new BackupService(context);
    const backup = service.get(name!, id!);
    const output = options.output ?? `${backup.database}-${backup.id}.sqlite`;
    service.download(name!, backup.id, output);
    if (options.json) return printJson({ ...backupJson(backup), output });
    info(`Wrote backup ${backup.id} to ${output}.`);
  },
};

export const backupRestore: CommandSpec = {
  name: 'restore <name> [backup-id]',
  summary:
    'replace a database with a backup or a SQLite file, keeping a backup of the current state',
  options: [
    {
      flags: '--from-file <file>',
      description: 'restore from this SQLite file instead of a stored backup',
    },
    {
      flags: '--from <bucket/key>',
      description:
        'restore from a SQLite object in a bucket, such as one stored with `backup create --to`',
    },
    { flags: '-y, --yes', description: 'skip the confirmation' },
    json,
  ],
  async run({ args: [name, id], options, context }) {
    const sources = [id, options.fromFile, options.from].filter((source) => source !== undefined);
    if (sources.length > 1)
      throw new UserError('usage', 'Pass only one of a backup id, --from-file or --from.');
    if (sources.length === 0)
      throw new UserError(
        'usage',
        `Missing backup: pass a backup id (see \`opsbox db backup list ${name}\`), "latest", --from-file FILE or --from BUCKET/KEY.`,
      );
    await confirm(`Replace database "${name}" with ${id ? `backup ${id}` : sources[0]}?`, {
      yes: options.yes,
    });
    const service = new BackupService(context);
    const outcome = options.from
      ? await service.restoreFromBucket(name!, options.from)
      : service.restore(name!, { id, file: options.fromFile });
    if (options.json)
      return printJson({
        restored: 'id' in outcome.restored ? backupJson(outcome.restored) : outcome.restored,
        previous: backupJson(outcome.previous),
      });
    info(`Restored "${name}". The state before the restore is backup ${outcome.previous.id}.`);
  },
};
