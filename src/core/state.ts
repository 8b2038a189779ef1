import Database from 'better-sqlite3';

import { UserError, errorMessage } from './errors.js';

export type StateDb = Database.Database;

/**
 * A numbered schema change of one area of the state store (`core`,
 * `databases`, `workflows`…). Areas number their migrations independently
 * from 1, so capabilities never collide on a version number.
 */
export interface Migration {
  area: string;
  version: number;
  description: string;
  sql: string;
}

/**
 * Opens the state store (a SQLite file) and applies pending migrations.
 * WAL mode lets the CLI read while `opsbox serve` writes; busy_timeout makes a
 * second process wait for the write lock instead of failing at once.
 */
export function openStateDb(file: string, migrations: Migration[]): StateDb {
  let db: StateDb;
  try {
    db = new Database(file);
  } catch (error) {
    throw new UserError(
      'unavailable',
      `Cannot open the state store ${file}: ${errorMessage(error)}. Check that the data directory is writable.`,
      { cause: error },
    );
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  applyMigrations(db, migrations);
  return db;
}

/**
 * Applies each migration not yet recorded, in (area, version) order, inside
 * one IMMEDIATE transaction: two processes starting at once serialize on the
 * write lock, and the second sees the first one's rows and applies nothing.
 */
export function applyMigrations(db: StateDb, migrations: Migration[]): void {
  if (allApplied(db, migrations)) return;
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    area TEXT NOT NULL,
    version INTEGER NOT NULL,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (area, version)
  )`);
  const sorted = [...migrations].sort(
    (a, b) => a.area.localeCompare(b.area) || a.version - b.version,
  );
  checkNumbering(sorted);

  const applied = db.prepare('SELECT 1 FROM schema_migrations WHERE area = ? AND version = ?');
  const record = db.prepare(
    'INSERT INTO schema_migrations (area, version, description, applied_at) VALUES (?, ?, ?, ?)',
  );
  const apply = db.transaction(() => {
    for (const migration of sorted) {
      if (applied.get(migration.area, migration.version)) continue;
      db.exec(migration.sql);
      record.run(
        migration.area,
        migration.version,
        migration.description,
        new Date().toISOString(),
      );
    }
  });
  apply.immediate();
}

/**
 * Checks with one read whether every migration is recorded, so the common
 * start of a CLI command skips the write lock that applying needs.
 */
function allApplied(db: StateDb, migrations: Migration[]): boolean {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!exists) return false;
  const applied = db
    .prepare(
      'SELECT area, max(version) AS version, count(*) AS count FROM schema_migrations GROUP BY area',
    )
    .all() as { area: string; version: number; count: number }[];
  const recorded = new Map(applied.map((row) => [row.area, row]));
  const latest = new Map<string, number>();
  for (const migration of migrations)
    latest.set(migration.area, Math.max(latest.get(migration.area) ?? 0, migration.version));
  for (const [area, version] of latest) {
    const row = recorded.get(area);
    if (!row || row.version !== version || row.count !== version) return false;
  }
  return true;
}

function checkNumbering(sorted: Migration[]): void {
  const next = new Map<string, number>();
  for (const migration of sorted) {
    const expected = next.get(migration.area) ?? 1;
    if (migration.version !== expected) {
      throw new Error(
        `Migration ${migration.area}#${migration.version} is out of sequence; expected version ${expected}`,
      );
    }
    next.set(migration.area, expected + 1);
  }
}
