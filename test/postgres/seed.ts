import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import type pg from 'pg';

import { SHARED_DATA } from '../helpers/cli.js';
import { PG15_BIN, SUPERUSER_PASSWORD, type TestCluster } from './cluster.js';

const run = promisify(execFile);

export const MONITOR_ROLE = 'opsbox_monitor';
export const MONITOR_PASSWORD = 'monitor-secret';

/** Loads Sakila (schema and data) into `database`, Chinook into its own database and the Pagila schema into `pagila`. */
export async function loadSampleData(
  cluster: TestCluster,
  database: string,
  options: { chinook?: boolean; pagila?: boolean } = {},
): Promise<void> {
  await cluster.psql(`CREATE DATABASE ${database}`);
  await cluster.psqlFile(path.join(SHARED_DATA, 'sakila', 'postgres-sakila-schema.sql'), database);
  await cluster.psqlFile(
    path.join(SHARED_DATA, 'sakila', 'postgres-sakila-insert-data-using-copy.sql'),
    database,
  );
  if (options.chinook)
    await cluster.psqlFile(path.join(SHARED_DATA, 'chinook', 'Chinook_PostgreSql.sql'), 'postgres');
  if (options.pagila) await loadPagila(cluster);
}

/** Loads the Pagila schema into database `pagila`; before PG 18, uuidv7() becomes gen_random_uuid(). */
export async function loadPagila(cluster: TestCluster): Promise<void> {
  await cluster.psql('CREATE DATABASE pagila');
  const versionNum = Number(await cluster.psql('SHOW server_version_num'));
  let schema = readFileSync(path.join(SHARED_DATA, 'pagila', 'pagila-schema.sql'), 'utf8');
  if (versionNum < 180000) {
    // PostgreSQL 18 features the schema uses: uuidv7() and virtual generated columns.
    schema = schema
      .replaceAll('uuidv7()', 'gen_random_uuid()')
      .replace(/\) VIRTUAL\b/g, ') STORED');
  }
  const file = path.join(tmpdir(), `opsbox-pagila-${process.pid}-${cluster.port}.sql`);
  writeFileSync(file, schema);
  try {
    // The schema also uses extensions (pgvector) that the test servers lack;
    // the statements that need them are skipped and the rest is loaded.
    await cluster.psqlFile(file, 'pagila', false);
  } finally {
    rmSync(file, { force: true });
  }
}

/** Creates a login role that has pg_monitor and nothing else. */
export async function createMonitorRole(cluster: TestCluster): Promise<void> {
  await cluster.psql(
    `CREATE ROLE ${MONITOR_ROLE} LOGIN PASSWORD '${MONITOR_PASSWORD}' IN ROLE pg_monitor`,
  );
}

/**
 * The static conditions each doctor check must catch, created in
 * `database`: indexes (unused, duplicate, invalid), scan patterns, an int
 * column on a bigint sequence near the int limit, a foreign key without an
 * index, dead rows from pgbench, temp files and an inactive logical slot.
 */
