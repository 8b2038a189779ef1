/**
 * SQL dumps in the text format of the sqlite3 shell's `.dump`, matched line
 * for line against sqlite3 3.40.1. Statement order, quoting, REAL digits and
 * newline escapes are the shell's. A dump loaded into a fresh database with
 * `sqlite3 new.db < dump.sql` gives back the same `.dump` text.
 */
import type Database from 'better-sqlite3';

import { UserError } from '../core/errors.js';
import { isCompleteStatement } from './script.js';

export interface DumpOptions {
  /** Tables (or views) to export with their own indexes and triggers; all when absent or empty. */
  tables?: string[];
  /** Include the rows; default true. `false` gives a schema-only dump. */
  data?: boolean;
  /** Include the schema; default true. `false` gives the shell's `.dump --data-only`. */
  schema?: boolean;
}

interface SchemaEntry {
  type: string;
  name: string;
  tableName: string;
  sql: string;
}

/** Chunks handed to `write` are about this many characters long. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Writes a dump of `db` by calling `write` with consecutive chunks of SQL
 * text. Synchronous. Everything is read inside one read transaction (or the
 * caller's open transaction), so concurrent writers never show up halfway.
 */
export function dumpDatabase(
  db: Database.Database,
  options: DumpOptions,
  write: (chunk: string) => void,
): void {
  const includeData = options.data ?? true;
  const includeSchema = options.schema ?? true;
  if (!includeData && !includeSchema) {
    throw new UserError(
      'usage',
      'Nothing to dump: both the data and the schema are excluded. Keep at least one of them.',
      {
        code: 'EMPTY_DUMP',
      },
    );
  }

  const output = new ChunkedOutput(write);
  inReadTransaction(db, () => {
    const entries = readSchema(db);
    const shadowTables = readShadowTables(db);
    const selected = selectEntries(entries, shadowTables, options.tables);
    const counters = selectCounters(entries, selected, options.tables);
    new DumpWriter(db, output, shadowTables, includeData, includeSchema).dump(selected, counters);
  });
  output.flush();
}

function inReadTransaction(db: Database.Database, body: () => void): void {
  if (db.inTransaction) {
    body();
    return;
  }
  // A deferred transaction takes its snapshot at the first read and keeps it
  // until COMMIT, so every table is read as of the same moment.
  db.exec('BEGIN');
  let finished = false;
  try {
    body();
    finished = true;
  } finally {
    if (db.inTransaction) db.exec(finished ? 'COMMIT' : 'ROLLBACK');
  }
}

function readSchema(db: Database.Database): SchemaEntry[] {
  const rows = db
    .prepare(
      'SELECT type, name, tbl_name, sql FROM main.sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid',
    )
    .all() as { type: string; name: string; tbl_name: string; sql: string }[];
  return rows.map((row) => ({
    type: row.type,
    name: row.name,
    tableName: row.tbl_name,
    sql: row.sql,
  }));
}

/** Names of the tables that virtual tables (FTS5, R*Tree) keep their content in. */
function readShadowTables(db: Database.Database): Set<string> {
  const names = db
    .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'")
    .pluck()
    .all() as string[];
  return new Set(names.map(foldCase));
}

/** SQLite compares identifiers case-insensitively for ASCII letters only. */
function foldCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

/**
 * Keeps the requested tables and views, the shadow tables of requested
 * virtual tables, and the indexes and triggers defined on any of them.
 */
function selectEntries(
  entries: SchemaEntry[],
  shadowTables: Set<string>,
  tables: string[] | undefined,
): SchemaEntry[] {
  if (!tables || tables.length === 0) return entries;

  const known = new Map(
    entries
      .filter((entry) => entry.type === 'table' || entry.type === 'view')
      .map((entry) => [foldCase(entry.name), entry]),
  );
  const wanted = new Set<string>();
  for (const table of tables) {
    const entry = known.get(foldCase(table));
    if (!entry) {
      throw new UserError(
        'not_found',
        `Table "${table}" not found in the database. Check the name with \`opsbox db info\`.`,
        {
          code: 'TABLE_NOT_FOUND',
        },
      );
    }
    wanted.add(foldCase(entry.name));
    if (isVirtualTable(entry.sql)) {
      const prefix = `${foldCase(entry.name)}_`;
      for (const shadow of shadowTables) if (shadow.startsWith(prefix)) wanted.add(shadow);
    }
  }
  return entries.filter((entry) =>
    wanted.has(
      foldCase(entry.type === 'index' || entry.type === 'trigger' ? entry.tableName : entry.name),
    ),
  );
}

