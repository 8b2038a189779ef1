import { BackupService } from '../../databases/backups.js';
import type { ActionDefinition } from '../action.js';

const action: ActionDefinition = {
  name: 'db/backup',
  summary: 'take a consistent backup of an opsbox database (as `opsbox db backup create`)',
  description:
    'Copies the database with VACUUM INTO inside one read transaction, so writers running meanwhile never produce a torn copy.',
  inputs: {
    database: { description: 'the database name', type: 'string', required: true },
  },
  outputs: {
    id: { description: 'the backup id, for `opsbox db backup restore`' },
    path: { description: 'absolute path of the backup file' },
    bytes: { description: 'size of the backup in bytes' },
  },
  async run({ context, inputs, log }) {
    const backup = new BackupService(context).create(String(inputs.database));
    log(`Backed up ${backup.database} as ${backup.id} (${backup.sizeBytes} bytes).`);
    return { id: backup.id, path: backup.file, bytes: String(backup.sizeBytes) };
  },
};

export default action;
