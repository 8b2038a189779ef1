import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';

import { UserError } from '../core/errors.js';
import { connectionError, statementError } from './errors.js';
import { openTunnel, type Tunnel, type TunnelOptions } from './tunnel.js';

/** The libpq `sslmode` values opsbox understands. */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

const SSL_MODES: SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/**
 * Connection settings. The target comes, in the order psql users expect,
 * from `url` (the command's argument or --url), then DATABASE_URL, then the
 * PG* variables, with ~/.pgpass (or PGPASSFILE) for a missing password.
 */
export interface ConnectionOptions {
  /** A `postgres://` or `postgresql://` URL. */
  url?: string;
  /** The environment to read DATABASE_URL and PG* from; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Reach the server through an SSH bastion, as `user@host[:port]`. */
  bastion?: string;
  /** Private key file for the bastion; without it the SSH agent is used. */
  identity?: string;
  /** known_hosts file for the bastion's host key; defaults to ~/.ssh/known_hosts. */
  knownHosts?: string;
  /** Per-statement limit in milliseconds (0 turns it off); default 30 s. */
  statementTimeoutMs?: number;
  /** Wait limit for locks in milliseconds, so catalog reads never queue behind DDL; default 5 s. */
  lockTimeoutMs?: number;
  /** Limit for opening the connection in milliseconds; default 10 s. */
  connectTimeoutMs?: number;
  applicationName?: string;
}

/** A resolved connection target. The password never appears in `display`. */
export interface ConnectionTarget {
  /** Host name, IP address, or a Unix socket directory (starting with `/`). */
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
  sslmode: SslMode;
  applicationName: string;
  /** `user@host:port/database`, safe for logs and messages. */
  display: string;
}

/** Resolves the connection target from the options without connecting. */
export function resolveTarget(options: ConnectionOptions = {}): ConnectionTarget {
  const env = options.env ?? process.env;
  const url = options.url ?? env.DATABASE_URL;
  const fromUrl = url ? parseUrl(url) : {};

  const host = fromUrl.host ?? env.PGHOST ?? '/var/run/postgresql';
  const port = parsePort(fromUrl.port ?? env.PGPORT ?? '5432');
  const user = fromUrl.user ?? env.PGUSER ?? userInfo().username;
  const database = fromUrl.database ?? env.PGDATABASE ?? user;
  const sslmode = parseSslMode(fromUrl.sslmode ?? env.PGSSLMODE ?? 'prefer');
  const applicationName =
    options.applicationName ?? fromUrl.applicationName ?? env.PGAPPNAME ?? 'opsbox';

  let password = fromUrl.password ?? env.PGPASSWORD;
  if (password === undefined) password = readPgpass(env, host, port, database, user);

  const display = `${user}@${host.startsWith('/') ? `[${host}]` : host}:${port}/${database}`;
  return { host, port, user, database, password, sslmode, applicationName, display };
}

interface UrlParts {
  host?: string;
  port?: string;
  user?: string;
  password?: string;
  database?: string;
  sslmode?: string;
  applicationName?: string;
}

function parseUrl(url: string): UrlParts {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new UserError(
      'usage',
      `Invalid connection URL "${redactUrl(url)}": it must start with postgres:// or postgresql://.`,
      {
        code: 'PG_URL_INVALID',
      },
    );
  }
  let parsed: ReturnType<typeof parseConnectionString>;
  try {
    // sslmode is applied by sslConfig below; libpq semantics also silence the driver's warning about it.
    parsed = parseConnectionString(url, { useLibpqCompat: true });
  } catch (error) {
    throw new UserError(
      'usage',
      `Invalid connection URL "${redactUrl(url)}": ${(error as Error).message}.`,
      {
        code: 'PG_URL_INVALID',
      },
    );
  }
  const sslmode =
    new URL(url.replace(/^postgres(ql)?:/, 'http:')).searchParams.get('sslmode') ?? undefined;
  return {
    host: parsed.host || undefined,
    port: parsed.port || undefined,
    user: parsed.user || undefined,
    password: parsed.password || undefined,
    database: parsed.database || undefined,
    sslmode,
    applicationName: parsed.application_name,
  };
}

/** Replaces the password of a URL with `***`, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError('usage', `Invalid port "${value}": use a number from 1 to 65535.`, {
      code: 'PG_URL_INVALID',
    });
  }
  return port;
}

function parseSslMode(value: string): SslMode {
  if (!SSL_MODES.includes(value as SslMode)) {
    throw new UserError(
      'usage',
      `Invalid sslmode "${value}": use one of ${SSL_MODES.join(', ')}.`,
      { code: 'PG_URL_INVALID' },
    );
  }
  return value as SslMode;
}

/**
 * Looks the password up in the password file the way libpq does: lines of
 * host:port:database:user:password, `*` matching anything, `\` escaping.
 */
