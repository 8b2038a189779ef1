import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import Database from 'better-sqlite3';

import { UserError } from '../../src/core/errors.js';
import { dumpDatabase, formatReal, type DumpOptions } from '../../src/databases/dump.js';
import { SHARED_DATA, tempDir } from '../helpers/cli.js';

/** The reference implementation: Debian's sqlite3 shell, version 3.40.1. */
const SQLITE3 = '/usr/bin/sqlite3';

const temp = tempDir('dump');
let fileCount = 0;

function newDatabasePath(label: string): string {
  fileCount += 1;
  return path.join(temp.dir, `${String(fileCount).padStart(2, '0')}-${label}.db`);
}

/** Runs the sqlite3 shell on `file` with `script` on stdin and fails the test on any error output. */
function sqlite3(
  file: string,
  script: string,
  commands: string[] = [],
  options: string[] = [],
): string {
  const result = spawnSync(SQLITE3, [...options, file, ...commands], {
    input: script,
    maxBuffer: 256 * 1024 * 1024,
  });
  const stderr = result.stderr.toString();
  assert.equal(result.status, 0, `sqlite3 failed on ${file}: ${stderr}`);
  assert.equal(stderr, '', `sqlite3 wrote errors for ${file}`);
  return result.stdout.toString();
}

/** Builds a database file with the sqlite3 shell from a script. */
function buildWithShell(label: string, script: string): string {
  const file = newDatabasePath(label);
  // synchronous=OFF only skips fsyncs while loading and is not stored in the file.
  sqlite3(file, script, [], ['-cmd', 'PRAGMA synchronous=OFF']);
  return file;
}

function shellDump(file: string, ...args: string[]): string {
  return sqlite3(file, '', [['.dump', ...args].join(' ')]);
}

function dumpChunks(file: string, options: DumpOptions = {}): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const chunks: string[] = [];
    dumpDatabase(db, options, (chunk) => chunks.push(chunk));
    return chunks;
  } finally {
    db.close();
  }
}

function dump(file: string, options: DumpOptions = {}): string {
  return dumpChunks(file, options).join('');
}

/** Loads a dump into a fresh database with the sqlite3 shell and returns that file. */
function reload(label: string, dumpText: string): string {
  const file = newDatabasePath(label);
  sqlite3(file, dumpText);
  return file;
}

function query(file: string, sql: string): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).raw(true).safeIntegers(true).all();
  } finally {
    db.close();
  }
}

