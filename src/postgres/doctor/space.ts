import type pg from 'pg';

import { bytes, num, plural } from './outcome.js';
import type { CheckDefinition, CheckStatus } from './types.js';

/** User schemas only: the catalog, information_schema and TOAST schemas are left out. */
export const USER_SCHEMA_FILTER = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'`;

export interface DatabaseSize {
  database: string;
  /** Null when the role may not connect to that database. */
  bytes: number | null;
  temp_files: number | null;
  temp_bytes: number | null;
}

export async function readDatabaseSizes(client: pg.Client): Promise<DatabaseSize[]> {
  const { rows } = await client.query(`
    SELECT d.datname AS database,
           CASE WHEN pg_catalog.has_database_privilege(d.oid, 'CONNECT')
                THEN pg_catalog.pg_database_size(d.oid) END AS bytes,
           s.temp_files, s.temp_bytes
      FROM pg_catalog.pg_database d
      LEFT JOIN pg_catalog.pg_stat_database s ON s.datid = d.oid
     WHERE d.datallowconn
     ORDER BY d.datname`);
  return rows.map((row) => ({
    database: row.database,
    bytes: num(row.bytes),
    temp_files: num(row.temp_files),
    temp_bytes: num(row.temp_bytes),
  }));
}

export interface RelationSize {
  schema: string;
  table: string;
  kind: 'table' | 'materialized view' | 'partitioned table';
  rows_estimate: number | null;
  table_bytes: number;
  toast_bytes: number;
  index_bytes: number;
  total_bytes: number;
}

/**
 * Reads the largest tables with heap, TOAST and index sizes. Size functions
 * wait for locks, so the session's lock_timeout bounds them behind DDL.
 */
export async function readRelationSizes(client: pg.Client, limit = 20): Promise<RelationSize[]> {
  const { rows } = await client.query(
    `WITH largest AS (
       -- Only the total is needed to rank; the breakdown is read for the top rows.
       SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples, c.reltoastrelid, pg_catalog.pg_total_relation_size(c.oid) AS total_bytes
         FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm', 'p') AND ${USER_SCHEMA_FILTER}
        ORDER BY total_bytes DESC, n.nspname, c.relname
        LIMIT $1)
     SELECT nspname AS schema, relname AS table, relkind, nullif(reltuples, -1)::float8 AS rows_estimate,
            pg_catalog.pg_relation_size(oid) AS table_bytes,
            CASE WHEN reltoastrelid = 0 THEN 0 ELSE pg_catalog.pg_total_relation_size(reltoastrelid) END AS toast_bytes,
            pg_catalog.pg_indexes_size(oid) AS index_bytes,
            total_bytes
       FROM largest
      ORDER BY total_bytes DESC, nspname, relname`,
    [limit],
  );
  const kinds: Record<string, RelationSize['kind']> = {
    r: 'table',
    m: 'materialized view',
    p: 'partitioned table',
  };
  return rows.map((row) => ({
    schema: row.schema,
    table: row.table,
    kind: kinds[row.relkind]!,
    rows_estimate: row.rows_estimate,
    table_bytes: Number(row.table_bytes),
    toast_bytes: Number(row.toast_bytes),
    index_bytes: Number(row.index_bytes),
    total_bytes: Number(row.total_bytes),
  }));
}

export interface BloatEstimate {
  schema: string;
  name: string;
  /** For an index, the table it belongs to. */
  table?: string;
  bytes: number;
  bloat_bytes: number;
  bloat_percent: number;
}

/**
 * Estimates heap bloat from pg_class and pg_stats: the pages the live rows
 * would need at the table's fillfactor, against the pages it has. Tuple size
 * is the 24-byte aligned header, a null bitmap when a column has NULLs, the
 * average data width and a 4-byte line pointer. An estimate, not a
 * measurement (pgstattuple measures).
 */
const TABLE_BLOAT_SQL = `
WITH tables AS (
  SELECT c.oid, n.nspname, c.relname, c.relpages::float8 AS pages, c.reltuples::float8 AS tuples,
         coalesce((SELECT substring(option FROM 'fillfactor=(\\d+)')::int FROM unnest(c.reloptions) option
                    WHERE option LIKE 'fillfactor=%'), 100) AS fillfactor,
         pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'm') AND c.relpages > 0 AND ${USER_SCHEMA_FILTER}
), widths AS (
  SELECT s.schemaname, s.tablename, sum((1 - s.null_frac) * s.avg_width) AS data_width,
         bool_or(s.null_frac > 0) AS has_nulls, count(*) AS columns
    FROM pg_catalog.pg_stats s
   WHERE NOT s.inherited
   GROUP BY s.schemaname, s.tablename
), sized AS (
  SELECT t.*, w.data_width,
         -- heap tuple header (23 bytes plus the null bitmap) padded to 8, then the data
         8 * ceil((23 + CASE WHEN w.has_nulls THEN ceil(w.columns / 8.0) ELSE 0 END) / 8.0) + w.data_width AS tuple_bytes,
         current_setting('block_size')::float8 AS block_size
    FROM tables t
    LEFT JOIN widths w ON w.schemaname = t.nspname AND w.tablename = t.relname
)
SELECT nspname AS schema, relname AS name, readable, data_width IS NOT NULL AND tuples >= 0 AS estimated,
       pages * block_size AS bytes,
       greatest(0, pages - ceil(tuples / greatest(1, floor((block_size - 24) * fillfactor / 100 / (tuple_bytes + 4))))) * block_size AS bloat_bytes
  FROM sized`;

