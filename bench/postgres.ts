/**
 * `opsbox pg doctor` on a catalog of 5,000 tables and 20,000 indexes (a
 * primary key and three secondary indexes per table, on a throwaway
 * PostgreSQL 15 cluster), against psql running the same catalog queries.
 *
 * The baseline is built from the doctor itself: every statement the doctor
 * sends during one run is recorded with its parameters inlined, written to
 * a script, and run by `psql -f` with output discarded. Both sides start a
 * fresh process per run, so both include start-up and connection time.
 * Goals: doctor ≤ 2× psql's time, and under 200 MB peak memory.
 * Run with `npm run build && node dist/bench/postgres.js`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { runDoctor } from '../src/postgres/index.js';
import {
  PG15_BIN,
  startCluster,
  SUPERUSER_PASSWORD,
  type TestCluster,
} from '../test/postgres/cluster.js';
import { BIN, compare, line, timeCommand } from './common.js';

const TABLES = 5000;
const BATCH = 250;
const RUNS = 5;

async function createCatalog(cluster: TestCluster): Promise<void> {
  await cluster.psql('CREATE DATABASE catalog');
  // Batches keep each transaction's lock count under max_locks_per_transaction.
  for (let first = 1; first <= TABLES; first += BATCH) {
    await cluster.psql(
      `DO $$ BEGIN
         FOR i IN ${first}..${first + BATCH - 1} LOOP
           EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, a int, b int, c text)', i);
           EXECUTE format('CREATE INDEX t%s_a ON t%s (a)', i, i);
           EXECUTE format('CREATE INDEX t%s_b ON t%s (b, a)', i, i);
           EXECUTE format('CREATE INDEX t%s_c ON t%s (c)', i, i);
           EXECUTE format('INSERT INTO t%s VALUES (1, 1, 1, ''x'')', i);
         END LOOP;
       END $$`,
      'catalog',
    );
  }
  await cluster.psql('ANALYZE', 'catalog');
}

/** Records every statement the doctor sends, with parameters written as SQL literals. */
async function recordDoctorStatements(url: string): Promise<string[]> {
  const statements: string[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const [text, values] = args as [string, unknown[] | undefined];
    if (typeof text === 'string') statements.push(inline(this, text, values ?? []));
    return (original as (...items: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    await runDoctor({ url });
  } finally {
    pg.Client.prototype.query = original;
  }
  return statements;
}

function inline(client: pg.Client, text: string, values: unknown[]): string {
  const literal = (value: unknown): string => {
    if (Array.isArray(value)) return `ARRAY[${value.map(literal).join(', ')}]`;
    if (typeof value === 'number') return String(value);
    return client.escapeLiteral(String(value));
  };
  return (
    text.replace(/\$(\d+)/g, (_match, index: string) => literal(values[Number(index) - 1])) + ';'
  );
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'opsbox-bench-pg-'));
  let cluster: TestCluster | undefined;
  try {
    cluster = await startCluster(root, 'bench', { settings: { max_locks_per_transaction: '256' } });
    const started = performance.now();
    await createCatalog(cluster);
    line(
      'catalog: tables / indexes',
      `${await cluster.psql(`SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`, 'catalog')} / ${await cluster.psql(`SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'`, 'catalog')} (built in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );

    const url = cluster.url('catalog');
    const statements = await recordDoctorStatements(url);
    const script = path.join(root, 'doctor-queries.sql');
    writeFileSync(script, statements.join('\n') + '\n');
    line('statements per doctor run', String(statements.length));

    const env = { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD };
    const psqlArgs = [
      '-X',
      '-q',
      '-h',
      '127.0.0.1',
      '-p',
      String(cluster.port),
      '-U',
      'postgres',
      '-d',
      'catalog',
      '-o',
      '/dev/null',
      '-f',
      script,
    ];
    const doctorArgs = [BIN, 'pg', 'doctor', url, '--json'];
    const doctorRun = () => {
      const started = performance.now();
      const result = spawnSync(process.execPath, doctorArgs, {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      // Exit 1 means a check failed, which is a finding, not a benchmark error.
      if (result.status !== 0 && result.status !== 1)
        throw new Error(`doctor failed: ${result.stderr}`);
      return performance.now() - started;
    };
    const result = compare(RUNS, doctorRun, () =>
      timeCommand(path.join(PG15_BIN, 'psql'), psqlArgs, { env }),
    );
    line('opsbox pg doctor (median of 5)', `${result.candidate.toFixed(0)} ms`);
    line('psql -f with the same statements (median of 5)', `${result.baseline.toFixed(0)} ms`);
    line('ratio doctor / psql (goal ≤ 2.0)', result.ratio.toFixed(2));

    // --import runs before the CLI and prints the peak resident set size at exit.
    const report =
      "data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss='+process.resourceUsage().maxRSS+'\\n'))";
    const measured = spawnSync(process.execPath, ['--import', report, ...doctorArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const maxRssKiB = Number(/maxrss=(\d+)/.exec(measured.stderr.toString())?.[1] ?? NaN);
    line('doctor peak memory (goal < 200 MB)', `${(maxRssKiB / 1024).toFixed(0)} MiB`);
  } finally {
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
