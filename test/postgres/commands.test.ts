import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import pg from 'pg';

import {
  dumpDatabase,
  vacuum,
  type TransferProgress,
  type VacuumProgress,
} from '../../src/postgres/index.js';
import { runCli, runCliAsync, tempDir } from '../helpers/cli.js';
import { startCluster, SUPERUSER_PASSWORD, type TestCluster } from './cluster.js';
import { createMonitorRole, loadSampleData, MONITOR_PASSWORD, MONITOR_ROLE } from './seed.js';

function json<T = any>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

/** Environment without inherited PG* variables, so each test states its own target. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { DATABASE_URL: undefined };
  for (const key of Object.keys(process.env)) if (key.startsWith('PG')) env[key] = undefined;
  return { ...env, ...extra };
}

async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('pg commands on PostgreSQL 15', () => {
  const temp = tempDir('pg-commands');
  let cluster: TestCluster;
  let sslCluster: TestCluster;
  let url: string;
  const passed = true;

  before(async () => {
    cluster = await startCluster(temp.dir, 'main');
    await loadSampleData(cluster, 'sakila');
    await createMonitorRole(cluster);
    url = cluster.url('sakila');
    // Every non-SSL connection is rejected; wal_level minimal and no preloaded pg_stat_statements.
    sslCluster = await startCluster(temp.dir, 'ssl', {
      ssl: true,
      hbaFirst: ['hostnossl all all 127.0.0.1/32 reject'],
      settings: {
        wal_level: 'minimal',
        max_wal_senders: '0',
        shared_preload_libraries: "''",
        track_io_timing: 'off',
      },
    });
  });

  after(async () => {
    await cluster?.stop();
    await sslCluster?.stop();
    temp.cleanup(passed);
  });

  test('connection from URL, DATABASE_URL and PG variables', () => {
    const byArgument = runCli(['pg', 'doctor', url, '--only', 'settings', '--json'], {
      env: cleanEnv(),
    });
    assert.equal(byArgument.code, 0, byArgument.stderr);
    assert.equal(json(byArgument.stdout).server.database, 'sakila');

    const byEnv = runCli(['pg', 'doctor', '--only', 'settings', '--json'], {
      env: cleanEnv({ DATABASE_URL: cluster.url('postgres') }),
    });
    assert.equal(json(byEnv.stdout).server.database, 'postgres');

    const byPg = runCli(['pg', 'doctor', '--only', 'settings', '--json'], {
      env: cleanEnv({
        PGHOST: '127.0.0.1',
        PGPORT: String(cluster.port),
        PGUSER: MONITOR_ROLE,
        PGPASSWORD: MONITOR_PASSWORD,
        PGDATABASE: 'sakila',
      }),
    });
    assert.equal(byPg.code, 0, byPg.stderr);
    assert.equal(json(byPg.stdout).server.role, MONITOR_ROLE);

    const pgpass = path.join(temp.dir, 'pgpass');
    writeFileSync(pgpass, `127.0.0.1:${cluster.port}:*:postgres:${SUPERUSER_PASSWORD}\n`, {
      mode: 0o600,
    });
    const byPgpass = runCli(
      [
        'pg',
        'doctor',
        `postgres://postgres@127.0.0.1:${cluster.port}/sakila`,
        '--only',
        'settings',
        '--json',
      ],
      { env: cleanEnv({ PGPASSFILE: pgpass }) },
    );
    assert.equal(byPgpass.code, 0, byPgpass.stderr);
  });

  test('bad connections fail with one line each', () => {
    const cases: [string, number, RegExp][] = [
      [
        `postgres://postgres@127.0.0.1:1/sakila`,
        9,
        /^opsbox: Cannot connect to postgres@127\.0\.0\.1:1\/sakila: connection refused; check that the server runs/,
      ],
      [
        `postgres://postgres:wrong@127.0.0.1:${cluster.port}/sakila`,
        8,
        /^opsbox: Password authentication failed for role "postgres" at postgres@127\.0\.0\.1:\d+\/sakila; check the password/,
      ],
      [
        cluster.url('no_such_db'),
        4,
        /^opsbox: Database "no_such_db" does not exist on 127\.0\.0\.1:\d+; check the database name/,
      ],
      [
        sslCluster.url('postgres'),
        8,
        /^opsbox: The server at postgres@127\.0\.0\.1:\d+\/postgres requires SSL for this connection; add \?sslmode=require/,
      ],
      [
        `${url}?sslmode=require`,
        9,
        /^opsbox: The server at postgres@127\.0\.0\.1:\d+\/sakila does not support SSL; use sslmode=prefer or sslmode=disable\.\n$/,
      ],
      [
        'mysql://root@localhost/db',
        2,
        /^opsbox: Invalid connection URL "mysql:\/\/root@localhost\/db": it must start with postgres:\/\/ or postgresql:\/\/\.\n$/,
      ],
    ];
    for (const [target, code, message] of cases) {
      const result = runCli(['pg', 'doctor', target], { env: cleanEnv() });
      assert.equal(result.code, code, `${target}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.doesNotMatch(result.stderr, /wrong|test-superuser-secret/);
    }
  });

  test('doctor over SSL on a minimal-WAL server', () => {
    const result = runCli(
      ['pg', 'doctor', sslCluster.url('postgres') + '?sslmode=require', '--json'],
      { env: cleanEnv() },
    );
    assert.equal(result.code, 0, result.stderr);
    const report = json(result.stdout);
    const byId = Object.fromEntries(report.checks.map((check: any) => [check.id, check]));
    assert.equal(byId['settings.wal_level'].status, 'warn');
    assert.equal(byId['settings.wal_level'].value, 'minimal');
    assert.equal(byId['settings.logical_replication'].status, 'warn');
    assert.equal(
      byId['settings.logical_replication'].message,
      'Not ready for logical replication: wal_level is minimal, not logical; max_wal_senders is 0.',
    );
    assert.equal(byId['settings.track_io_timing'].status, 'warn');
    assert.equal(byId['queries.top'].status, 'n/a');
    assert.match(
      byId['queries.top'].message,
      /^pg_stat_statements is not installed in this database/,
    );
  });

  test('activity, cancel and terminate', async () => {
    const victim = await cluster.client('sakila');
    const pid = (await victim.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const sleeping = victim.query('SELECT pg_sleep(60)').then(
      () => 'finished',
      (error: { code?: string }) => error.code,
    );
    await waitFor(
      async () =>
        (await cluster.psql(`SELECT state FROM pg_stat_activity WHERE pid = ${pid}`)) === 'active',
      'the sleep to start',
    );

    const activity = await runCliAsync(['pg', 'activity', url, '--json']);
    const backend = json<any[]>(activity.stdout).find((row) => row.pid === pid);
    assert.equal(backend.state, 'active');
    assert.equal(backend.query, 'SELECT pg_sleep(60)');
    assert.equal(backend.user, 'postgres');

    const asMonitor = await runCliAsync([
      'pg',
      'cancel',
      String(pid),
      cluster.url('sakila', MONITOR_ROLE, MONITOR_PASSWORD),
      '--yes',
    ]);
    assert.equal(asMonitor.code, 8, asMonitor.stderr);
    assert.match(
      asMonitor.stderr,
      /^opsbox: (Permission denied to cancel backend|The server did not cancel backend) \d+ of role "postgres"/,
    );

    const wrongStart = await runCliAsync([
      'pg',
      'cancel',
      String(pid),
      url,
      '--yes',
      '--backend-start',
      '2000-01-01 00:00:00+00',
    ]);
    assert.equal(wrongStart.code, 5, wrongStart.stderr);
    assert.match(wrongStart.stderr, /now belongs to a different backend/);

    const noTty = await runCliAsync(['pg', 'cancel', String(pid), url]);
    assert.equal(noTty.code, 2, noTty.stderr);
    assert.match(noTty.stderr, /Refusing without a terminal to confirm; pass --yes/);

    const cancel = await runCliAsync(['pg', 'cancel', String(pid), url, '--yes', '--json']);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(json(cancel.stdout).sent, true);
    assert.equal(await sleeping, '57014');

    const terminate = await runCliAsync(['pg', 'terminate', String(pid), url, '--yes']);
    assert.equal(terminate.code, 0, terminate.stderr);
    await waitFor(
      async () =>
        (await cluster.psql(`SELECT count(*) FROM pg_stat_activity WHERE pid = ${pid}`)) === '0',
      'the backend to end',
    );
    await victim.end().catch(() => undefined);

    const gone = await runCliAsync(['pg', 'terminate', String(pid), url, '--yes']);
    assert.equal(gone.code, 4, gone.stderr);
    assert.match(gone.stderr, new RegExp(`^opsbox: No backend with pid ${pid}; it has ended`));
  });

  test('sizes, indexes and cache match the catalog', async () => {
    const sizes = runCli(['pg', 'sizes', url, '--json', '--limit', '5']);
    assert.equal(sizes.code, 0, sizes.stderr);
    const report = json(sizes.stdout);
    const rental = report.tables.find((row: any) => row.table === 'rental');
    assert.equal(
      rental.total_bytes,
      Number(await cluster.psql(`SELECT pg_total_relation_size('rental')`, 'sakila')),
    );
    assert.equal(
      rental.index_bytes,
      Number(await cluster.psql(`SELECT pg_indexes_size('rental')`, 'sakila')),
    );
    assert.equal(
      report.databases.find((row: any) => row.database === 'sakila').bytes,
      Number(await cluster.psql(`SELECT pg_database_size('sakila')`)),
    );

    await cluster.psql('CREATE INDEX payment_customer_dup ON payment (customer_id)', 'sakila');
    const indexes = json(runCli(['pg', 'indexes', url, '--json']).stdout);
    assert.deepEqual(
      indexes.duplicates.map((row: any) => [row.index, row.covered_by]),
      [['payment_customer_dup', 'idx_fk_customer_id']],
    );
    assert.equal(indexes.invalid.length, 0);
    assert.equal(
      indexes.indexes.length,
      Number(
        await cluster.psql(`SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'`, 'sakila'),
      ),
    );
    await cluster.psql('DROP INDEX payment_customer_dup', 'sakila');

    const cache = json<any[]>(runCli(['pg', 'cache', url, '--json']).stdout);
    const template0 = cache.find((row) => row.scope === 'database' && row.name === 'template0');
    assert.equal(template0.hit_percent, null);
    const sakila = cache.find((row) => row.scope === 'database' && row.name === 'sakila');
    assert.equal(
      sakila.hit_percent,
      Math.round((10000 * sakila.hits) / (sakila.hits + sakila.reads)) / 100,
    );
  });

  test('replication and slots drop', async () => {
    await cluster.psql(
      `SELECT pg_create_logical_replication_slot('drop_me', 'test_decoding')`,
      'sakila',
    );
    const replication = json(runCli(['pg', 'replication', url, '--json']).stdout);
    assert.equal(replication.role, 'primary');
    assert.deepEqual(
      replication.slots.map((slot: any) => [
        slot.slot_name,
        slot.slot_type,
        slot.active,
        slot.wal_status,
      ]),
      [['drop_me', 'logical', false, 'reserved']],
    );

    const refused = runCli(['pg', 'slots', 'drop', 'drop_me', url]);
    assert.equal(refused.code, 2, refused.stderr);
    const dropped = runCli(['pg', 'slots', 'drop', 'drop_me', url, '--yes']);
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.equal(dropped.stderr, 'Dropped replication slot drop_me (logical).\n');
    assert.equal(await cluster.psql(`SELECT count(*) FROM pg_replication_slots`), '0');
    const missing = runCli(['pg', 'slots', 'drop', 'drop_me', url, '--yes']);
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(missing.stderr, /^opsbox: Replication slot "drop_me" not found/);
  });

  test('users create with default privileges and list', async () => {
    const password = 'reader-pass-7d1f';
    const created = runCli(
      ['pg', 'users', 'create', 'report_reader', '--readonly', url, '--json'],
      { input: password + '\n' },
    );
    assert.equal(created.code, 0, created.stderr);
    assert.deepEqual(json(created.stdout).schemas, ['public']);
    assert.ok(!created.stdout.includes(password));
    assert.ok(!created.stderr.includes(password));
    const writer = runCli(['pg', 'users', 'create', 'app_writer', '--readwrite', url], {
      input: 'writer-pass-22\n',
    });
    assert.equal(writer.code, 0, writer.stderr);

    // A table created after the grants is covered by the default privileges.
    await cluster.psql(
      'CREATE TABLE created_later (id int); INSERT INTO created_later VALUES (1)',
      'sakila',
    );
    const reader = new pg.Client({
      host: '127.0.0.1',
      port: cluster.port,
      user: 'report_reader',
      password,
      database: 'sakila',
    });
    await reader.connect();
    try {
      assert.equal((await reader.query('SELECT count(*)::int AS n FROM actor')).rows[0].n, 200);
      assert.equal(
        (await reader.query('SELECT count(*)::int AS n FROM created_later')).rows[0].n,
        1,
      );
      await assert.rejects(
        reader.query(`INSERT INTO actor (first_name, last_name) VALUES ('A', 'B')`),
        { code: '42501' },
      );
    } finally {
      await reader.end();
    }
    const appWriter = new pg.Client({
      host: '127.0.0.1',
      port: cluster.port,
      user: 'app_writer',
      password: 'writer-pass-22',
      database: 'sakila',
    });
    await appWriter.connect();
    try {
      await appWriter.query(`INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ACTOR')`);
      await appWriter.query('INSERT INTO created_later VALUES (2)');
    } finally {
      await appWriter.end();
    }

    const statements = await cluster.psql(
      `SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%${password}%'`,
    );
    assert.equal(statements, '0');
    const duplicate = runCli(['pg', 'users', 'create', 'report_reader', '--readonly', url], {
      input: 'x\n',
    });
    assert.equal(duplicate.code, 5, duplicate.stderr);
    assert.equal(
      duplicate.stderr,
      'opsbox: Role "report_reader" already exists; pick another name or drop it first.\n',
    );
    const noLevel = runCli(['pg', 'users', 'create', 'someone', url], { input: 'x\n' });
    assert.equal(noLevel.code, 2, noLevel.stderr);

    await cluster.psql('CREATE DATABASE reports');
    await cluster.psql(
      'CREATE TABLE monthly (month text); INSERT INTO monthly VALUES ($$2026-11$$)',
      'reports',
    );
    const other = runCli(
      [
        'pg',
        'users',
        'create',
        'monthly_reader',
        '--readonly',
        '--database',
        'reports',
        url,
        '--json',
      ],
      { input: 'monthly-pass-9\n' },
    );
    assert.equal(other.code, 0, other.stderr);
    assert.equal(json(other.stdout).database, 'reports');
    const monthly = new pg.Client({
      host: '127.0.0.1',
      port: cluster.port,
      user: 'monthly_reader',
      password: 'monthly-pass-9',
      database: 'reports',
    });
    await monthly.connect();
    try {
      assert.deepEqual((await monthly.query('SELECT month FROM monthly')).rows, [
        { month: '2026-11' },
      ]);
    } finally {
      await monthly.end();
    }

    const usersReport = json<{ roles: any[]; skipped: unknown[] }>(
      runCli(['pg', 'users', 'list', url, '--json']).stdout,
    );
    assert.deepEqual(usersReport.skipped, []);
    const list = usersReport.roles;
    const monthlyGrants = list.find((role) => role.name === 'monthly_reader').tables;
    assert.deepEqual(monthlyGrants, [
      { database: 'reports', schema: 'public', privilege: 'SELECT', tables: 1 },
    ]);
    const listed = list.find((role) => role.name === 'report_reader');
    assert.equal(listed.login, true);
    assert.equal(listed.superuser, false);
    assert.deepEqual(listed.databases.find((row: any) => row.database === 'sakila').privileges, [
      'CONNECT',
      'TEMPORARY',
    ]);
    const selectGrants = listed.tables.find(
      (row: any) =>
        row.database === 'sakila' && row.schema === 'public' && row.privilege === 'SELECT',
    );
    assert.equal(
      selectGrants.tables,
      Number(
        await cluster.psql(
          `SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = 'report_reader' AND privilege_type = 'SELECT'`,
          'sakila',
        ),
      ),
    );
    assert.deepEqual(list.find((role) => role.name === MONITOR_ROLE).member_of, ['pg_monitor']);
  });

  test('vacuum removes dead rows', async () => {
    await cluster.psql(
      'CREATE TABLE churn AS SELECT g AS id FROM generate_series(1, 20000) g; DELETE FROM churn WHERE id % 2 = 0',
      'sakila',
    );
    await waitFor(
      async () =>
        Number(
          await cluster.psql(
            `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'churn'`,
            'sakila',
          ),
        ) === 10000,
      'dead-row statistics',
    );
    const result = runCli(['pg', 'vacuum', 'churn', url, '--analyze', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const output = json(result.stdout);
    assert.equal(output.table, 'churn');
    assert.equal(output.deadRowsAfter, 0);
    const full = runCli(['pg', 'vacuum', 'churn', url, '--full']);
    assert.equal(full.code, 2, full.stderr);
    assert.match(full.stderr, /VACUUM FULL locks churn against reads and writes/);
    const missing = runCli(['pg', 'vacuum', 'no_such_table', url]);
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(missing.stderr, /^opsbox: Table "no_such_table" not found in sakila/);
  });

  test('dump, restore and copy', async () => {
    const archive = path.join(temp.dir, 'sakila.dump');
    const dump = runCli(['pg', 'dump', url, '--output', archive, '--json']);
    assert.equal(dump.code, 0, dump.stderr);
    assert.equal(json(dump.stdout).bytes, statSync(archive).size);
    assert.deepEqual(
      readdirSync(temp.dir).filter((name) => name.endsWith('.partial')),
      [],
    );

    await cluster.psql('CREATE DATABASE restored');
    const restore = runCli(['pg', 'restore', archive, cluster.url('restored'), '--yes', '--json']);
    assert.equal(restore.code, 0, restore.stderr);
    const count = `SELECT (SELECT count(*) FROM payment) || '/' || (SELECT count(*) FROM rental) || '/' || (SELECT count(*) FROM actor)`;
    const expected = await cluster.psql(count, 'sakila');
    assert.equal(await cluster.psql(count, 'restored'), expected);

    // Restoring again fails on the existing objects and, in one transaction, changes nothing.
    const again = runCli(['pg', 'restore', archive, cluster.url('restored'), '--yes']);
    assert.equal(again.code, 5, again.stderr);
    assert.match(
      again.stderr,
      /^opsbox: pg_restore failed on postgres@127\.0\.0\.1:\d+\/restored: \w+ "[\w.]+" already exists, so the database is not empty\. Pass --clean to drop the existing objects first, or use a new, empty database; nothing was changed\.\n$/,
    );
    assert.equal(await cluster.psql(count, 'restored'), expected);

    const clean = runCli(['pg', 'restore', archive, cluster.url('restored'), '--clean', '--yes']);
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(await cluster.psql(count, 'restored'), expected);

    await cluster.psql('CREATE DATABASE copied');
    const copy = runCli([
      'pg',
      'copy',
      '--from',
      url,
      '--to',
      cluster.url('copied'),
      '--yes',
      '--json',
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(await cluster.psql(count, 'copied'), expected);
    const copyAgain = runCli(['pg', 'copy', '--from', url, '--to', cluster.url('copied'), '--yes']);
    assert.equal(copyAgain.code, 5, copyAgain.stderr);
    assert.match(copyAgain.stderr, /already exists, so the database is not empty\. Pass --clean/);

    const plain = path.join(temp.dir, 'plain.sql');
    writeFileSync(plain, 'SELECT 1;\n');
    const wrongFormat = runCli(['pg', 'restore', plain, cluster.url('restored'), '--yes']);
    assert.equal(wrongFormat.code, 3, wrongFormat.stderr);
    assert.equal(
      wrongFormat.stderr,
      `opsbox: ${plain} is not a pg_dump custom or tar archive; restore a plain SQL dump with psql -f plain.sql.\n`,
    );
    assert.equal(existsSync(path.join(temp.dir, 'never.dump')), false);
  });

  test('vacuum and dump report progress', async () => {
    await cluster.psql(
      'CREATE TABLE big_churn AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 400000) g; DELETE FROM big_churn WHERE id % 3 = 0',
      'sakila',
    );
    const vacuumProgress: VacuumProgress[] = [];
    const result = await vacuum({
      url,
      table: 'big_churn',
      pollMs: 10,
      onProgress: (progress) => vacuumProgress.push(progress),
    });
    assert.equal(result.deadRowsAfter, 0);
    assert.ok(vacuumProgress.length > 0, 'no progress reported');
    assert.equal(vacuumProgress[0]!.table, 'big_churn');
    assert.ok(vacuumProgress.every((progress) => progress.blocksDone <= progress.blocksTotal));

    const dumpProgress: TransferProgress[] = [];
    const dump = await dumpDatabase({
      url,
      output: path.join(temp.dir, 'progress.dump'),
      onProgress: (progress) => dumpProgress.push(progress),
    });
    assert.ok(dumpProgress.some((progress) => progress.current === 'public.actor'));
    assert.deepEqual(dumpProgress.at(-1), { tablesDone: dump.tables, tablesTotal: dump.tables });
  });

  test('doctor rejects unknown checks and thresholds', () => {
    const check = runCli(['pg', 'doctor', url, '--only', 'nosuch']);
    assert.equal(check.code, 2, check.stderr);
    assert.equal(
      check.stderr,
      'opsbox: Unknown check "nosuch"; run opsbox pg doctor --list for the check ids and groups.\n',
    );
    const threshold = runCli(['pg', 'doctor', url, '--threshold', 'longQuerySeconds=abc']);
    assert.equal(threshold.code, 2, threshold.stderr);
    assert.equal(
      threshold.stderr,
      'opsbox: Invalid value "abc" for threshold longQuerySeconds: expected a duration of 0 or more seconds, with an optional unit s, min, h or d (such as 5min).\n',
    );
    const listed = runCli(['pg', 'doctor', '--list', '--json']);
    assert.equal(JSON.parse(listed.stdout).checks.length, 30);
  });

  test('statement timeout on a locked table', async () => {
    const locker = await cluster.client('sakila');
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE film IN ACCESS EXCLUSIVE MODE');
      const result = await runCliAsync(['pg', 'sizes', url, '--statement-timeout', '1']);
      assert.equal(result.code, 10, result.stderr);
      assert.match(
        result.stderr,
        /^opsbox: Timed out (waiting for a lock to|trying to) read from the server/,
      );
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });
});