function readPgpass(
  env: Record<string, string | undefined>,
  host: string,
  port: number,
  database: string,
  user: string,
): string | undefined {
  const file = env.PGPASSFILE ?? path.join(env.HOME ?? homedir(), '.pgpass');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const socketHost = host.startsWith('/') ? 'localhost' : host;
  const wanted = [socketHost, String(port), database, user];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields =
      line
        .match(/(\\.|[^:])+|(?<=:)(?=:|$)|^(?=:)/g)
        ?.map((field) => field.replace(/\\(.)/g, '$1')) ?? [];
    if (fields.length < 5) continue;
    if (wanted.every((value, index) => fields[index] === '*' || fields[index] === value))
      return fields.slice(4).join(':');
  }
  return undefined;
}

/**
 * An open connection with the settings every opsbox command runs under:
 * bounded statement and lock waits, and an application_name that shows in
 * pg_stat_activity.
 */
export interface Session {
  client: pg.Client;
  target: ConnectionTarget;
  /** Opens one more connection to the same server, for example to watch progress. */
  connectAgain(database?: string): Promise<pg.Client>;
  close(): Promise<void>;
}

/** Connects to the database named by the options; every failure is a one-line UserError. */
export async function connect(options: ConnectionOptions = {}): Promise<Session> {
  const target = resolveTarget(options);
  const tunnel = options.bastion ? await openTunnel(tunnelOptions(options, target)) : undefined;
  const clients: pg.Client[] = [];

  const open = async (database = target.database): Promise<pg.Client> => {
    const client = new pg.Client(clientConfig({ ...target, database }, options, tunnel));
    // A dropped connection emits 'error' on the client; without a listener
    // Node would crash the process instead of failing the next query.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw connectionError(error, { ...target, database });
    }
    clients.push(client);
    return client;
  };

  let client: pg.Client;
  try {
    client = await open();
  } catch (error) {
    await tunnel?.close();
    throw error;
  }
  return {
    client,
    target,
    connectAgain: open,
    async close() {
      await Promise.all(clients.map((item) => item.end().catch(() => undefined)));
      await tunnel?.close();
    },
  };
}

/**
 * Runs `work` with a session and closes it afterwards, whatever happens.
 * Server errors (permission, timeout, lock wait) become one-line UserErrors
 * that say what `what` could not do.
 */
export async function withSession<T>(
  options: ConnectionOptions,
  work: (session: Session) => Promise<T>,
  what = 'read from the server',
): Promise<T> {
  const session = await connect(options);
  try {
    return await work(session);
  } catch (error) {
    throw statementError(error, what);
  } finally {
    await session.close();
  }
}

/** Opens the bastion tunnel the options ask for, if any, for tools that connect on their own (pg_dump). */
export async function openTargetTunnel(
  options: ConnectionOptions,
  target: ConnectionTarget,
): Promise<Tunnel | undefined> {
  return options.bastion ? openTunnel(tunnelOptions(options, target)) : undefined;
}

function tunnelOptions(options: ConnectionOptions, target: ConnectionTarget): TunnelOptions {
  if (target.host.startsWith('/')) {
    throw new UserError(
      'usage',
      `--bastion needs a TCP host, not the socket directory ${target.host}; put the database host in the URL.`,
      {
        code: 'PG_BASTION_SOCKET',
      },
    );
  }
  return {
    bastion: options.bastion!,
    identity: options.identity,
    knownHosts: options.knownHosts,
    targetHost: target.host,
    targetPort: target.port,
    env: options.env,
  };
}

function clientConfig(
  target: ConnectionTarget,
  options: ConnectionOptions,
  tunnel?: Tunnel,
): pg.ClientConfig {
  const statementTimeout = options.statementTimeoutMs ?? 30_000;
  const lockTimeout = options.lockTimeoutMs ?? 5_000;
  return {
    host: tunnel ? '127.0.0.1' : target.host,
    port: tunnel ? tunnel.localPort : target.port,
    user: target.user,
    database: target.database,
    password: target.password,
    ssl: sslConfig(target.sslmode),
    application_name: target.applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    statement_timeout: statementTimeout || undefined,
    lock_timeout: lockTimeout || undefined,
  };
}

/**
 * Maps sslmode to node-postgres: `require` encrypts without checking the
 * certificate (libpq's meaning), the verify modes check it. The pg driver has
 * no fallback, so `prefer` and `allow` connect without TLS.
 */
function sslConfig(mode: SslMode): pg.ClientConfig['ssl'] {
  switch (mode) {
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // Checks the chain but not the host name, as libpq does for verify-ca.
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
    default:
      // NOTE: libpq tries TLS first under `prefer`; node-postgres cannot fall
      // back, so opsbox connects in clear text unless sslmode requires TLS.
      return false;
  }
}

/** Environment variables that hand this target to libpq tools (pg_dump, pg_restore, psql). */
export function libpqEnv(target: ConnectionTarget, tunnel?: Tunnel): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: tunnel ? '127.0.0.1' : target.host,
    PGPORT: String(tunnel ? tunnel.localPort : target.port),
    PGUSER: target.user,
    PGDATABASE: target.database,
    PGSSLMODE: target.sslmode,
    PGAPPNAME: target.applicationName,
  };
  // The password goes through the environment of the child only, never argv.
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  return env;
}
