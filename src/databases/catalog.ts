import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';

import Database from 'better-sqlite3';

import type { Context } from '../core/context.js';
import { LAYOUT } from '../core/data-dir.js';
import { UserError } from '../core/errors.js';
import { openDatabaseFile } from './connection.js';

/** Database names: what D1 accepts and what is safe as a file name. */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9_-]{0,62})$/;

export interface DatabaseRecord {
  uuid: string;
  name: string;
  createdAt: string;
  file: string;
}

export interface TableInfo {
  name: string;
  rows: number;
}

export interface DatabaseInfo extends DatabaseRecord {
  sizeBytes: number;
  tables: TableInfo[];
}

export function validateName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new UserError(
      'invalid',
      `Invalid database name "${name}": use 1-63 lower-case letters, digits, '_' or '-', starting with a letter or digit.`,
      { code: 'INVALID_DATABASE_NAME' },
    );
  }
  return name;
}

/**
 * The catalog of named databases. Names and ids live in the state store; each
 * database is one SQLite file, `databases/<name>.sqlite`.
 */
export class DatabaseCatalog {
  private findStatement?: Database.Statement;

  constructor(private readonly context: Context) {}

  fileFor(name: string): string {
    return this.context.dataDir.path(LAYOUT.databases, `${name}.sqlite`);
  }

  create(name: string): DatabaseRecord {
    validateName(name);
    if (this.find(name)) {
      throw new UserError(
        'conflict',
        `Database "${name}" already exists. Pick another name, or delete it first with \`opsbox db delete ${name}\`.`,
        { code: 'DATABASE_EXISTS' },
      );
    }
    this.context.dataDir.ensure(LAYOUT.databases);
    const file = this.fileFor(name);
    // A file left behind by a crash between these two steps is adopted: it
    // has no catalog row, so no user can have written to it since.
    const db = new Database(file);
    db.close();
    const record: DatabaseRecord = {
      uuid: randomUUID(),
      name,
      createdAt: new Date().toISOString(),
      file,
    };
    this.context.state
      .prepare('INSERT INTO databases (uuid, name, created_at) VALUES (?, ?, ?)')
      .run(record.uuid, name, record.createdAt);
    return record;
  }

  list(): DatabaseRecord[] {
    const rows = this.context.state
      .prepare('SELECT uuid, name, created_at FROM databases ORDER BY name')
      .all() as CatalogRow[];
    return rows.map((row) => this.toRecord(row));
  }

  /** Finds a database by name or uuid. */
  find(nameOrId: string): DatabaseRecord | undefined {
    // Prepared once: the HTTP API looks a database up on every query.
    this.findStatement ??= this.context.state.prepare(
      'SELECT uuid, name, created_at FROM databases WHERE name = ? OR uuid = ?',
    );
    const row = this.findStatement.get(nameOrId, nameOrId) as CatalogRow | undefined;
    return row && this.toRecord(row);
  }

  get(nameOrId: string): DatabaseRecord {
    const record = this.find(nameOrId);
    if (!record && !UUID_PATTERN.test(nameOrId)) validateName(nameOrId);
    if (!record) {
      throw new UserError(
        'not_found',
        `Database "${nameOrId}" not found. List databases with \`opsbox db list\`, or create it with \`opsbox db create ${nameOrId}\`.`,
        { code: 'DATABASE_NOT_FOUND' },
      );
    }
    return record;
  }

  info(nameOrId: string): DatabaseInfo {
    const record = this.get(nameOrId);
    const db = openDatabaseFile(record.file, { readonly: true });
    try {
      const names = db
        .prepare(
          "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .pluck()
        .all() as string[];
      const tables = names.map((name) => ({
        name,
        rows: Number(
          db
            .prepare(`SELECT count(*) FROM ${quoteIdentifier(name)}`)
            .pluck()
            .get(),
        ),
      }));
      return { ...record, sizeBytes: fileSize(record.file), tables };
    } finally {
      db.close();
    }
  }

  /** Removes the database and its file; its backups stay in `backups/<name>/`. */
  delete(nameOrId: string): DatabaseRecord {
    const record = this.get(nameOrId);
    this.context.state.prepare('DELETE FROM databases WHERE uuid = ?').run(record.uuid);
    for (const suffix of ['', '-journal', '-wal', '-shm'])
      rmSync(record.file + suffix, { force: true });
    return record;
  }

  private toRecord(row: CatalogRow): DatabaseRecord {
    return {
      uuid: row.uuid,
      name: row.name,
      createdAt: row.created_at,
      file: this.fileFor(row.name),
    };
  }
}

interface CatalogRow {
  uuid: string;
  name: string;
  created_at: string;
}

export function fileSize(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
