import { mkdirSync, statSync } from 'node:fs';

import { UserError, errorMessage } from './errors.js';
import path from 'node:path';

/**
 * Layout of the data directory. Everything opsbox owns lives under it, so a
 * copy of the folder is a full backup of an embedded install.
 */
export const LAYOUT = {
  state: 'state.db',
  databases: 'databases',
  backups: 'backups',
  buckets: 'buckets',
  workflows: 'workflows',
  runs: 'runs',
  secretKey: 'secret.key',
  tmp: 'tmp',
} as const;

export const DEFAULT_DATA_DIR = '.opsbox';

/** Resolves the data directory from a flag, then OPSBOX_DATA_DIR, then `.opsbox`. */
export function resolveDataDir(flag?: string, env = process.env): string {
  const chosen = flag ?? env.OPSBOX_DATA_DIR ?? DEFAULT_DATA_DIR;
  return path.resolve(chosen);
}

export class DataDir {
  constructor(readonly root: string) {}

  path(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  /** Returns the path of a subfolder, creating it (and the root) when missing. */
  ensure(...parts: string[]): string {
    const dir = this.path(...parts);
    createDirectory(dir);
    return dir;
  }
}

/**
 * Creates a directory and its missing parents one level at a time. Node 20's
 * recursive mkdirSync loops forever under /proc, and its errors name no fix.
 */
function createDirectory(dir: string): void {
  const missing: string[] = [];
  let current = dir;
  for (;;) {
    const stats = statSync(current, { throwIfNoEntry: false });
    if (stats?.isDirectory()) break;
    if (stats) throw unusable(dir, `${current} is not a directory`);
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw unusable(dir, errorMessage(error));
    }
  }
}

function unusable(dir: string, reason: string): UserError {
  return new UserError(
    'unavailable',
    `Cannot use the data directory ${dir}: ${reason}. Pass a writable folder with --data-dir or OPSBOX_DATA_DIR.`,
    { code: 'DATA_DIR_UNUSABLE' },
  );
}
