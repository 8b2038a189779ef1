import { UserError } from '../../core/errors.js';
import { BackupService, type BackupInfo } from '../../databases/backups.js';
import type { CommandSpec } from '../command.js';
import { confirm, formatBytes, info, printJson, printTable } from '../output.js';

const json = { flags: '--json', description: 'print as JSON' };

function backupJson(backup: BackupInfo) {
  return { id: backup.id, database: backup.database, created_at: backup.createdAt, size: backup.sizeBytes };
}

export const backupCreate: CommandSpec = {
  name: 'create <name>',
  summary: 'take a consistent backup while writes go on',
  options: [json],
  run({ args: [name], options, context }) {
    const backup = new BackupService(context).create(name!);
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
    printTable(['id', 'created', 'size'], backups.map((b) => [b.id, b.createdAt, formatBytes(b.sizeBytes)]), `No backups. Create one with \`opsbox db backup create ${name}\`.`);
  },
};

export const backupDownload: CommandSpec = {
  name: 'download <name> <backup-id>',
  summary: 'copy a backup (or "latest") to a SQLite file',
  options: [{ flags: '--output <file>', description: 'file to write (default: <name>-<backup-id>.sqlite)' }, json],
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
  summary: 'replace a database with a backup or a SQLite file, keeping a backup of the current state',
  options: [
    { flags: '--from-file <file>', description: 'restore from this SQLite file instead of a stored backup' },
    { flags: '-y, --yes', description: 'skip the confirmation' },
    json,
  ],
  async run({ args: [name, id], options, context }) {
    if (id && options.fromFile) throw new UserError('usage', 'Pass either a backup id or --from-file, not both.');
    if (!id && !options.fromFile) throw new UserError('usage', `Missing backup: pass a backup id (see \`opsbox db backup list ${name}\`), "latest", or --from-file FILE.`);
    await confirm(`Replace database "${name}" with ${id ? `backup ${id}` : options.fromFile}?`, { yes: options.yes });
    const outcome = new BackupService(context).restore(name!, { id, file: options.fromFile });
    if (options.json) return printJson({ restored: 'id' in outcome.restored ? backupJson(outcome.restored) : outcome.restored, previous: backupJson(outcome.previous) });
    info(`Restored "${name}". The state before the restore is backup ${outcome.previous.id}.`);
  },
};
