import cliProgress from 'cli-progress';

import { UserError } from '../../core/errors.js';
import type { ConnectionOptions } from '../../postgres/index.js';
import type { CommandInput, OptionSpec } from '../command.js';

/** Options every `pg` verb takes to find the server. */
export const CONNECTION_OPTIONS: OptionSpec[] = [
  {
    flags: '--url <url>',
    description:
      'connection URL (default: the URL argument, DATABASE_URL, then PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD)',
  },
  {
    flags: '--bastion <user@host[:port]>',
    description: 'reach the server through this SSH bastion',
  },
  {
    flags: '--identity <key>',
    description: 'private key file for --bastion (default: the SSH agent)',
  },
  {
    flags: '--known-hosts <file>',
    description:
      'known_hosts file that must list the bastion host key (default: ~/.ssh/known_hosts)',
  },
  {
    flags: '--statement-timeout <seconds>',
    description: 'cancel any single statement after this many seconds (0 = no limit)',
  },
];

export const JSON_OPTION: OptionSpec = {
  flags: '--json',
  description: 'print JSON instead of a table',
};
export const YES_OPTION: OptionSpec = {
  flags: '-y, --yes',
  description: 'do not ask for confirmation',
};

/** True for a string that is a connection URL rather than another positional value. */
export function isUrl(value: string | undefined): value is string {
  return value !== undefined && /^postgres(ql)?:\/\//.test(value);
}

/** Builds connection options from the URL argument (if any) and the common flags. */
export function connectionOptions(input: CommandInput, urlArgument?: string): ConnectionOptions {
  const options = input.options;
  if (urlArgument && options.url && urlArgument !== options.url) {
    throw new UserError('usage', 'Both a URL argument and --url were given; pass only one.', {
      code: 'PG_URL_TWICE',
    });
  }
  const result: ConnectionOptions = {
    url: urlArgument ?? options.url,
    bastion: options.bastion,
    identity: options.identity,
    knownHosts: options.knownHosts,
  };
  if (options.statementTimeout !== undefined)
    result.statementTimeoutMs =
      parseSeconds(options.statementTimeout, '--statement-timeout') * 1000;
  return result;
}

export function parseSeconds(value: string, flag: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new UserError('usage', `Invalid ${flag} "${value}": use a number of seconds, 0 or more.`);
  return seconds;
}

export function parsePid(value: string): number {
  const pid = Number(value);
  if (!Number.isInteger(pid) || pid <= 0)
    throw new UserError(
      'usage',
      `Invalid pid "${value}": use the number from opsbox pg activity.`,
      { code: 'PG_PID_INVALID' },
    );
  return pid;
}

/** Creates a progress bar on stderr that draws only on a terminal. */
export function progressBar(label: string): {
  update(done: number, total: number, detail?: string): void;
  stop(): void;
} {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} {detail}`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, detail = '') {
      if (!started) {
        bar.start(total, done, { detail });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { detail });
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Rounds a number for a table cell; null stays empty. */
export function cell(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined
    ? ''
    : String(Math.round(value * 10 ** digits) / 10 ** digits);
}