/**
 * Selects the tables whose AUTOINCREMENT counters a filtered dump carries:
 * the selected ones. Without a filter, or with sqlite_sequence itself
 * selected, the whole sqlite_sequence table is dumped instead.
 */
function selectCounters(
  entries: SchemaEntry[],
  selected: SchemaEntry[],
  tables: string[] | undefined,
): Set<string> | undefined {
  if (!tables || tables.length === 0) return undefined;
  if (!entries.some((entry) => entry.name === 'sqlite_sequence')) return undefined;
  if (selected.some((entry) => entry.name === 'sqlite_sequence')) return undefined;
  return new Set(
    selected.filter((entry) => entry.type === 'table').map((entry) => foldCase(entry.name)),
  );
}

function isVirtualTable(sql: string): boolean {
  return sql.startsWith('CREATE VIRTUAL TABLE');
}

/** Buffers small pieces of text and hands them to `write` in large chunks. */
class ChunkedOutput {
  private buffer = '';

  constructor(private readonly write: (chunk: string) => void) {}

  push(text: string): void {
    this.buffer += text;
    if (this.buffer.length >= CHUNK_CHARS) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    const chunk = this.buffer;
    this.buffer = '';
    this.write(chunk);
  }
}

class DumpWriter {
  private writableSchema = false;

  constructor(
    private readonly db: Database.Database,
    private readonly output: ChunkedOutput,
    private readonly shadowTables: Set<string>,
    private readonly includeData: boolean,
    private readonly includeSchema: boolean,
  ) {}

  dump(entries: SchemaEntry[], counters: Set<string> | undefined): void {
    // Foreign keys are off while the dump loads, so a table may reference
    // one that is created later, and the whole load is one transaction.
    if (this.includeSchema) this.output.push('PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n');

    // Tables in creation order, sqlite_sequence last, then the indexes,
    // triggers and views, which need every table in place.
    const tables = entries.filter((entry) => entry.type === 'table');
    const sequence = tables.filter((entry) => entry.tableName === 'sqlite_sequence');
    for (const table of [
      ...tables.filter((entry) => entry.tableName !== 'sqlite_sequence'),
      ...sequence,
    ])
      this.dumpTable(table);
    if (counters && this.includeData) this.dumpCounters(counters);
    if (this.includeSchema) {
      for (const entry of entries)
        if (entry.type === 'index' || entry.type === 'trigger' || entry.type === 'view')
          this.output.push(formatSchemaObject(entry.sql));
    }

    if (this.writableSchema) this.output.push('PRAGMA writable_schema=OFF;\n');
    if (this.includeSchema) this.output.push('COMMIT;\n');
  }

  private dumpTable(table: SchemaEntry): void {
    const { name, sql } = table;
    if (name === 'sqlite_sequence') {
      if (!this.includeData) return;
      if (this.includeSchema) this.output.push('DELETE FROM sqlite_sequence;\n');
    } else if (/^sqlite_stat.$/su.test(name)) {
      // NOTE: better-sqlite3's SQLite has STAT4 and Debian's sqlite3 3.40
      // shell has not, so that shell rejects the sqlite_stat4 rows (as it
      // does in its own dumps) and loads the rest.
      if (!this.includeData) return;
      if (this.includeSchema) this.output.push('ANALYZE sqlite_schema;\n');
    } else if (name.startsWith('sqlite_')) {
      return;
    } else if (isVirtualTable(sql)) {
      // A virtual table has no rows of its own: its shadow tables hold them.
      if (this.includeSchema) this.pushVirtualTable(table);
      return;
    } else if (this.includeSchema) {
      // Without data, shadow tables are left for CREATE VIRTUAL TABLE to make.
      if (!this.includeData && this.shadowTables.has(foldCase(name))) return;
      this.output.push(formatCreateTable(sql));
    }
    if (this.includeData) this.dumpRows(name);
  }

