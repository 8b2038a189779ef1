import { UserError } from '../../core/errors.js';
import {
  copyDatabase,
  dumpDatabase,
  resolveTarget,
  restoreDatabase,
  type DumpFormat,
  type TransferProgress,
} from '../../postgres/index.js';
import type { CommandSpec } from '../command.js';
import { confirm, formatBytes, info, printJson } from '../output.js';
import {
  CONNECTION_OPTIONS,
  connectionOptions,
  JSON_OPTION,
  progressBar,
  YES_OPTION,
} from './common.js';

const PG_BIN_OPTION = {
  flags: '--pg-bin-dir <dir>',
  description:
    'directory of pg_dump and pg_restore (default: $OPSBOX_PG_BIN, PATH, the newest /usr/lib/postgresql/N/bin)',
};

function withBar<T>(
  label: string,
  work: (onProgress: (progress: TransferProgress) => void) => Promise<T>,
): Promise<T> {
  const bar = progressBar(label);
  return work((progress) =>
    bar.update(progress.tablesDone, progress.tablesTotal, progress.current ?? ''),
  ).finally(() => bar.stop());
}

export const dumpCommand: CommandSpec = {
  name: 'dump [url]',
  summary: 'Dump a database with pg_dump (custom format by default) to a file',
  options: [
    ...CONNECTION_OPTIONS,
    {
      flags: '-o, --output <file>',
      description: 'archive to write (default: DATABASE-YYYYMMDD-HHMMSS.dump)',
    },
    {
      flags: '--format <format>',
      description: 'custom (for pg_restore), tar, or plain SQL',
      choices: ['custom', 'tar', 'plain'],
      default: 'custom',
    },
    PG_BIN_OPTION,
    JSON_OPTION,
  ],
  async run(input) {
    const connection = connectionOptions(input, input.args[0]);
    const format = input.options.format as DumpFormat;
    const output = input.options.output ?? defaultDumpName(connection.url, format);
    const result = await withBar('dump', (onProgress) =>
      dumpDatabase({ ...connection, output, format, pgBinDir: input.options.pgBinDir, onProgress }),
    );
    if (input.options.json) printJson(result);
    else
      info(
        `Wrote ${result.output} (${formatBytes(result.bytes)}, ${result.tables} tables, PostgreSQL ${result.serverVersion}, pg_dump ${result.pgDumpVersion}).`,
      );
  },
};

function defaultDumpName(url: string | undefined, format: DumpFormat): string {
  const database =
    (url
      ? new URL(url.replace(/^postgres(ql)?:/, 'http:')).pathname.slice(1)
      : process.env.PGDATABASE) || 'database';
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${decodeURIComponent(database)}-${stamp}.${format === 'plain' ? 'sql' : format === 'tar' ? 'tar' : 'dump'}`;
}

export const restoreCommand: CommandSpec = {
  name: 'restore <file> [url]',
  summary: 'Restore a pg_dump archive into a database in one transaction (asks first)',
  options: [
    ...CONNECTION_OPTIONS,
    { flags: '--clean', description: 'drop existing objects before recreating them' },
    {
      flags: '--no-owner',
      description: 'skip ownership and privilege commands (restoring into another cluster)',
    },
    PG_BIN_OPTION,
    YES_OPTION,
    JSON_OPTION,
  ],
  async run(input) {
    const connection = connectionOptions(input, input.args[1]);
    await confirm(
      `Restore ${input.args[0]} into ${resolveTarget(connection).display}${input.options.clean ? ', dropping existing objects first' : ''}?`,
      { yes: input.options.yes },
    );
    const result = await withBar('restore', (onProgress) =>
      restoreDatabase({
        ...connection,
        input: input.args[0]!,
        clean: input.options.clean,
        noOwner: input.options.owner === false,
        pgBinDir: input.options.pgBinDir,
        onProgress,
      }),
    );
    if (input.options.json) printJson(result);
    else info(`Restored ${result.input} into ${result.database} (${result.tables} tables).`);
  },
};

export const copyCommand: CommandSpec = {
  name: 'copy',
  summary:
    'Copy a database into another one (pg_dump piped into pg_restore, one transaction on the target)',
  options: [
    { flags: '--from <url>', description: 'source database URL' },
    { flags: '--to <url>', description: 'target database URL (must exist)' },
    {
      flags: '--bastion <user@host[:port]>',
      description: 'reach both servers through this SSH bastion',
    },
    { flags: '--identity <key>', description: 'private key file for --bastion' },
    { flags: '--known-hosts <file>', description: 'known_hosts file for --bastion' },
    { flags: '--clean', description: 'drop existing objects in the target first' },
    { flags: '--no-owner', description: 'skip ownership and privilege commands' },
    PG_BIN_OPTION,
    YES_OPTION,
    JSON_OPTION,
  ],
  async run(input) {
    const { from, to } = input.options;
    if (!from || !to) throw new UserError('usage', 'Both --from URL and --to URL are required.');
    const tunnel = {
      bastion: input.options.bastion,
      identity: input.options.identity,
      knownHosts: input.options.knownHosts,
    };
    await confirm(
      `Copy ${resolveTarget({ url: from }).display} into ${resolveTarget({ url: to }).display}${input.options.clean ? ', dropping existing objects first' : ''}?`,
      { yes: input.options.yes },
    );
    const result = await withBar('copy', (onProgress) =>
      copyDatabase({
        from: { url: from, ...tunnel },
        to: { url: to, ...tunnel },
        clean: input.options.clean,
        noOwner: input.options.owner === false,
        pgBinDir: input.options.pgBinDir,
        onProgress,
      }),
    );
    if (input.options.json) printJson(result);
    else info(`Copied ${result.tables} tables from ${result.from} to ${result.to}.`);
  },
};
