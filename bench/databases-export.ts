/**
 * Export speed against the sqlite3 shell: `opsbox db export NAME` and the
 * in-process `dumpDatabase` compared with `sqlite3 FILE .dump`, all writing
 * to /dev/null. The baseline is measured in the same run on the same files.
 * Goal: export at most 1.5 times the time of `sqlite3 db .dump`.
 *
 * Run: npx tsc -p . && node dist/bench/databases-export.js [--runs N]
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Database from 'better-sqlite3';

import { dumpDatabase } from '../src/databases/dump.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED_DATA = path.resolve(ROOT, '..', 'shared', 'data');
const SQLITE3 = '/usr/bin/sqlite3';
const BIN = path.join(ROOT, 'bin', 'opsbox.js');

/** Copies of Chinook's Track and InvoiceLine rows in the large database. */
const LARGE_COPIES = 50;

interface Subject {
  name: string;
  file: string;
}

function runChecked(command: string, args: string[], input = ''): void {
  const result = spawnSync(command, args, {
    input,
    stdio: ['pipe', 'ignore', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString()}`);
}

function buildDatabases(dir: string): Subject[] {
  const chinook = path.join(dir, 'chinook.db');
  const northwind = path.join(dir, 'northwind.db');
  const large = path.join(dir, 'chinook-large.db');
  runChecked(
    SQLITE3,
    ['-cmd', 'PRAGMA synchronous=OFF', chinook],
    readFileSync(path.join(SHARED_DATA, 'chinook', 'Chinook_Sqlite.sql'), 'utf8'),
  );
  runChecked(
    SQLITE3,
    ['-cmd', 'PRAGMA synchronous=OFF', northwind],
    readFileSync(path.join(SHARED_DATA, 'northwind', 'northwind.sql'), 'utf8'),
  );

  // Chinook with its two largest tables repeated: about 175,000 tracks. The
  // script runs before the ATTACH, because its DROP TABLE IF EXISTS would
  // otherwise find and drop the attached tables.
  runChecked(
    SQLITE3,
    ['-cmd', 'PRAGMA synchronous=OFF', large],
    readFileSync(path.join(SHARED_DATA, 'chinook', 'Chinook_Sqlite.sql'), 'utf8'),
  );
  const copies = `WITH RECURSIVE copy(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM copy WHERE n < ${LARGE_COPIES - 1})`;
  runChecked(
    SQLITE3,
    ['-cmd', 'PRAGMA synchronous=OFF', large],
    `ATTACH '${chinook}' AS source;
BEGIN;
${copies} INSERT INTO main.Track SELECT TrackId + n * 10000, Name, AlbumId, MediaTypeId, GenreId, Composer, Milliseconds, Bytes, UnitPrice FROM source.Track, copy;
${copies} INSERT INTO main.InvoiceLine SELECT InvoiceLineId + n * 10000, InvoiceId, TrackId, UnitPrice, Quantity FROM source.InvoiceLine, copy;
COMMIT;
`,
  );
  return [
    { name: 'Chinook', file: chinook },
    { name: 'Northwind', file: northwind },
    { name: `Chinook, Track x${LARGE_COPIES}`, file: large },
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeRuns(runs: number, body: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    body();
    times.push(performance.now() - start);
  }
  return median(times);
}

function spawnToNull(command: string, args: string[]): void {
  const devNull = openSync('/dev/null', 'w');
  try {
    const result = spawnSync(command, args, { stdio: ['ignore', devNull, 'pipe'] });
    if (result.status !== 0)
      throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString()}`);
  } finally {
    closeSync(devNull);
  }
}

function dumpInProcess(file: string): void {
  const devNull = openSync('/dev/null', 'w');
  const db = new Database(file, { readonly: true });
  try {
    dumpDatabase(db, {}, (chunk) => writeSync(devNull, chunk));
  } finally {
    db.close();
    closeSync(devNull);
  }
}

/** Registers each database in a fresh data directory by importing sqlite3's dump of it. */
function importIntoDataDir(dataDir: string, subjects: Subject[]): string[] {
  return subjects.map((subject, i) => {
    const name = `bench${i}`;
    const dumpFile = path.join(path.dirname(dataDir), `${name}.sql`);
    const dumpText = spawnSync(SQLITE3, [subject.file, '.dump'], {
      maxBuffer: 512 * 1024 * 1024,
    }).stdout;
    writeFileSync(dumpFile, dumpText);
    runChecked(process.execPath, [BIN, '--data-dir', dataDir, 'db', 'import', name, dumpFile]);
    rmSync(dumpFile);
    return name;
  });
}

function main(): void {
  const runsFlag = process.argv.indexOf('--runs');
  const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 5;
  const dir = mkdtempSync(path.join(tmpdir(), 'opsbox-bench-export-'));
  try {
    const subjects = buildDatabases(dir);
    const dataDir = path.join(dir, 'data');
    const names = importIntoDataDir(dataDir, subjects);

    console.log(`export against sqlite3 .dump, median of ${runs} runs, output to /dev/null`);
    console.log('database                  sqlite3 ms  in-process ms  ratio  CLI ms  ratio');
    subjects.forEach((subject, i) => {
      const shell = timeRuns(runs, () => spawnToNull(SQLITE3, [subject.file, '.dump']));
      const library = timeRuns(runs, () => dumpInProcess(subject.file));
      const cli = timeRuns(runs, () =>
        spawnToNull(process.execPath, [BIN, '--data-dir', dataDir, 'db', 'export', names[i]!]),
      );
      console.log(
        `${subject.name.padEnd(24)}  ${shell.toFixed(0).padStart(10)}  ${library.toFixed(0).padStart(13)}  ${(library / shell).toFixed(2).padStart(5)}  ${cli.toFixed(0).padStart(6)}  ${(cli / shell).toFixed(2).padStart(5)}`,
      );
    });
    console.log('goal: CLI ratio <= 1.5 (process start included)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
