import type { CommandGroupSpec } from '../command.js';
import { doctorCommand } from './doctor.js';
import {
  activityCommand,
  cacheCommand,
  indexesCommand,
  replicationCommand,
  sizesCommand,
} from './inspect.js';
import { cancelCommand, terminateCommand } from './signal.js';
import { slotsCommand } from './slots.js';
import { copyCommand, dumpCommand, restoreCommand } from './transfer.js';
import { tunnelCommand } from './tunnel.js';
import { usersCommand } from './users.js';
import { vacuumCommand } from './vacuum.js';

export const pgCommands: CommandGroupSpec = {
  name: 'pg',
  summary:
    'PostgreSQL runbook: doctor, activity, sizes, indexes, replication, users, vacuum, dump/restore, bastion tunnel',
  commands: [
    doctorCommand,
    activityCommand,
    cancelCommand,
    terminateCommand,
    sizesCommand,
    indexesCommand,
    cacheCommand,
    replicationCommand,
    slotsCommand,
    usersCommand,
    vacuumCommand,
    dumpCommand,
    restoreCommand,
    copyCommand,
    tunnelCommand,
  ],
};
