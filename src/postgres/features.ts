import type pg from 'pg';

/**
 * What the connected server offers and what the role may read, detected
 * from the catalog so that SQL is picked by feature, not by version alone.
 */
export interface Features {
  versionNum: number;
  version: string;
  inRecovery: boolean;
  database: string;
  role: string;
  superuser: boolean;
  /** Member of pg_read_all_stats (directly, through pg_monitor, or superuser). */
  readAllStats: boolean;
  /** Member of pg_monitor or superuser. */
  monitor: boolean;
  /** Installed pg_stat_statements version such as "1.10", and its schema. */
  statements?: { version: string; schema: string };
  /** Columns present in the statistics views, as `view.column`. */
  columns: Set<string>;
  /** Catalog views present, such as `pg_stat_checkpointer`. */
  views: Set<string>;
}

const WATCHED_VIEWS = [
  'pg_stat_activity',
  'pg_replication_slots',
  'pg_stat_replication',
  'pg_stat_wal_receiver',
  'pg_stat_progress_vacuum',
  'pg_stat_progress_cluster',
  'pg_stat_progress_create_index',
  'pg_stat_user_tables',
  'pg_stat_database',
  'pg_stat_checkpointer',
  'pg_stat_bgwriter',
  'pg_sequences',
];

const FEATURES_SQL = `
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       pg_catalog.pg_is_in_recovery() AS in_recovery,
       pg_catalog.current_database() AS database,
       current_user AS role,
       r.rolsuper AS superuser,
       r.rolsuper OR pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,
       r.rolsuper OR pg_catalog.pg_has_role(current_user, 'pg_monitor', 'USAGE') AS monitor,
       (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_stat_statements') AS statements_version,
       (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_stat_statements') AS statements_schema,
       (SELECT pg_catalog.array_agg(c.relname::text)
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relname = ANY ($1::text[])) AS views,
       (SELECT pg_catalog.array_agg(c.relname || '.' || a.attname)
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relname = ANY ($1::text[])) AS columns
  FROM pg_catalog.pg_roles r
 WHERE r.rolname = current_user`;

export async function detectFeatures(client: pg.Client): Promise<Features> {
  const { rows } = await client.query(FEATURES_SQL, [WATCHED_VIEWS]);
  const row = rows[0];
  return {
    versionNum: row.version_num,
    version: row.version,
    inRecovery: row.in_recovery,
    database: row.database,
    role: row.role,
    superuser: row.superuser,
    readAllStats: row.read_all_stats,
    monitor: row.monitor,
    statements: row.statements_version
      ? { version: row.statements_version, schema: row.statements_schema }
      : undefined,
    columns: new Set(row.columns ?? []),
    views: new Set(row.views ?? []),
  };
}

/** Compares dotted versions such as "1.10" and "1.9" numerically. */
export function versionAtLeast(version: string, minimum: string): boolean {
  const have = version.split('.').map(Number);
  const want = minimum.split('.').map(Number);
  for (let i = 0; i < Math.max(have.length, want.length); i++) {
    const difference = (have[i] ?? 0) - (want[i] ?? 0);
    if (difference !== 0) return difference > 0;
  }
  return true;
}

/** Quotes an identifier for SQL text. */
export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