const EDGE_CASES = `
CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INT NOT NULL REFERENCES parent(id), note TEXT);
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO parent VALUES(1, 'first'), (2, 'second');
INSERT INTO child VALUES(1, 2, NULL), (2, 1, '');
CREATE INDEX child_parent ON child(parent_id);
CREATE UNIQUE INDEX parent_name ON parent(name) WHERE name IS NOT NULL;
CREATE TRIGGER child_note AFTER INSERT ON child BEGIN
  UPDATE child SET note = CASE WHEN new.parent_id > 1 THEN 'big' ELSE 'small' END WHERE id = new.id; -- a ; in a comment
END;
CREATE VIEW child_names AS SELECT c.id, p.name FROM child c JOIN parent p ON p.id = c.parent_id;
CREATE VIRTUAL TABLE docs USING fts5(title, body);
INSERT INTO docs VALUES('Dump', 'sqlite3 shell'), ('Breaks', 'one' || char(10) || 'two');
CREATE VIRTUAL TABLE docs_terms USING fts5vocab(docs, 'row');
CREATE VIRTUAL TABLE boxes USING rtree(id, min_x, max_x);
INSERT INTO boxes VALUES(1, 0.5, 2.0);
CREATE TABLE counters(id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT);
INSERT INTO counters(label) VALUES('a'), ('b');
DELETE FROM counters WHERE label = 'b';
CREATE TABLE measures(a INTEGER, b INTEGER, total AS (a + b), doubled INTEGER GENERATED ALWAYS AS (a * 2) STORED, note TEXT);
INSERT INTO measures(a, b, note) VALUES(1, 2, 'x'), (40, 2, 'y');
CREATE TABLE settings(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO settings VALUES('z', 1), ('a', X''), ('m', X'00FF10');
CREATE TABLE numbers(label TEXT, value);
INSERT INTO numbers VALUES('two', 2.0), ('tenth', 0.1), ('inf', 1e999), ('-inf', -1e999),
  ('int64 max', 9223372036854775807), ('int64 min', -9223372036854775808), ('2^53+1', 9007199254740993),
  ('tiny', 1e-5), ('2^63 as real', 9223372036854775808.0), ('negative zero', -0.0), ('huge', 1.5e300),
  ('price', 0.99), ('third', -0.3333333333333333);
CREATE TABLE texts(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO texts VALUES
  (1, 'line' || char(10) || 'break'),
  (2, 'crlf' || char(13) || char(10) || 'end'),
  (3, 'it''s "quoted"'),
  (4, 'literal \\n and a newline' || char(10)),
  (5, 'both \\n and \\012' || char(10)),
  (6, 'literal \\r and a return' || char(13)),
  (7, 'all of \\r \\015 (\\r0)' || char(13) || char(10)),
  (8, 'unicode é 😀'),
  (9, 'tab' || char(9) || 'end');
CREATE TABLE "odd ""name"""(x);
INSERT INTO "odd ""name""" VALUES(1);
CREATE TABLE [select]([from] INT, "a b" TEXT);
INSERT INTO [select] VALUES(1, 'x');
CREATE TABLE 'quoted'(x);
INSERT INTO 'quoted' VALUES(1);
CREATE TABLE \`ticks\`(x);
CREATE TABLE "café"(x);
INSERT INTO "café" VALUES(1);
CREATE TABLE commented(a /* first */, b -- second
);
INSERT INTO commented VALUES(1, 2);
CREATE TABLE empty(x);
CREATE TABLE strict_items(id INTEGER PRIMARY KEY, price REAL NOT NULL, tag TEXT) STRICT;
INSERT INTO strict_items VALUES(1, 2.0, NULL), (2, 19.99, 'sale');
ANALYZE;
`;

