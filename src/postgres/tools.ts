import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';

import { UserError } from '../core/errors.js';

export type ClientTool = 'pg_dump' | 'pg_restore' | 'psql';

export interface LocatedTool {
  path: string;
  /** Major version such as 15. */
  major: number;
  version: string;
}

/**
 * Finds a PostgreSQL client program: the given directory, then
 * OPSBOX_PG_BIN, then PATH, then the newest /usr/lib/postgresql/N/bin
 * (where Debian installs them without putting them on PATH).
 */
export function locateTool(
  tool: ClientTool,
  options: { binDir?: string; env?: Record<string, string | undefined> } = {},
): LocatedTool {
  const env = options.env ?? process.env;
  const candidates: string[] = [];
  if (options.binDir) candidates.push(options.binDir);
  if (env.OPSBOX_PG_BIN) candidates.push(env.OPSBOX_PG_BIN);
  candidates.push(...(env.PATH ?? '').split(path.delimiter).filter(Boolean));
  candidates.push(...debianBinDirs());

  for (const dir of candidates) {
    const file = path.join(dir, tool);
    try {
      accessSync(file, constants.X_OK);
    } catch {
      continue;
    }
    return { path: file, ...toolVersion(file) };
  }
  throw new UserError(
    'not_found',
    `${tool} not found; install the PostgreSQL client tools (Debian: postgresql-client) or pass --pg-bin-dir DIR.`,
    {
      code: 'PG_TOOL_NOT_FOUND',
    },
  );
}

function debianBinDirs(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a))
      .map((name) => `/usr/lib/postgresql/${name}/bin`);
  } catch {
    return [];
  }
}

function toolVersion(file: string): { major: number; version: string } {
  const result = spawnSync(file, ['--version'], { encoding: 'utf8' });
  const match = /\(PostgreSQL\) (\d+)(?:\.(\d+))?/.exec(result.stdout ?? '');
  if (!match) {
    throw new UserError(
      'unavailable',
      `Cannot read the version of ${file}: ${(result.stderr || result.stdout || '').trim() || 'no output'}.`,
      {
        code: 'PG_TOOL_BROKEN',
      },
    );
  }
  return { major: Number(match[1]), version: match[2] ? `${match[1]}.${match[2]}` : match[1]! };
}

/**
 * pg_dump refuses servers of a newer major version; this check says so
 * before anything is written, with the versions on both sides.
 */
export function requireToolForServer(
  tool: LocatedTool,
  toolName: ClientTool,
  serverVersionNum: number,
  serverVersion: string,
): void {
  const serverMajor = Math.floor(serverVersionNum / 10000);
  if (serverMajor > tool.major) {
    throw new UserError(
      'unavailable',
      `The server runs PostgreSQL ${serverVersion} but the local ${toolName} is ${tool.version} (${tool.path}); install ${toolName} ${serverMajor} or newer and pass --pg-bin-dir DIR.`,
      {
        code: 'PG_TOOL_TOO_OLD',
      },
    );
  }
}
