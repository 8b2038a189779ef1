import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import Database from 'better-sqlite3';

import { BIN, SHARED_DATA, runCli, tempDir } from '../helpers/cli.js';

const CHINOOK = path.join(SHARED_DATA, 'chinook', 'Chinook_Sqlite.sql');
const NORTHWIND = path.join(SHARED_DATA, 'northwind', 'northwind.sql');

const temp = tempDir('db-cli');
const dataDir = path.join(temp.dir, 'data');

function cli(args: string[], input?: string) {
  return runCli(args, { dataDir, input });
}

function ok(args: string[], input?: string) {
  const result = cli(args, input);
  assert.equal(result.code, 0, `opsbox ${args.join(' ')} failed: ${result.stderr}`);
  return result;
}

function json(args: string[]) {
  return JSON.parse(ok([...args, '--json']).stdout);
}

function count(db: string, table: string): number {
  const rows = json(['db', 'execute', db, '--command', `SELECT count(*) AS n FROM ${table}`]);
  return rows[0].results[0].n;
}

/** Builds a database with the sqlite3 shell, the reference for row counts and dumps. */
function sqlite3Build(script: string, file: string): void {
  // synchronous=OFF only skips fsyncs; the shell still runs each statement on its own.
  const result = spawnSync('sqlite3', ['-cmd', 'PRAGMA synchronous=OFF', file], {
    input: readFileSync(script),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  assert.equal(result.status, 0, result.stderr.toString());
}

function sqlite3Dump(file: string): string {
  return spawnSync('sqlite3', [file, '.dump'], { maxBuffer: 256 * 1024 * 1024 }).stdout.toString();
}

describe('db lifecycle', () => {
  test('create, list, info and delete', () => {
    ok(['db', 'create', 'alpha']);
    const listed = json(['db', 'list']);
    assert.deepEqual(
      listed.map((d: { name: string }) => d.name),
      ['alpha'],
    );
    assert.match(listed[0].uuid, /^[0-9a-f-]{36}$/);

    ok(['db', 'execute', 'alpha', '--command', 'CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)']);
    const details = json(['db', 'info', 'alpha']);
    assert.deepEqual(details.tables, [{ name: 't', rows: 2 }]);
    assert.equal(details.file_size, 8192);
    assert.equal(details.num_tables, 1);

    const unconfirmed = cli(['db', 'delete', 'alpha']);
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /pass --yes/);
    ok(['db', 'delete', 'alpha', '-y']);
    assert.deepEqual(json(['db', 'list']), []);
  });

  test('invalid and duplicate names', () => {
    const invalid = cli(['db', 'create', 'Bad Name']);
    assert.equal(invalid.code, 3);
    assert.equal(invalid.stderr.trim().split('\n').length, 1);
    assert.match(invalid.stderr, /Invalid database name "Bad Name"/);

    ok(['db', 'create', 'dup']);
    const duplicate = cli(['db', 'create', 'dup']);
    assert.equal(duplicate.code, 5);
    assert.match(duplicate.stderr, /already exists/);
  });

  test('unknown database', () => {
    const result = cli(['db', 'execute', 'nope', '--command', 'SELECT 1']);
    assert.equal(result.code, 4);
    assert.equal(
      result.stderr,
      'opsbox: Database "nope" not found. List databases with `opsbox db list`, or create it with `opsbox db create nope`.\n',
    );
  });
});

describe('execute on real scripts', () => {
  test('Chinook loads with the sqlite3 shell row counts', () => {
    ok(['db', 'create', 'chinook']);
    ok(['db', 'execute', 'chinook', '--file', CHINOOK]);
    const reference = path.join(temp.dir, 'chinook-ref.db');
    sqlite3Build(CHINOOK, reference);
    const ref = new Database(reference, { readonly: true });
    for (const table of [
      'Album',
      'Artist',
      'Customer',
      'Employee',
      'Genre',
      'Invoice',
      'InvoiceLine',
      'MediaType',
      'Playlist',
      'PlaylistTrack',
      'Track',
    ]) {
      const expected = (ref.prepare(`SELECT count(*) AS n FROM [${table}]`).get() as { n: number })
        .n;
      assert.equal(count('chinook', `[${table}]`), expected, table);
    }
    ref.close();
    assert.equal(count('chinook', 'Track'), 3503);
    assert.equal(count('chinook', 'InvoiceLine'), 2240);
  });

  test('Northwind loads with BLOBs, views and SELECTs in the script', () => {
    ok(['db', 'create', 'northwind']);
    const result = ok(['db', 'execute', 'northwind', '--file', NORTHWIND]);
    // Without a terminal, rows print in the sqlite3 shell's list mode.
    assert.match(
      result.stdout,
      /^1\|Beverages\|Soft drinks, coffees, teas, beers, and ales\|X'ffd8ffe0/m,
    );
    assert.match(result.stdout, /^10248\|VINET\|5\|/m);
    assert.equal(count('northwind', 'Orders'), 830);
    assert.equal(count('northwind', '[Order Details]'), 2155);
    const reference = path.join(temp.dir, 'northwind-ref.db');
    sqlite3Build(NORTHWIND, reference);
    const ref = new Database(reference, { readonly: true });
    const picture = ref
      .prepare('SELECT hex(Picture) AS h FROM Categories WHERE CategoryID = 1')
      .get() as { h: string };
    ref.close();
    const ours = json([
      'db',
      'execute',
      'northwind',
      '--command',
      'SELECT hex(Picture) AS h, length(Picture) AS n FROM Categories WHERE CategoryID = 1',
    ]);
    assert.equal(ours[0].results[0].h, picture.h);
    assert.ok(ours[0].results[0].n > 10_000);
    const views = json([
      'db',
      'execute',
      'northwind',
      '--command',
      "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'view'",
    ]);
    assert.equal(views[0].results[0].n, 16);
  });

  test('exports reload in sqlite3 to the same dump as the reference', () => {
    for (const [name, script] of [
      ['chinook', CHINOOK],
      ['northwind', NORTHWIND],
    ] as const) {
      const exported = path.join(temp.dir, `${name}-export.sql`);
      ok(['db', 'export', name, '--output', exported]);
      const reloaded = path.join(temp.dir, `${name}-reloaded.db`);
      sqlite3Build(exported, reloaded);
      const reference = path.join(temp.dir, `${name}-ref2.db`);
      sqlite3Build(script, reference);
      assert.equal(sqlite3Dump(reloaded), sqlite3Dump(reference), name);
    }
  });

  test('export of a dump through import round-trips', () => {
    const exported = path.join(temp.dir, 'chinook-export.sql');
    ok(['db', 'import', 'chinook-copy', exported]);
    assert.equal(count('chinook-copy', 'Track'), 3503);
    const a = ok(['db', 'export', 'chinook']).stdout;
    const b = ok(['db', 'export', 'chinook-copy']).stdout;
    assert.equal(a, b);
  });

  test('export options', () => {
    const schemaOnly = ok(['db', 'export', 'chinook', '--no-data']).stdout;
    assert.doesNotMatch(schemaOnly, /INSERT INTO/);
    assert.match(schemaOnly, /CREATE TABLE \[Track\]/);
    const dataOnly = ok(['db', 'export', 'chinook', '--no-schema']).stdout;
    assert.doesNotMatch(dataOnly, /CREATE TABLE/);
    assert.match(dataOnly, /INSERT INTO Track VALUES/);
    const oneTable = ok(['db', 'export', 'chinook', '--table', 'Genre']).stdout;
    assert.equal((oneTable.match(/^INSERT INTO/gm) ?? []).length, 25);
    assert.doesNotMatch(oneTable, /CREATE TABLE \[Track\]/);

    const both = cli(['db', 'export', 'chinook', '--no-data', '--no-schema']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /Cannot combine --no-data with --no-schema/);
  });
});

describe('execute --json', () => {
  test("D1's shape with exact values", () => {
    ok(['db', 'create', 'values']);
    const results = json([
      'db',
      'execute',
      'values',
      '--command',
      "CREATE TABLE v(i INTEGER, r REAL, t TEXT, b BLOB); INSERT INTO v VALUES (9007199254740993, 1.5, '', x'00ff10'), (NULL, NULL, NULL, NULL); SELECT * FROM v ORDER BY rowid",
    ]);
    assert.equal(results.length, 3);
    for (const result of results) assert.equal(result.success, true);
    assert.deepEqual(Object.keys(results[1].meta).sort(), [
      'changed_db',
      'changes',
      'duration',
      'last_row_id',
      'rows_read',
      'rows_written',
      'size_after',
    ]);
    assert.equal(results[1].meta.changes, 2);
    assert.equal(results[1].meta.last_row_id, 2);
    assert.equal(results[1].meta.changed_db, true);
    assert.equal(results[1].meta.rows_written, 2);
    assert.equal(results[2].meta.rows_read, 2);
    assert.equal(results[2].meta.size_after, 8192);
    assert.deepEqual(results[2].results[1], { i: null, r: null, t: null, b: null });
    assert.equal(results[2].results[0].t, '');
    assert.deepEqual(results[2].results[0].b, [0, 255, 16]);
  });

  test('integers beyond 2^53 keep every digit', () => {
    const out = ok([
      'db',
      'execute',
      'values',
      '--command',
      'SELECT i FROM v WHERE i IS NOT NULL',
      '--json',
    ]).stdout;
    assert.match(out, /"i": 9007199254740993\b/);
  });
});

describe('bad input', () => {
  test('syntax error names the line and leaves the database as it was', () => {
    const script = path.join(temp.dir, 'bad.sql');
    writeFileSync(
      script,
      'CREATE TABLE good(x);\nINSERT INTO good VALUES (1);\n\nINSERT INTO good VALUES (;\n',
    );
    ok(['db', 'create', 'atomic']);
    const result = cli(['db', 'execute', 'atomic', '--file', script]);
    assert.equal(result.code, 6);
    assert.equal(
      result.stderr,
      'opsbox: SQL error at line 4 (statement 3): near ";": syntax error [SQLITE_ERROR]. Nothing was changed.\n',
    );
    assert.deepEqual(json(['db', 'info', 'atomic']).tables, []);
  });

  test('a script ROLLBACK discards its part as in the shell', () => {
    const script = path.join(temp.dir, 'rollback.sql');
    writeFileSync(
      script,
      'CREATE TABLE r(a);\nBEGIN;\nINSERT INTO r VALUES (1);\nROLLBACK;\nINSERT INTO r VALUES (2);\nBEGIN TRANSACTION;\nINSERT INTO r VALUES (3);\nCOMMIT;\nBEGIN;\nINSERT INTO r VALUES (4);\n',
    );
    ok(['db', 'create', 'rollback']);
    ok(['db', 'execute', 'rollback', '--file', script]);
    const reference = path.join(temp.dir, 'rollback-ref.db');
    sqlite3Build(script, reference);
    const ref = new Database(reference, { readonly: true });
    const expected = (ref.prepare('SELECT group_concat(a) AS v FROM r').get() as { v: string }).v;
    ref.close();
    assert.equal(expected, '2,3');
    const rows = json([
      'db',
      'execute',
      'rollback',
      '--command',
      'SELECT group_concat(a) AS v FROM r',
    ]);
    assert.equal(rows[0].results[0].v, expected);
  });

  test('failed import creates no database', () => {
    const bad = path.join(temp.dir, 'bad-import.sql');
    writeFileSync(bad, 'CREATE TABLE x(a);\nINSERT INTO nowhere VALUES (1);\n');
    const failed = cli(['db', 'import', 'never-made', bad]);
    assert.equal(failed.code, 6);
    const missing = cli(['db', 'import', 'never-made', path.join(temp.dir, 'absent.sql')]);
    assert.equal(missing.code, 4);
    const names = json(['db', 'list']).map((d: { name: string }) => d.name);
    assert.equal(names.includes('never-made'), false);
  });

  test('export to a directory is rejected', () => {
    const result = cli(['db', 'export', 'atomic', '--output', temp.dir]);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /Cannot write the export to .*: it is a directory/);
  });

  test('file that is not UTF-8 text', () => {
    const latin1 = path.join(temp.dir, 'latin1.sql');
    writeFileSync(latin1, Buffer.from("INSERT INTO t VALUES ('caf\xe9');", 'latin1'));
    const result = cli(['db', 'execute', 'atomic', '--file', latin1]);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /is not valid UTF-8 \(at byte 26\)/);

    const binary = path.join(temp.dir, 'binary.sql');
    writeFileSync(binary, Buffer.from([0x53, 0x45, 0x00, 0x01]));
    const binaryResult = cli(['db', 'execute', 'atomic', '--file', binary]);
    assert.equal(binaryResult.code, 3);
    assert.match(binaryResult.stderr, /is not a text file \(a zero byte at offset 2\)/);
  });

  test('SQLite file passed to --file', () => {
    const file = path.join(temp.dir, 'chinook-ref.db');
    const result = cli(['db', 'execute', 'atomic', '--file', file]);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /is a SQLite database file, not a SQL script/);
  });

  test('database locked by another writer', () => {
    const file = path.join(dataDir, 'databases', 'atomic.sqlite');
    const holder = new Database(file);
    holder.exec('BEGIN EXCLUSIVE');
    try {
      const result = runCli(['db', 'execute', 'atomic', '--command', 'CREATE TABLE x(y)'], {
        dataDir,
        env: { OPSBOX_BUSY_TIMEOUT_MS: '200' },
      });
      assert.equal(result.code, 7);
      assert.match(result.stderr, /locked by another writer/);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    assert.deepEqual(json(['db', 'info', 'atomic']).tables, []);
  });

  test('kill -9 during a long import leaves the database as before', async () => {
    ok(['db', 'create', 'killed']);
    ok([
      'db',
      'execute',
      'killed',
      '--command',
      "CREATE TABLE t(x); INSERT INTO t VALUES ('before')",
    ]);
    const big = path.join(temp.dir, 'big.sql');
    const lines = ['CREATE TABLE big(a, b);'];
    for (let i = 0; i < 600_000; i++)
      lines.push(`INSERT INTO big VALUES (${i}, 'row ${i} with some padding text');`);
    lines.push("INSERT INTO t VALUES ('after');");
    writeFileSync(big, lines.join('\n'));

    const child = spawn(
      process.execPath,
      [BIN, '--data-dir', dataDir, 'db', 'execute', 'killed', '--file', big],
      { stdio: 'ignore' },
    );
    const journal = path.join(dataDir, 'databases', 'killed.sqlite-journal');
    const deadline = Date.now() + 20_000;
    while (!existsSync(journal) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(existsSync(journal), 'the import started writing');
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));

    const rows = json(['db', 'execute', 'killed', '--command', 'SELECT x FROM t']);
    assert.deepEqual(rows[0].results, [{ x: 'before' }]);
    assert.deepEqual(json(['db', 'info', 'killed']).tables, [{ name: 't', rows: 1 }]);
  });
});

