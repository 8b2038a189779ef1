import type { CommandGroupSpec } from '../command.js';
import { backupCreate, backupDownload, backupList, backupRestore } from './backup.js';
import { executeCommand, importCommand } from './execute.js';
import { exportCommand } from './export.js';
import { createCommand, deleteCommand, infoCommand, listCommand } from './manage.js';

export const dbCommands: CommandGroupSpec = {
  name: 'db',
  summary: 'D1-style SQLite databases',
  commands: [
    createCommand,
    listCommand,
    infoCommand,
    deleteCommand,
    executeCommand,
    importCommand,
    exportCommand,
  ],
  subgroups: [
    {
      name: 'backup',
      summary: 'create, list, download and restore backups',
      commands: [backupCreate, backupList, backupDownload, backupRestore],
    },
  ],
};