  /**
   * Writes the sqlite_sequence rows of the given tables. Loading the rows
   * of such a table already sets its counter to the largest id, which is
   * lower than the stored one when the last rows were deleted, so that
   * entry is replaced and the counters of other tables stay.
   */
  private dumpCounters(tables: Set<string>): void {
    const rows = this.db
      .prepare('SELECT name, seq FROM main.sqlite_sequence')
      .raw(true)
      .safeIntegers(true)
      .all() as unknown[][];
    const selected = rows.filter(
      ([name]) => typeof name === 'string' && tables.has(foldCase(name)),
    );
    if (selected.length === 0) return;
    if (this.includeSchema) {
      this.output.push(
        `DELETE FROM sqlite_sequence WHERE name IN (${selected.map(([name]) => formatValue(name)).join(',')});\n`,
      );
    }
    for (const [name, seq] of selected)
      this.output.push(
        `INSERT INTO sqlite_sequence VALUES(${formatValue(name)},${formatValue(seq)});\n`,
      );
  }

  private pushVirtualTable({ name, sql }: SchemaEntry): void {
    if (!this.includeData) {
      this.output.push(`${sql};\n`);
      return;
    }
    // With data, the shadow tables come with their rows, so the virtual
    // table is registered without running its module's create step, which
    // would make empty shadow tables of its own.
    if (!this.writableSchema) {
      this.output.push('PRAGMA writable_schema=ON;\n');
      this.writableSchema = true;
    }
    const quotedName = `'${name.replaceAll("'", "''")}'`;
    this.output.push(
      `INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table',${quotedName},${quotedName},0,'${sql.replaceAll("'", "''")}');\n`,
    );
  }

  private dumpRows(table: string): void {
    // table_info leaves out generated columns, and an INSERT without a
    // column list expects exactly the other columns.
    const columns = this.db
      .prepare("SELECT name FROM pragma_table_info(?, 'main')")
      .pluck()
      .all(table) as string[];
    if (columns.length === 0) return;

    const select = this.db.prepare(
      `SELECT ${columns.map(quoteIdentifier).join(',')} FROM main.${quoteIdentifier(table)}`,
    );
    select.raw(true).safeIntegers(true);
    const prefix = `INSERT INTO ${formatInsertTarget(table)} VALUES(`;
    for (const row of select.iterate() as IterableIterator<unknown[]>) {
      let line = prefix + formatValue(row[0]);
      for (let i = 1; i < row.length; i++) line += ',' + formatValue(row[i]);
      this.output.push(line + ');\n');
    }
  }
}

// ---------------------------------------------------------------------------
// Schema statements

/**
 * Formats a CREATE TABLE statement as the shell does. A table whose name is
 * quoted with `"` or `'` gets IF NOT EXISTS. FTS5 and other modules name
 * their shadow tables that way, and those may already exist when the dump loads.
 */
