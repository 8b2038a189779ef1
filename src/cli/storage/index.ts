import type { CommandGroupSpec } from '../command.js';
import { keyCommand } from './key.js';
import { syncCommand } from './sync.js';

export { bucketCommands } from './bucket.js';
export { objectCommands } from './object.js';

export const storageCommands: CommandGroupSpec = {
  name: 'storage',
  summary: 'S3 access keys and sync between buckets, S3, R2 and Azure',
  commands: [keyCommand, syncCommand],
};
