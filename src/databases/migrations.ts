import type { Migration } from '../core/state.js';

export const DATABASES_MIGRATIONS: Migration[] = [
  {
    area: 'databases',
    version: 1,
    description: 'database catalog',
    sql: `CREATE TABLE databases (
      uuid TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL
    )`,
  },
];