describe('dumpDatabase on edge cases', () => {
  const original = buildWithShell('edge', EDGE_CASES);
  const ours = dump(original);

  it('writes the same text as sqlite3 .dump', () => {
    assert.equal(ours, shellDump(original));
  });

  it('reloads to the same .dump', () => {
    const copy = reload('edge-reload', ours);
    assert.equal(shellDump(copy), shellDump(original));
  });

  it('reloads working FTS5, fts5vocab and R*Tree tables', () => {
    const copy = reload('edge-virtual', ours);
    assert.deepEqual(query(copy, "SELECT title FROM docs WHERE docs MATCH 'shell'"), [['Dump']]);
    assert.deepEqual(query(copy, "SELECT term, doc FROM docs_terms WHERE term = 'two'"), [
      ['two', 1n],
    ]);
    assert.deepEqual(query(copy, 'SELECT id FROM boxes WHERE min_x < 1 AND max_x > 1'), [[1n]]);
  });

  it('keeps REAL values REAL and integers exact', () => {
    const lines = ours.split('\n').filter((line) => line.startsWith('INSERT INTO numbers '));
    assert.deepEqual(lines, [
      "INSERT INTO numbers VALUES('two',2.0);",
      "INSERT INTO numbers VALUES('tenth',0.10000000000000000555);",
      "INSERT INTO numbers VALUES('inf',1e999);",
      "INSERT INTO numbers VALUES('-inf',-1e999);",
      "INSERT INTO numbers VALUES('int64 max',9223372036854775807);",
      "INSERT INTO numbers VALUES('int64 min',-9223372036854775808);",
      "INSERT INTO numbers VALUES('2^53+1',9007199254740993);",
      "INSERT INTO numbers VALUES('tiny',1.0000000000000000817e-05);",
      "INSERT INTO numbers VALUES('2^63 as real',9223372036854775807.8);",
      "INSERT INTO numbers VALUES('negative zero',0.0);",
      "INSERT INTO numbers VALUES('huge',1.5000000000000000071e+300);",
      "INSERT INTO numbers VALUES('price',0.98999999999999999111);",
      "INSERT INTO numbers VALUES('third',-0.33333333333333331482);",
    ]);
    const copy = reload('edge-numbers', ours);
    assert.deepEqual(
      query(copy, 'SELECT label, typeof(value), value FROM numbers WHERE rowid <= 7'),
      [
        ['two', 'real', 2],
        ['tenth', 'real', 0.1],
        ['inf', 'real', Infinity],
        ['-inf', 'real', -Infinity],
        ['int64 max', 'integer', 9223372036854775807n],
        ['int64 min', 'integer', -9223372036854775808n],
        ['2^53+1', 'integer', 9007199254740993n],
      ],
    );
  });

  it('escapes newlines with a marker the text does not contain', () => {
    const lines = ours.split('\n').filter((line) => line.startsWith('INSERT INTO texts '));
    assert.deepEqual(lines, [
      "INSERT INTO texts VALUES(1,replace('line\\nbreak','\\n',char(10)));",
      "INSERT INTO texts VALUES(2,replace(replace('crlf\\r\\nend','\\r',char(13)),'\\n',char(10)));",
      "INSERT INTO texts VALUES(3,'it''s \"quoted\"');",
      "INSERT INTO texts VALUES(4,replace('literal \\n and a newline\\012','\\012',char(10)));",
      "INSERT INTO texts VALUES(5,replace('both \\n and \\012(\\n0)','(\\n0)',char(10)));",
      "INSERT INTO texts VALUES(6,replace('literal \\r and a return\\015','\\015',char(13)));",
      "INSERT INTO texts VALUES(7,replace(replace('all of \\r \\015 (\\r0)(\\r1)\\n','(\\r1)',char(13)),'\\n',char(10)));",
      "INSERT INTO texts VALUES(8,'unicode é 😀');",
      "INSERT INTO texts VALUES(9,'tab\tend');",
    ]);
    const copy = reload('edge-texts', ours);
    assert.deepEqual(
      query(copy, 'SELECT body FROM texts ORDER BY id'),
      query(original, 'SELECT body FROM texts ORDER BY id'),
    );
  });

  it('keeps text after a NUL character', () => {
    // sqlite3 3.40's .dump cuts such a text at the NUL; the dump keeps it whole.
    const file = buildWithShell(
      'nul',
      "CREATE TABLE t(x); INSERT INTO t VALUES('a'||char(0)||'b'), ('it''s'||char(10)||char(0));",
    );
    const text = dump(file);
    assert.match(text, /^INSERT INTO t VALUES\('a'\|\|char\(0\)\|\|'b'\);$/m);
    assert.match(
      text,
      /^INSERT INTO t VALUES\(replace\('it''s\\n'\|\|char\(0\)\|\|'','\\n',char\(10\)\)\);$/m,
    );
    const copy = reload('nul-reload', text);
    assert.deepEqual(query(copy, 'SELECT typeof(x), hex(x) FROM t'), [
      ['text', '610062'],
      ['text', '697427730A00'],
    ]);
  });

  it("writes BLOBs as lower-case hex, empty ones as X''", () => {
    assert.match(ours, /^INSERT INTO settings VALUES\('a',X''\);$/m);
    assert.match(ours, /^INSERT INTO settings VALUES\('m',X'00ff10'\);$/m);
  });

  it('leaves generated columns out of INSERTs', () => {
    assert.match(ours, /^INSERT INTO measures VALUES\(40,2,'y'\);$/m);
    const copy = reload('edge-generated', ours);
    assert.deepEqual(query(copy, 'SELECT total, doubled FROM measures ORDER BY a'), [
      [3n, 2n],
      [42n, 80n],
    ]);
  });

  it('quotes table names that need it', () => {
    assert.match(ours, /^INSERT INTO "odd ""name""" VALUES\(1\);$/m);
    assert.match(ours, /^INSERT INTO "select" VALUES\(1,'x'\);$/m);
    assert.match(ours, /^CREATE TABLE IF NOT EXISTS 'quoted'\(x\);$/m);
    assert.match(ours, /^CREATE TABLE `ticks`\(x\);$/m);
    assert.match(ours, /^INSERT INTO "café" VALUES\(1\);$/m);
  });

  it('restores sqlite_sequence and statistics', () => {
    assert.match(
      ours,
      /^DELETE FROM sqlite_sequence;\nINSERT INTO sqlite_sequence VALUES\('counters',2\);\n/m,
    );
    assert.match(ours, /^ANALYZE sqlite_schema;\nINSERT INTO sqlite_stat1 VALUES/m);
  });

  it('hands a small dump over in one chunk', () => {
    const chunks = dumpChunks(original);
    assert.equal(chunks.join(''), ours);
    assert.equal(chunks.length, 1);
  });
});