function formatCreateTable(sql: string): string {
  const text = closeTrailingComment(sql);
  if (/^CREATE TABLE ['"]/.test(text)) return `CREATE TABLE IF NOT EXISTS ${text.slice(13)};\n`;
  return `${text};\n`;
}

/** Appends what a stored SQL text that ends inside a comment needs for a following `;` to end it. */
function closeTrailingComment(sql: string): string {
  if (!sql.includes('/*') && !sql.includes('--')) return sql;
  for (const ending of ['', '*/', '\n']) {
    if (isCompleteStatement(`${sql}${ending};`)) return sql + ending;
  }
  return sql;
}

/** Indexes, triggers and views: a `--` comment anywhere puts the `;` on a line of its own. */
function formatSchemaObject(sql: string): string {
  return sql.includes('--') ? `${sql}\n;\n` : `${sql};\n`;
}

// ---------------------------------------------------------------------------
// Values and names

/** SQLite 3.40's keywords; the shell quotes a table name that is one of them. */
const KEYWORDS = new Set(
  (
    'ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN BETWEEN BY ' +
    'CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE ' +
    'CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP ' +
    'EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM ' +
    'FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT ' +
    'INSTEAD INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING ' +
    'NOTNULL NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY ' +
    'RAISE RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ' +
    'ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE ' +
    'UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT'
  ).split(' '),
);

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Formats the table name after INSERT INTO: bare when it is a plain ASCII word and not a keyword. */
function formatInsertTarget(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !KEYWORDS.has(name.toUpperCase())) return name;
  return quoteIdentifier(name);
}

// NOTE: better-sqlite3 decodes TEXT as UTF-8 and puts U+FFFD in place of
// invalid bytes, so such a value changes in the dump. The shell copies the bytes.
function formatValue(value: unknown): string {
  if (value === null) return 'NULL';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return formatReal(value);
  if (typeof value === 'string') return quoteText(value);
  return `X'${(value as Buffer).toString('hex')}'`;
}

/**
 * Quotes a text value as the shell does. Newlines and carriage returns are
 * replaced by a marker inside the literal and restored with
 * `replace(..., marker, char(10))`, so each INSERT stays on one line. The
 * marker is `\n` (`\r`), else `\012` (`\015`), else `(\n0)`, `(\n1)`, ... :
 * the first one that does not occur in the text.
 */
function quoteText(text: string): string {
  if (!/['\n\r\0]/.test(text)) return `'${text}'`;
  const hasNewline = text.includes('\n');
  const hasReturn = text.includes('\r');
  let body = text.replaceAll("'", "''");
  // The shell stops a text at its first NUL and loses the rest. A NUL
  // written raw would end the statement for readers of C strings.
  if (text.includes('\0')) body = body.replaceAll('\0', "'||char(0)||'");
  if (!hasNewline && !hasReturn) return `'${body}'`;

  let head = '';
  let tail = '';
  if (hasNewline) {
    const marker = unusedMarker(text, '\\n', '\\012');
    head += 'replace(';
    body = body.replaceAll('\n', marker);
    tail = `,'${marker}',char(10))`;
  }
  if (hasReturn) {
    const marker = unusedMarker(text, '\\r', '\\015');
    head += 'replace(';
    body = body.replaceAll('\r', marker);
    tail = `,'${marker}',char(13))${tail}`;
  }
  return `${head}'${body}'${tail}`;
}

function unusedMarker(text: string, first: string, second: string): string {
  if (!text.includes(first)) return first;
  if (!text.includes(second)) return second;
  for (let i = 0; ; i++) {
    const marker = `(${first}${i})`;
    if (!text.includes(marker)) return marker;
  }
}

// ---------------------------------------------------------------------------
// REAL values

/** Formatted REAL values by value: columns such as prices repeat a few values. */
const realCache = new Map<number, string>();
const REAL_CACHE_LIMIT = 65536;

/**
 * Formats a REAL as the shell does, so it reads back as the same double and
 * stays REAL: integral values as `<integer>.0`, infinities as `1e999` and
 * `-1e999`, everything else with SQLite's `%!.20g` (20 significant digits).
 */
export function formatReal(value: number): string {
  if (value === Infinity) return '1e999';
  if (value === -Infinity) return '-1e999';
  // The shell tests `r == (double)(sqlite3_int64)r`, true for integral
  // values in the int64 range (and for -0.0, printed as 0.0).
  if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
    return `${Math.abs(value) < 2 ** 53 ? String(value) : BigInt(value).toString()}.0`;
  }
  let text = realCache.get(value);
  if (text === undefined) {
    if (realCache.size >= REAL_CACHE_LIMIT) realCache.clear();
    text = formatRealDigits(value);
    realCache.set(value, text);
  }
  return text;
}

/*
 * SQLite 3.40's printf computes the digits of `%!.20g` in `long double`,
 * which on x86-64 is the x87 80-bit format with a 64-bit significand. Its
 * last digits can differ from the exact decimal value: 1e-5 prints as
 * 1.0000000000000000817e-05, while the exact value rounds to ...0818e-05.
 * To print the same text, the steps below repeat that computation and round
 * each intermediate to 64 bits, half to even, as the FPU does. An extended
 * value is `m * 2^e` with `m` in [2^63, 2^64), or m = 0.
 */
interface Extended {
  m: bigint;
  e: number;
}

const TWO_POW_64 = 1n << 64n;
const doubleView = new Float64Array(1);
const doubleBits = new BigUint64Array(doubleView.buffer);

function bitLength(m: bigint): number {
  let bits = Math.floor(Math.log2(Number(m))) + 1;
  // Number(m) rounds, so the estimate can be one off near a power of two.
  if (m >> BigInt(bits - 1) === 0n) bits--;
  else if (m >> BigInt(bits) !== 0n) bits++;
  return bits;
}

function roundExtended(m: bigint, e: number): Extended {
  if (m === 0n) return { m, e: 0 };
  const bits = bitLength(m);
  if (bits < 64) return { m: m << BigInt(64 - bits), e: e - (64 - bits) };
  if (bits === 64) return { m, e };
  const shift = BigInt(bits - 64);
  let kept = m >> shift;
  const dropped = m - (kept << shift);
  const half = 1n << (shift - 1n);
  if (dropped > half || (dropped === half && (kept & 1n) === 1n)) kept++;
  if (kept === TWO_POW_64) return { m: kept >> 1n, e: e + bits - 63 };
  return { m: kept, e: e + bits - 64 };
}

function extendedFromDouble(value: number): Extended {
  doubleView[0] = value;
  const bits = doubleBits[0]!;
  const exponentField = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  if (exponentField === 0) return roundExtended(fraction, -1074);
  return roundExtended(fraction | (1n << 52n), exponentField - 1075);
}

function multiply(a: Extended, b: Extended): Extended {
  return roundExtended(a.m * b.m, a.e + b.e);
}

function divide(a: Extended, b: Extended): Extended {
  // 66 extra bits give a quotient of at least 65 bits; a sticky bit for a
  // nonzero remainder keeps round-half-even exact.
  const numerator = a.m << 66n;
  const quotient = numerator / b.m;
  const sticky = numerator === quotient * b.m ? 0n : 1n;
  return roundExtended((quotient << 1n) | sticky, a.e - b.e - 67);
}

function add(a: Extended, b: Extended): Extended {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  if (a.e >= b.e) return roundExtended((a.m << BigInt(a.e - b.e)) + b.m, b.e);
  return roundExtended((b.m << BigInt(b.e - a.e)) + a.m, a.e);
}

function compare(a: Extended, b: Extended): number {
  if (a.m === 0n || b.m === 0n) return Number(a.m !== 0n) - Number(b.m !== 0n);
  if (a.e !== b.e) return a.e < b.e ? -1 : 1;
  if (a.m === b.m) return 0;
  return a.m < b.m ? -1 : 1;
}

// The constants are C `double` literals widened to long double.
const ONE = extendedFromDouble(1);
const TEN = extendedFromDouble(10);
const TEN_POW_10 = extendedFromDouble(1e10);
const TEN_POW_100 = extendedFromDouble(1e100);
const TEN_POW_8 = extendedFromDouble(1e8);
const TEN_POW_MINUS_8 = extendedFromDouble(1e-8);
const ONE_TENTH = extendedFromDouble(0.1);
// printf's rounder for 19 digits after the first: 5.0e-10 * 1.0e-10 in double.
const ROUNDER = extendedFromDouble(5.0e-10 * 1.0e-10);

interface ScaleStep {
  scale: Extended;
  nextHundred: Extended;
  nextTen: Extended;
  nextOne: Extended;
}

/** Scales reached after `hundreds` x1e100, `tens` x1e10 and `ones` x10 steps, with their next thresholds. */
const scaleSteps = new Map<number, ScaleStep>();

function scaleStep(hundreds: number, tens: number, ones: number): ScaleStep {
  const key = hundreds * 10000 + tens * 100 + ones;
  let step = scaleSteps.get(key);
  if (step === undefined) {
    let scale = ONE;
    if (ones > 0) scale = multiply(scaleStep(hundreds, tens, ones - 1).scale, TEN);
    else if (tens > 0) scale = multiply(scaleStep(hundreds, tens - 1, 0).scale, TEN_POW_10);
    else if (hundreds > 0) scale = multiply(scaleStep(hundreds - 1, 0, 0).scale, TEN_POW_100);
    step = {
      scale,
      nextHundred: multiply(TEN_POW_100, scale),
      nextTen: multiply(TEN_POW_10, scale),
      nextOne: multiply(TEN, scale),
    };
    scaleSteps.set(key, step);
  }
  return step;
}

/**
 * Formats a finite value that is not integral (or is beyond int64) with
 * `%!.20g` as SQLite 3.40 does on x86-64.
 * NOTE: on AArch64, long double has a 113-bit significand, so a shell built
 * there prints other last digits. This keeps the x86-64 ones, which read back
 * to the same double either way.
 */
function formatRealDigits(value: number): string {
  let x = extendedFromDouble(Math.abs(value));

  // Bring x into [1, 10) and count the decimal exponent, step by step as printf does.
  let exponent = 0;
  let hundreds = 0;
  let tens = 0;
  let ones = 0;
  let step = scaleStep(0, 0, 0);
  while (compare(x, step.nextHundred) >= 0 && exponent <= 350) {
    exponent += 100;
    step = scaleStep(++hundreds, tens, ones);
  }
  while (compare(x, step.nextTen) >= 0 && exponent <= 350) {
    exponent += 10;
    step = scaleStep(hundreds, ++tens, ones);
  }
  while (compare(x, step.nextOne) >= 0 && exponent <= 350) {
    exponent += 1;
    step = scaleStep(hundreds, tens, ++ones);
  }
  x = divide(x, step.scale);
  while (compare(x, TEN_POW_MINUS_8) < 0) {
    x = multiply(x, TEN_POW_8);
    exponent -= 8;
  }
  while (compare(x, ONE) < 0) {
    x = multiply(x, TEN);
    exponent -= 1;
  }
  x = add(x, ROUNDER);
  if (compare(x, TEN) >= 0) {
    x = multiply(x, ONE_TENTH);
    exponent += 1;
  }

  return placeDigits(value < 0, significantDigits(x), exponent);
}

/**
 * Computes the 20 digits printf takes from x in [1, 10): the integer part,
 * then `x = (x - digit) * 10` rounded to 64 bits, and again. In fixed point
 * with 63 fraction bits, each step adds a trailing zero bit and rounding
 * drops at most 3 bits. From the third digit on the steps are therefore
 * exact, and the remaining digits come from one truncated division.
 */
function significantDigits(x: Extended): string {
  let fixed = x.m << BigInt(63 + x.e);
  let digits = '';
  for (let i = 0; i < 2; i++) {
    const digit = fixed >> 63n;
    digits += digit.toString();
    let next = (fixed - (digit << 63n)) * 10n;
    // Bits below the 64-bit significand: 3 for values in [8, 10), 2 in [4, 8), 1 in [2, 4).
    let lost = 0n;
    if (next >= 1n << 66n) lost = 3n;
    else if (next >= 1n << 65n) lost = 2n;
    else if (next >= TWO_POW_64) lost = 1n;
    if (lost > 0n) {
      let kept = next >> lost;
      const dropped = next - (kept << lost);
      const half = 1n << (lost - 1n);
      if (dropped > half || (dropped === half && (kept & 1n) === 1n)) kept++;
      next = kept << lost;
    }
    fixed = next;
  }
  return digits + ((fixed * 10n ** 17n) >> 63n).toString().padStart(18, '0');
}

/** Lays out the digits the way `%!.20g` does: trailing zeros dropped, but never the one after the point. */
function placeDigits(negative: boolean, digits: string, exponent: number): string {
  const scientific = exponent < -4 || exponent > 19;
  let mantissa: string;
  if (scientific) mantissa = `${digits[0]}.${digits.slice(1)}`;
  else if (exponent < 0) mantissa = `0.${'0'.repeat(-exponent - 1)}${digits}`;
  else mantissa = `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  mantissa = mantissa.replace(/0+$/, '');
  if (mantissa.endsWith('.')) mantissa += '0';

  let text = negative ? `-${mantissa}` : mantissa;
  if (scientific) {
    const magnitude = Math.abs(exponent);
    text += `e${exponent < 0 ? '-' : '+'}${magnitude < 10 ? '0' : ''}${magnitude}`;
  }
  return text;
}
