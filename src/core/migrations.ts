import { DATABASES_MIGRATIONS } from '../databases/migrations.js';
import { SECRETS_MIGRATIONS, SECRETS_PG_MIGRATIONS } from '../secrets/migrations.js';
import { STORAGE_MIGRATIONS } from '../storage/migrations.js';
import { WORKFLOWS_MIGRATIONS, WORKFLOWS_PG_MIGRATIONS } from '../workflows/migrations.js';
import type { PgMigration } from './postgres-state.js';
import type { Migration } from './state.js';
import { TOKEN_MIGRATIONS, TOKEN_PG_MIGRATIONS } from './tokens.js';

/** Every capability's migrations; a capability adds its list here. */
export const ALL_MIGRATIONS: Migration[] = [
  ...TOKEN_MIGRATIONS,
  ...DATABASES_MIGRATIONS,
  ...SECRETS_MIGRATIONS,
  ...WORKFLOWS_MIGRATIONS,
  ...STORAGE_MIGRATIONS,
];

/** Migrations of the PostgreSQL state store: only the state that servers and workers share. */
export const ALL_PG_MIGRATIONS: PgMigration[] = [
  ...TOKEN_PG_MIGRATIONS,
  ...SECRETS_PG_MIGRATIONS,
  ...WORKFLOWS_PG_MIGRATIONS,
];