export async function seedConditions(cluster: TestCluster, database: string): Promise<void> {
  await cluster.psql(
    `
    CREATE EXTENSION pg_stat_statements;

    -- Unused index: 3.7 MB, never scanned.
    CREATE TABLE wide_rows (id int PRIMARY KEY, payload text);
    INSERT INTO wide_rows SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 40000) g;
    CREATE INDEX wide_rows_payload_unused ON wide_rows (payload);

    -- Duplicate: payment(customer_id) is already indexed by idx_fk_customer_id.
    CREATE INDEX payment_customer_dup ON payment (customer_id);
    -- Same table and index names in another schema must not pair with public ones.
    CREATE SCHEMA shadow;
    CREATE TABLE shadow.payment (customer_id int);
    CREATE INDEX idx_fk_customer_id ON shadow.payment (customer_id);

    -- Only sequential scans on a large indexed table.
    CREATE TABLE seq_only (id int PRIMARY KEY, flag text);
    INSERT INTO seq_only SELECT g, CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, 20000) g;

    -- No index at all.
    CREATE TABLE no_index (value int, note text);
    INSERT INTO no_index SELECT g, 'row ' || g FROM generate_series(1, 5000) g;

    -- An int column fed by a bigint sequence, 97.8% through the int range.
    CREATE SEQUENCE ticket_seq AS bigint;
    CREATE TABLE ticket (id int PRIMARY KEY DEFAULT nextval('ticket_seq'), subject text);
    ALTER SEQUENCE ticket_seq OWNED BY ticket.id;
    SELECT setval('ticket_seq', 2100000000);
    INSERT INTO ticket (subject) VALUES ('near the end');

    -- Foreign key without an index on the referencing column.
    CREATE TABLE film_note (id int PRIMARY KEY, film_id int REFERENCES film (film_id), note text);

    -- Invalid index: a unique index built concurrently over duplicate values.
    CREATE TABLE duplicate_values (v int);
    INSERT INTO duplicate_values VALUES (1), (1);
    `,
    database,
  );
  await cluster
    .psql(
      'CREATE UNIQUE INDEX CONCURRENTLY duplicate_values_v_invalid ON duplicate_values (v)',
      database,
    )
    .then(
      () => {
        throw new Error('expected the concurrent unique index to fail');
      },
      () => undefined,
    );

  await cluster.psql(`SELECT count(*) FROM seq_only WHERE flag = 'even'`, database);
  await cluster.psql(`SELECT count(*) FROM seq_only WHERE flag = 'odd'`, database);
  await cluster.psql(`SELECT count(*) FROM no_index WHERE value = 5`, database);
  // A sort bigger than work_mem writes a temporary file.
  await cluster.psql(
    `SET work_mem = '64kB'; SELECT count(*) FROM (SELECT payload FROM wide_rows ORDER BY md5(payload)) sorted`,
    database,
  );

  // Dead rows: pgbench tables, a short pgbench run, then a bulk update.
  const env = { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD };
  const connection = ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres'];
  await run(path.join(PG15_BIN, 'pgbench'), ['-i', '-s', '1', '-q', ...connection, database], {
    env,
  });
  await run(
    path.join(PG15_BIN, 'pgbench'),
    ['-n', '-c', '2', '-t', '200', ...connection, database],
    { env },
  );
  await cluster.psql(
    'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 50000; ANALYZE pgbench_accounts',
    database,
  );

  // A table larger than a quarter of shared_buffers: sequential scans read it
  // through a small ring buffer, so almost every block is a cache miss.
  await cluster.psql(
    `CREATE TABLE cold_table AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS payload FROM generate_series(1, 200000) g;
     ALTER TABLE cold_table ADD PRIMARY KEY (id);
     SELECT pg_stat_reset_single_table_counters('cold_table'::regclass)`,
    database,
  );
  for (let scan = 0; scan < 3; scan++)
    await cluster.psql(`SELECT count(*) FROM cold_table WHERE payload LIKE 'x%'`, database);

  // An inactive logical slot; the WAL written after it is retained.
  await cluster.psql(
    `SELECT pg_create_logical_replication_slot('stale_logical', 'test_decoding')`,
    database,
  );
  await cluster.psql(
    'CREATE TABLE wal_filler AS SELECT g, md5(g::text) AS h FROM generate_series(1, 50000) g',
    database,
  );
}

/**
 * Sessions that stay open during the doctor run: a long query, a session
 * idle in a transaction, and a session blocked by it on a row lock.
 */
export interface LiveSessions {
  pids: { longQuery: number; idle: number; blocked: number };
  close(): Promise<void>;
}

export async function startLiveSessions(
  cluster: TestCluster,
  database: string,
): Promise<LiveSessions> {
  const clients: pg.Client[] = [];
  const open = async () => {
    const client = await cluster.client(database);
    clients.push(client);
    return client;
  };
  await cluster.psql(
    'CREATE TABLE IF NOT EXISTS lock_target (id int PRIMARY KEY, value int); INSERT INTO lock_target VALUES (1, 0) ON CONFLICT DO NOTHING',
    database,
  );

  const longQuery = await open();
  const idle = await open();
  const blocked = await open();
  const pidOf = async (client: pg.Client) =>
    (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  const pids = {
    longQuery: await pidOf(longQuery),
    idle: await pidOf(idle),
    blocked: await pidOf(blocked),
  };

  const pending: Promise<unknown>[] = [];
  pending.push(longQuery.query('SELECT pg_sleep(600)').catch(() => undefined));
  await idle.query('BEGIN');
  await idle.query('UPDATE lock_target SET value = value + 1 WHERE id = 1');
  pending.push(
    blocked.query('UPDATE lock_target SET value = value + 10 WHERE id = 1').catch(() => undefined),
  );
  return {
    pids,
    async close() {
      await cluster.psql(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (${Object.values(pids).join(',')})`,
      );
      await Promise.all(pending);
      await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    },
  };
}

/** Creates a small database with nothing to report: indexed, vacuumed, analyzed and read through its index. */
export async function seedQuiet(cluster: TestCluster, database: string): Promise<void> {
  await cluster.psql(`CREATE DATABASE ${database}`);
  await cluster.psql(
    `CREATE EXTENSION pg_stat_statements;
     CREATE TABLE account (id serial PRIMARY KEY, owner text NOT NULL);
     INSERT INTO account (owner) SELECT 'owner ' || g FROM generate_series(1, 2000) g;
     CREATE TABLE account_note (id serial PRIMARY KEY, account_id int NOT NULL REFERENCES account (id), note text);
     CREATE INDEX account_note_account_id ON account_note (account_id);`,
    database,
  );
  await cluster.psql('VACUUM ANALYZE', database);
  await cluster.psql('SELECT owner FROM account WHERE id = 42', database);
  // Before PostgreSQL 15 a statistics collector process applies counters
  // asynchronously, so wait until it has recorded the vacuum.
  for (let attempt = 0; attempt < 50; attempt++) {
    const recorded = await cluster.psql(
      `SELECT count(*) FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL AND last_analyze IS NOT NULL`,
      database,
    );
    if (recorded === '2') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the vacuum of the quiet database never reached pg_stat_user_tables');
}