describe('backups', () => {
  test('create, list, download and restore', () => {
    const created = json(['db', 'backup', 'create', 'chinook']);
    assert.equal(created.database, 'chinook');
    ok(['db', 'execute', 'chinook', '--command', 'DELETE FROM InvoiceLine']);
    assert.equal(count('chinook', 'InvoiceLine'), 0);

    const listed = json(['db', 'backup', 'list', 'chinook']);
    assert.deepEqual(
      listed.map((b: { id: string }) => b.id),
      [created.id],
    );

    const downloaded = path.join(temp.dir, 'download.sqlite');
    ok(['db', 'backup', 'download', 'chinook', created.id, '--output', downloaded]);
    const copy = new Database(downloaded, { readonly: true });
    assert.equal(
      (copy.prepare('SELECT count(*) AS n FROM InvoiceLine').get() as { n: number }).n,
      2240,
    );
    copy.close();

    const restored = json(['db', 'backup', 'restore', 'chinook', created.id, '--yes']);
    assert.equal(count('chinook', 'InvoiceLine'), 2240);
    const kept = json(['db', 'backup', 'list', 'chinook']);
    assert.equal(kept.length, 2);
    assert.equal(kept[1].id, restored.previous.id);

    // The backup taken before the restore contains the state it replaced.
    ok(['db', 'backup', 'restore', 'chinook', restored.previous.id, '--yes']);
    assert.equal(count('chinook', 'InvoiceLine'), 0);
    ok(['db', 'backup', 'restore', 'chinook', '--from-file', downloaded, '--yes']);
    assert.equal(count('chinook', 'InvoiceLine'), 2240);
  });

  test('backup to a bucket and restore from it', () => {
    ok(['bucket', 'create', 'db-backups']);
    const stored = json(['db', 'backup', 'create', 'chinook', '--to', 'db-backups/nightly']);
    assert.equal(stored.bucket, 'db-backups');
    assert.equal(stored.key, `nightly/chinook/${stored.id}.sqlite`);
    const listed = ok(['object', 'list', 'db-backups', '--json']).stdout;
    assert.match(listed, new RegExp(`nightly/chinook/${stored.id}\\.sqlite`));

    ok(['db', 'execute', 'chinook', '--command', 'DELETE FROM Genre WHERE GenreId > 20']);
    assert.equal(count('chinook', 'Genre'), 20);
    ok(['db', 'backup', 'restore', 'chinook', '--from', `db-backups/${stored.key}`, '--yes']);
    assert.equal(count('chinook', 'Genre'), 25);

    const missing = cli([
      'db',
      'backup',
      'restore',
      'chinook',
      '--from',
      'db-backups/nightly/none.sqlite',
      '--yes',
    ]);
    assert.equal(missing.code, 4);
    assert.equal(count('chinook', 'Genre'), 25);
  });

  test('restore rejects a file that is not SQLite', () => {
    const before = json(['db', 'backup', 'list', 'chinook']).length;
    const result = cli(['db', 'backup', 'restore', 'chinook', '--from-file', CHINOOK, '--yes']);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /is not a SQLite database .* Nothing was restored\./);
    assert.equal(count('chinook', 'Track'), 3503);
    assert.equal(json(['db', 'backup', 'list', 'chinook']).length, before);
  });

  test('backup is consistent while writes go on', async () => {
    ok(['db', 'create', 'busy']);
    ok(['db', 'execute', 'busy', '--command', 'CREATE TABLE t(n INTEGER, total INTEGER)']);
    const file = path.join(dataDir, 'databases', 'busy.sqlite');
    const writer = spawn(process.execPath, [
      '-e',
      `
      const D = require(${JSON.stringify(path.join(path.dirname(BIN), '..', 'node_modules', 'better-sqlite3'))});
      const db = new D(${JSON.stringify(file)}); db.pragma('busy_timeout = 5000');
      const ins = db.transaction((i) => { db.prepare('INSERT INTO t VALUES (?, ?)').run(i, i); db.prepare('INSERT INTO t VALUES (?, ?)').run(-i, -i); });
      const end = Date.now() + 1500; let i = 1; while (Date.now() < end) ins(i++);
    `,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const backups = [
      json(['db', 'backup', 'create', 'busy']),
      json(['db', 'backup', 'create', 'busy']),
    ];
    await new Promise((resolve) => writer.on('exit', resolve));
    for (const backup of backups) {
      const copy = new Database(path.join(dataDir, 'backups', 'busy', `${backup.id}.sqlite`), {
        readonly: true,
      });
      const { rows, sum } = copy
        .prepare('SELECT count(*) AS rows, coalesce(sum(total), 0) AS sum FROM t')
        .get() as { rows: number; sum: number };
      copy.close();
      assert.equal(sum, 0, 'every transaction is in the backup whole or not at all');
      assert.equal(rows % 2, 0);
    }
  });
});

describe('help', () => {
  test('lists the commands', () => {
    const result = ok(['--help']);
    for (const command of ['serve', 'db', 'token'])
      assert.match(result.stdout, new RegExp(`\\n  ${command}\\b`));
  });
});