describe('dumpDatabase special cases', () => {
  it('dumps sqlite_stat4 rows as the shell does', () => {
    const file = newDatabasePath('stat4');
    const db = new Database(file);
    db.exec(
      'CREATE TABLE t(a, b); CREATE INDEX t_a ON t(a); INSERT INTO t VALUES(1, 2), (1, 3), (2, 4); ANALYZE;',
    );
    db.close();
    const text = dump(file);
    assert.equal(text, shellDump(file));
    assert.match(text, /^ANALYZE sqlite_schema;\nINSERT INTO sqlite_stat4 VALUES\('t','t_a',/m);
  });

  it('writes an empty database as the shell does', () => {
    const file = buildWithShell('empty', 'PRAGMA user_version = 1;');
    assert.equal(dump(file), 'PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCOMMIT;\n');
    assert.equal(dump(file), shellDump(file));
  });

  it('ends the read transaction when write throws', () => {
    // A 120,000-character row fills a chunk while the table is being read.
    const file = buildWithShell(
      'write-error',
      'CREATE TABLE t(x); INSERT INTO t VALUES(hex(randomblob(60000)));',
    );
    const db = new Database(file, { readonly: true });
    try {
      assert.throws(
        () =>
          dumpDatabase(db, {}, () => {
            throw new Error('disk full');
          }),
        /disk full/,
      );
      assert.equal(db.inTransaction, false);
    } finally {
      db.close();
    }
  });
});

describe('dumpDatabase names and numbers', () => {
  it('quotes every SQLite keyword used as a table name', () => {
    const words = [
      'ABORT',
      'ACTION',
      'select',
      'Where',
      'CURRENT_TIMESTAMP',
      'WITHOUT',
      'rowid',
      'oid',
      'true',
      'STRICT',
      'within',
      'any',
    ];
    const script = words
      .map((word) => `CREATE TABLE "${word}"(x); INSERT INTO "${word}" VALUES(1);`)
      .join('\n');
    const file = buildWithShell('keywords', script);
    const ours = dump(file);
    assert.equal(ours, shellDump(file));
    assert.match(ours, /^INSERT INTO "Where" VALUES\(1\);$/m);
    assert.match(ours, /^INSERT INTO rowid VALUES\(1\);$/m);
  });

  it('writes subnormal REAL values that SQLite 3.53 reads back exactly', () => {
    // sqlite3 3.40's own parser rounds subnormals (4.94e-324 reads as 0.0),
    // so this checks the text against the shell and the values with better-sqlite3.
    const values = [4.9406564584124654e-324, 1e-310, 2.2250738585072009e-308];
    const file = newDatabasePath('subnormal');
    const db = new Database(file);
    db.exec('CREATE TABLE r(v REAL)');
    for (const value of values) db.prepare('INSERT INTO r VALUES(?)').run(value);
    db.close();

    const text = dump(file);
    assert.equal(text, shellDump(file));
    assert.match(text, /^INSERT INTO r VALUES\(4\.9406564584124654428e-324\);$/m);
    const copy = new Database(':memory:');
    copy.exec(text);
    assert.deepEqual(copy.prepare('SELECT v FROM r').pluck().all(), values);
    copy.close();
  });

  it("prints random REAL values with the shell's digits", () => {
    // A fixed-seed xorshift generator, so a failure can be reproduced.
    let state = 0x2545f491n;
    const bits = new BigUint64Array(1);
    const view = new Float64Array(bits.buffer);
    const nextBits = () => {
      state ^= (state << 13n) & 0xffffffffffffffffn;
      state ^= state >> 7n;
      state ^= (state << 17n) & 0xffffffffffffffffn;
      return state;
    };
    const values: number[] = [];
    while (values.length < 4000) {
      const kind = values.length % 4;
      bits[0] = nextBits();
      if (kind === 0 && Number.isFinite(view[0]!) && view[0] !== 0) values.push(view[0]!);
      const unit = Number(nextBits() >> 11n) / 2 ** 53;
      if (kind === 1) values.push(Math.round(unit * 1e6) / 100);
      if (kind === 2) values.push(unit * 10 ** Math.floor(((unit * 1e6) % 50) - 25));
      if (kind === 3) values.push(-unit * 2 ** Math.floor(((unit * 1e9) % 2000) - 1000));
    }
    const file = newDatabasePath('reals');
    const db = new Database(file);
    db.exec('CREATE TABLE r(v REAL)');
    const insert = db.prepare('INSERT INTO r VALUES(?)');
    db.transaction(() => values.forEach((value) => insert.run(value)))();
    db.close();

    const expected = shellDump(file)
      .split('\n')
      .filter((line) => line.startsWith('INSERT'));
    assert.equal(expected.length, values.length);
    values.forEach((value, i) =>
      assert.equal(`INSERT INTO r VALUES(${formatReal(value)});`, expected[i], `REAL ${value}`),
    );
    assert.equal(dump(file), shellDump(file));
  });
});

describe('dumpDatabase on random content', () => {
  it('matches sqlite3 and reloads for random tables', () => {
    // A fixed-seed generator (mulberry32), so a failure can be reproduced.
    let seed = 20240611;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const nameParts = [
      't',
      'Order',
      'select',
      'a b',
      'x"y',
      "it's",
      'é',
      '_1',
      'group',
      'rowid',
      '9',
    ];
    const textParts = [
      'a',
      "'",
      '\n',
      '\r',
      '\\n',
      '\\012',
      '(\\n0)',
      '\\r',
      'é',
      '😀',
      ' ',
      ',',
      ')',
      '--',
      '/*',
      'char(10)',
    ];
    const specialReals = [
      0.1,
      2.0,
      -0.5,
      1e-7,
      123456.789,
      1e21,
      -1e300,
      Infinity,
      -Infinity,
      1 / 3,
    ];
    const specialIntegers = [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n];
    const value = (): unknown => {
      const kind = Math.floor(random() * 6);
      if (kind === 0) return null;
      if (kind === 1)
        return random() < 0.3 ? pick(specialIntegers) : BigInt(Math.floor((random() - 0.5) * 1e9));
      if (kind === 2)
        return random() < 0.3
          ? pick(specialReals)
          : (random() - 0.5) * 10 ** Math.floor(random() * 30 - 15);
      if (kind === 3)
        return Array.from({ length: Math.floor(random() * 12) }, () => pick(textParts)).join('');
      if (kind === 4)
        return Buffer.from(
          Array.from({ length: Math.floor(random() * 5) }, () => Math.floor(random() * 256)),
        );
      return Math.floor(random() * 100);
    };

    const file = newDatabasePath('random');
    const db = new Database(file);
    db.defaultSafeIntegers(true);
    const names = new Set<string>();
    while (names.size < 25) names.add(`${pick(nameParts)}${pick(nameParts)}${names.size}`);
    for (const name of names) {
      const quoted = `"${name.replaceAll('"', '""')}"`;
      const columnCount = 1 + Math.floor(random() * 5);
      const columns = Array.from(
        { length: columnCount },
        (_, i) => `"c ${i}" ${pick(['', 'INTEGER', 'TEXT', 'REAL', 'BLOB', 'NUMERIC'])}`,
      );
      db.exec(`CREATE TABLE ${quoted}(${columns.join(', ')})`);
      const insert = db.prepare(
        `INSERT INTO ${quoted} VALUES(${columns.map(() => '?').join(',')})`,
      );
      for (let row = 0; row < 20; row++) insert.run(...Array.from({ length: columnCount }, value));
    }
    db.close();

    const ours = dump(file);
    assert.equal(ours, shellDump(file));
    // The content covers the hard cases, so the comparison above means something.
    assert.match(ours, /replace\(replace\('/);
    assert.match(ours, /'\(\\n0\)',char\(10\)\)/);
    assert.match(ours, /X'[0-9a-f]{4,}'/);
    assert.match(ours, /[,(]X''[,)]/);
    assert.match(ours, /[,(]-1e999[,)]/);
    assert.match(ours, /[,(]-9223372036854775808[,)]/);
    assert.match(ours, /^INSERT INTO "[^"]*""/m);
    assert.match(ours, /^CREATE TABLE IF NOT EXISTS "/m);
    const copy = reload('random-reload', ours);
    assert.equal(shellDump(copy), shellDump(file));
  });
});

const OPTIONS_FIXTURE = `
CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INT REFERENCES parent(id));
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO parent VALUES(1, 'p');
INSERT INTO child VALUES(1, 1), (2, 1);
CREATE INDEX child_parent ON child(parent_id);
CREATE TRIGGER child_check BEFORE INSERT ON child BEGIN
  SELECT CASE WHEN new.parent_id IS NULL THEN RAISE(ABORT, 'no parent') END;
END;
CREATE VIEW parent_names AS SELECT name FROM parent;
CREATE TABLE counters(id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT);
INSERT INTO counters(label) VALUES('a'), ('b');
DELETE FROM counters WHERE label = 'b';
CREATE TABLE other_counters(id INTEGER PRIMARY KEY AUTOINCREMENT);
INSERT INTO other_counters VALUES(7);
CREATE VIRTUAL TABLE docs USING fts5(body);
INSERT INTO docs VALUES('searchable text');
CREATE VIRTUAL TABLE docs_terms USING fts5vocab(docs, 'row');
CREATE TABLE docs_archive(body TEXT);
INSERT INTO docs_archive VALUES('old');
`;

describe('dumpDatabase options', () => {
  const original = buildWithShell('options', OPTIONS_FIXTURE);
  const plain = buildWithShell(
    'options-plain',
    OPTIONS_FIXTURE.replace(/^CREATE VIRTUAL.*\n^INSERT INTO docs .*\n^CREATE VIRTUAL.*\n/m, ''),
  );

  it('tables keeps the table with its indexes and triggers', () => {
    assert.equal(
      dump(original, { tables: ['child'] }),
      [
        'PRAGMA foreign_keys=OFF;',
        'BEGIN TRANSACTION;',
        'CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INT REFERENCES parent(id));',
        'INSERT INTO child VALUES(1,1);',
        'INSERT INTO child VALUES(2,1);',
        'CREATE INDEX child_parent ON child(parent_id);',
        'CREATE TRIGGER child_check BEFORE INSERT ON child BEGIN',
        "  SELECT CASE WHEN new.parent_id IS NULL THEN RAISE(ABORT, 'no parent') END;",
        'END;',
        'COMMIT;',
        '',
      ].join('\n'),
    );
  });

  it('tables matches names case-insensitively and takes views', () => {
    const text = dump(original, { tables: ['PARENT', 'parent_names'] });
    assert.equal(
      text,
      [
        'PRAGMA foreign_keys=OFF;',
        'BEGIN TRANSACTION;',
        'CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);',
        "INSERT INTO parent VALUES(1,'p');",
        'CREATE VIEW parent_names AS SELECT name FROM parent;',
        'COMMIT;',
        '',
      ].join('\n'),
    );
  });

  it('tables takes a virtual table with its shadow tables only', () => {
    const text = dump(original, { tables: ['docs'] });
    const created = text
      .split('\n')
      .flatMap(
        (line) =>
          line.match(
            /^(INSERT INTO sqlite_schema\(.*?'table','\w+'|CREATE TABLE IF NOT EXISTS '\w+')/,
          )?.[0] ?? [],
      );
    assert.deepEqual(created, [
      "INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table','docs'",
      "CREATE TABLE IF NOT EXISTS 'docs_data'",
      "CREATE TABLE IF NOT EXISTS 'docs_idx'",
      "CREATE TABLE IF NOT EXISTS 'docs_content'",
      "CREATE TABLE IF NOT EXISTS 'docs_docsize'",
      "CREATE TABLE IF NOT EXISTS 'docs_config'",
    ]);
    const copy = reload('options-docs', text);
    assert.deepEqual(query(copy, "SELECT body FROM docs WHERE docs MATCH 'searchable'"), [
      ['searchable text'],
    ]);
  });

  it('tables carries the AUTOINCREMENT counters', () => {
    const text = dump(original, { tables: ['counters'] });
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(-4), [
      "DELETE FROM sqlite_sequence WHERE name IN ('counters');",
      "INSERT INTO sqlite_sequence VALUES('counters',2);",
      'COMMIT;',
      '',
    ]);
    const copy = reload('options-counters', text);
    assert.deepEqual(query(copy, 'SELECT name, seq FROM sqlite_sequence'), [['counters', 2n]]);
    sqlite3(copy, "INSERT INTO counters(label) VALUES('next');");
    assert.deepEqual(query(copy, "SELECT id FROM counters WHERE label = 'next'"), [[3n]]);
  });

  it('tables rejects an unknown name', () => {
    assert.throws(
      () => dump(original, { tables: ['child', 'nope'] }),
      (error: unknown) => {
        assert.ok(error instanceof UserError);
        assert.equal(error.kind, 'not_found');
        assert.equal(error.code, 'TABLE_NOT_FOUND');
        assert.equal(
          error.message,
          'Table "nope" not found in the database. Check the name with `opsbox db info`.',
        );
        return true;
      },
    );
  });

  it('data false gives the schema alone', () => {
    const text = dump(original, { data: false });
    assert.doesNotMatch(text, /^INSERT/m);
    assert.doesNotMatch(text, /sqlite_sequence/);
    assert.match(text, /^CREATE VIRTUAL TABLE docs USING fts5\(body\);$/m);
    assert.doesNotMatch(text, /docs_data/);
    const copy = reload('options-schema', text);
    // The same statements; .schema lists them in creation order, the dump puts indexes, triggers and views last.
    const statements = (file: string) => sqlite3(file, '', ['.schema']).split(/;\n/).sort();
    assert.deepEqual(statements(copy), statements(original));
    assert.deepEqual(query(copy, 'SELECT count(*) FROM child'), [[0n]]);
    sqlite3(copy, "INSERT INTO docs VALUES('fresh index');");
    assert.deepEqual(query(copy, "SELECT body FROM docs WHERE docs MATCH 'fresh'"), [
      ['fresh index'],
    ]);
  });

  it('schema false matches .dump --data-only', () => {
    assert.equal(dump(plain, { schema: false }), shellDump(plain, '--data-only'));
  });

  it('schema false skips the rows of virtual tables', () => {
    const text = dump(original, { schema: false });
    assert.doesNotMatch(text, /^INSERT INTO docs VALUES/m);
    assert.doesNotMatch(text, /^INSERT INTO docs_terms /m);
    assert.match(text, /^INSERT INTO docs_content VALUES\(1,'searchable text'\);$/m);
    assert.match(text, /^INSERT INTO sqlite_sequence VALUES\('counters',2\);$/m);
    assert.doesNotMatch(text, /^(PRAGMA|BEGIN|COMMIT|CREATE|DELETE)/m);
  });

  it('data and schema both false is rejected', () => {
    assert.throws(
      () => dump(original, { data: false, schema: false }),
      (error: unknown) =>
        error instanceof UserError && error.kind === 'usage' && error.code === 'EMPTY_DUMP',
    );
  });

  it('reads one snapshot while another connection writes', () => {
    const file = newDatabasePath('snapshot');
    const setup = new Database(file);
    setup.pragma('journal_mode = WAL');
    setup.exec('CREATE TABLE a(body TEXT); CREATE TABLE b(n INTEGER); INSERT INTO b VALUES(1);');
    const insert = setup.prepare('INSERT INTO a VALUES(?)');
    for (let i = 0; i < 200; i++) insert.run('x'.repeat(1000));
    setup.close();

    const reader = new Database(file);
    const writer = new Database(file);
    const chunks: string[] = [];
    try {
      dumpDatabase(reader, {}, (chunk) => {
        // The first chunk is written while table a is still being read.
        if (chunks.length === 0)
          writer.exec("INSERT INTO b VALUES(2); INSERT INTO a VALUES('late');");
        chunks.push(chunk);
      });
      assert.equal(reader.inTransaction, false);
    } finally {
      reader.close();
      writer.close();
    }
    const text = chunks.join('');
    assert.ok(chunks.length > 1);
    assert.equal(text.split('\n').filter((line) => line.startsWith('INSERT INTO a ')).length, 200);
    assert.deepEqual(
      text.split('\n').filter((line) => line.startsWith('INSERT INTO b ')),
      ['INSERT INTO b VALUES(1);'],
    );
  });

  it("reads inside the caller's open transaction", () => {
    const db = new Database(plain, { readonly: true });
    try {
      let text = '';
      db.transaction(() => dumpDatabase(db, { tables: ['parent'] }, (chunk) => (text += chunk)))();
      assert.match(text, /^INSERT INTO parent VALUES\(1,'p'\);$/m);
    } finally {
      db.close();
    }
  });
});

describe('dumpDatabase on real data', () => {
  const cases = [
    {
      name: 'Chinook',
      script: path.join(SHARED_DATA, 'chinook', 'Chinook_Sqlite.sql'),
      counts: { Track: 3503n, InvoiceLine: 2240n },
    },
    {
      name: 'Northwind',
      script: path.join(SHARED_DATA, 'northwind', 'northwind.sql'),
      counts: { Orders: 830n, 'Order Details': 2155n },
    },
  ];

  for (const { name, script, counts } of cases) {
    describe(name, () => {
      const original = buildWithShell(name.toLowerCase(), readFileSync(script, 'utf8'));
      const chunks = dumpChunks(original);
      const ours = chunks.join('');

      it('dump text equals sqlite3 .dump', () => {
        assert.equal(ours, shellDump(original));
      });

      it('reloads to the same .dump and row counts', () => {
        const copy = reload(`${name.toLowerCase()}-reload`, ours);
        assert.equal(shellDump(copy), shellDump(original));
        for (const [table, rows] of Object.entries(counts)) {
          assert.deepEqual(query(copy, `SELECT count(*) FROM "${table}"`), [[rows]], table);
        }
      });

      it('writes chunks of about 64 KB', () => {
        const longestLine = Math.max(...ours.split('\n').map((line) => line.length + 1));
        assert.ok(chunks.length > 5);
        for (const chunk of chunks.slice(0, -1)) {
          assert.ok(chunk.length >= 64 * 1024, `chunk of ${chunk.length} characters`);
          assert.ok(chunk.length < 64 * 1024 + longestLine, `chunk of ${chunk.length} characters`);
        }
      });
    });
  }
});
