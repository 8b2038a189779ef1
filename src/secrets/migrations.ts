import type { PgMigration } from '../core/postgres-state.js';
import type { Migration } from '../core/state.js';

export const SECRETS_MIGRATIONS: Migration[] = [
  {
    area: 'secrets',
    version: 1,
    description: 'encrypted workflow secrets',
    sql: `CREATE TABLE secrets (
      name TEXT PRIMARY KEY,
      sealed TEXT NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
  },
];

export const SECRETS_PG_MIGRATIONS: PgMigration[] = [
  {
    area: 'secrets',
    version: 1,
    description: 'encrypted workflow secrets',
    sql: `CREATE TABLE secrets (
      name text PRIMARY KEY,
      sealed text NOT NULL,
      created_at text NOT NULL,
      updated_at text NOT NULL
    );
    CREATE TABLE key_check (
      id integer PRIMARY KEY CHECK (id = 1),
      sealed text NOT NULL
    )`,
  },
];
