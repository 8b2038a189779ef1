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