/**
 * Estimates B-tree index bloat the same way: 8-byte index tuple header plus
 * the indexed columns' average width, padded to 8, a 4-byte line pointer,
 * pages with a 24-byte header and 16-byte special space filled to 90%.
 * Expression indexes have no column statistics and are skipped.
 */
const INDEX_BLOAT_SQL = `
WITH stats AS MATERIALIZED (
  -- Read pg_stats once: joined row by row, its expressions run per index column.
  SELECT schemaname, tablename, attname, avg_width FROM pg_catalog.pg_stats WHERE NOT inherited
), indexes AS (
  SELECT i.indexrelid, n.nspname, ic.relname AS index_name, tc.relname AS table_name,
         ic.relpages::float8 AS pages, ic.reltuples::float8 AS tuples,
         sum(s.avg_width) AS data_width, count(s.attname) = count(*) AS complete,
         pg_catalog.has_table_privilege(tc.oid, 'SELECT') AS readable
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
    JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = tc.relnamespace
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) AS k(attnum)
    LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    LEFT JOIN stats s ON s.schemaname = n.nspname AND s.tablename = tc.relname AND s.attname = a.attname
   WHERE ic.relpages > 1 AND ${USER_SCHEMA_FILTER}
   GROUP BY i.indexrelid, n.nspname, ic.relname, tc.relname, tc.oid, ic.relpages, ic.reltuples
)
SELECT nspname AS schema, index_name AS name, table_name AS table, readable, complete AND tuples >= 0 AS estimated,
       pages * current_setting('block_size')::float8 AS bytes,
       greatest(0, pages - 1 - ceil(tuples * (8 * ceil((8 + data_width) / 8.0) + 4)
                                     / ((current_setting('block_size')::float8 - 40) * 0.9)))
         * current_setting('block_size')::float8 AS bloat_bytes
  FROM indexes`;

function toEstimate(row: Record<string, unknown>): BloatEstimate {
  const size = Number(row.bytes);
  const bloat = Number(row.bloat_bytes);
  return {
    schema: row.schema as string,
    name: row.name as string,
    ...(row.table ? { table: row.table as string } : {}),
    bytes: size,
    bloat_bytes: bloat,
    bloat_percent: size > 0 ? Math.round((1000 * bloat) / size) / 10 : 0,
  };
}

const databaseSizes: CheckDefinition = {
  id: 'space.database_sizes',
  group: 'space',
  title: 'Database sizes',
  async run({ shared, client }) {
    const sizes = await shared('databaseSizes', () => readDatabaseSizes(client));
    const total = sizes.reduce((sum, row) => sum + (row.bytes ?? 0), 0);
    const hidden = sizes.filter((row) => row.bytes === null).length;
    return {
      status: 'ok',
      value: bytes(total),
      threshold: null,
      message: `${plural(sizes.length, 'database')} using ${bytes(total)}${hidden > 0 ? `; ${hidden} not measured (no CONNECT privilege)` : ''}.`,
      fix: null,
      rows: sizes.map((row) => ({ database: row.database, bytes: row.bytes })),
    };
  },
};

const relationSizes: CheckDefinition = {
  id: 'space.relation_sizes',
  group: 'space',
  title: 'Largest tables (heap, TOAST, indexes)',
  async run({ shared, client }) {
    const sizes = await readRelationSizes(client, 10);
    if (sizes.length === 0)
      return {
        status: 'n/a',
        value: null,
        threshold: null,
        message: 'No user tables in this database.',
        fix: null,
        rows: [],
      };
    const largest = sizes[0]!;
    return {
      status: 'ok',
      value: bytes(largest.total_bytes),
      threshold: null,
      message: `Largest: ${largest.schema}.${largest.table} ${bytes(largest.total_bytes)} (table ${bytes(largest.table_bytes)}, TOAST ${bytes(largest.toast_bytes)}, indexes ${bytes(largest.index_bytes)}).`,
      fix: null,
      rows: sizes.map((row) => ({ ...row })),
    };
  },
};

