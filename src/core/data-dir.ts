import { mkdirSync } from 'node:fs';
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
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}