const tempFiles: CheckDefinition = {
  id: 'space.temp_files',
  group: 'space',
  title: 'Temporary files per database',
  async run({ shared, client, thresholds }) {
    const sizes = (await shared('databaseSizes', () => readDatabaseSizes(client))).filter(
      (row) => row.temp_files !== null,
    );
    const heavy = sizes.filter((row) => (row.temp_bytes ?? 0) >= thresholds.tempBytesWarn);
    const total = sizes.reduce((sum, row) => sum + (row.temp_bytes ?? 0), 0);
    return {
      status: heavy.length > 0 ? 'warn' : 'ok',
      value: bytes(total),
      threshold: `warn ≥ ${bytes(thresholds.tempBytesWarn)} per database since the statistics reset`,
      message:
        heavy.length > 0
          ? `Queries spilled to disk: ${heavy.map((row) => `${row.database} ${plural(row.temp_files ?? 0, 'file')}, ${bytes(row.temp_bytes)}`).join('; ')}.`
          : `Temporary files since the statistics reset: ${bytes(total)} in total.`,
      fix:
        heavy.length > 0
          ? 'Find the sorting and hashing queries (log_temp_files, pg_stat_statements temp_blks_written) and raise work_mem for them.'
          : null,
      rows: sizes.map((row) => ({
        database: row.database,
        temp_files: row.temp_files,
        temp_bytes: row.temp_bytes,
      })),
    };
  },
};

const tableBloat: CheckDefinition = {
  id: 'space.table_bloat',
  group: 'space',
  title: 'Table bloat (estimate)',
  async run({ shared, client, thresholds }) {
    const { rows } = await client.query(TABLE_BLOAT_SQL);
    const unreadable = rows.filter((row) => !row.readable).length;
    const estimated = rows.filter((row) => row.estimated).map(toEstimate);
    const bloated = estimated.filter(
      (row) =>
        row.bloat_bytes >= thresholds.bloatWarnBytes &&
        row.bloat_percent >= thresholds.bloatWarnPercent,
    );
    return bloatOutcome(
      'table',
      bloated,
      estimated.length,
      rows.length - estimated.length,
      unreadable,
      thresholds,
      'VACUUM FULL or pg_repack the table (VACUUM FULL locks it); then tune autovacuum for it.',
    );
  },
};

const indexBloat: CheckDefinition = {
  id: 'space.index_bloat',
  group: 'space',
  title: 'B-tree index bloat (estimate)',
  async run({ shared, client, thresholds }) {
    const { rows } = await client.query(INDEX_BLOAT_SQL);
    const unreadable = rows.filter((row) => !row.readable).length;
    const estimated = rows.filter((row) => row.estimated).map(toEstimate);
    const bloated = estimated.filter(
      (row) =>
        row.bloat_bytes >= thresholds.bloatWarnBytes &&
        row.bloat_percent >= thresholds.bloatWarnPercent,
    );
    return bloatOutcome(
      'index',
      bloated,
      estimated.length,
      rows.length - estimated.length,
      unreadable,
      thresholds,
      'REINDEX INDEX CONCURRENTLY the index.',
    );
  },
};

function bloatOutcome(
  kind: 'table' | 'index',
  bloated: BloatEstimate[],
  estimated: number,
  skipped: number,
  unreadable: number,
  thresholds: { bloatWarnBytes: number; bloatWarnPercent: number },
  fix: string,
) {
  const threshold = `warn ≥ ${bytes(thresholds.bloatWarnBytes)} and ≥ ${thresholds.bloatWarnPercent}%`;
  if (estimated === 0 && unreadable > 0) {
    return {
      status: 'no permission' as CheckStatus,
      value: null,
      threshold,
      message: `No ${kind} statistics are readable: pg_stats hides tables the role cannot SELECT.`,
      fix: "Run the doctor as the tables' owner or a role with SELECT on them.",
      rows: [],
    };
  }
  const notes =
    skipped > 0
      ? ` ${plural(skipped, kind)} not estimated: ${unreadable > 0 ? `${unreadable} not readable by the role, ` : ''}${skipped - unreadable} without statistics (run ANALYZE).`
      : '';
  const total = bloated.reduce((sum, row) => sum + row.bloat_bytes, 0);
  return {
    status: (bloated.length > 0 ? 'warn' : 'ok') as CheckStatus,
    value: bytes(total),
    threshold,
    message:
      (bloated.length > 0
        ? `${plural(bloated.length, kind, kind === 'index' ? 'indexes' : 'tables')} with an estimated ${bytes(total)} of bloat.`
        : `No ${kind} above the threshold among ${estimated} estimated.`) + notes,
    fix: bloated.length > 0 ? fix : null,
    rows: bloated
      .sort((a, b) => b.bloat_bytes - a.bloat_bytes)
      .slice(0, 50)
      .map((row) => ({ ...row })),
  };
}

export const SPACE_CHECKS: CheckDefinition[] = [
  databaseSizes,
  relationSizes,
  tempFiles,
  tableBloat,
  indexBloat,
];
