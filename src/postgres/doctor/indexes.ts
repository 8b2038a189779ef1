import type pg from 'pg';

import { bytes, notApplicable, num, percent, plural } from './outcome.js';
import { USER_SCHEMA_FILTER } from './space.js';
import type { CheckDefinition, CheckOutcome } from './types.js';

export interface CacheRatio {
  scope: 'database' | 'table' | 'index';
  name: string;
  hits: number;
  reads: number;
  /** hit / (hit + read) in percent; null when nothing was read or hit yet. */
  hit_percent: number | null;
}

function ratio(hits: number, reads: number): number | null {
  return hits + reads === 0 ? null : Math.round((10000 * hits) / (hits + reads)) / 100;
}

/**
 * Reads cache hit ratios of shared_buffers: per database (the datid 0 row of
 * shared objects left out), per table (heap blocks) and per index. Counters
 * are summed before dividing, and an empty denominator is null, not 0 or 100.
 */
export async function readCacheRatios(client: pg.Client, limit = 20): Promise<CacheRatio[]> {
  const databases = await client.query(`
    SELECT datname AS name, blks_hit AS hits, blks_read AS reads
      FROM pg_catalog.pg_stat_database WHERE datname IS NOT NULL ORDER BY datname`);
  const tables = await client.query(
    `SELECT schemaname || '.' || relname AS name, coalesce(heap_blks_hit, 0) AS hits, coalesce(heap_blks_read, 0) AS reads
       FROM pg_catalog.pg_statio_user_tables
      ORDER BY coalesce(heap_blks_hit, 0) + coalesce(heap_blks_read, 0) DESC, 1 LIMIT $1`,
    [limit],
  );
  const indexes = await client.query(
    `SELECT schemaname || '.' || indexrelname AS name, coalesce(idx_blks_hit, 0) AS hits, coalesce(idx_blks_read, 0) AS reads
       FROM pg_catalog.pg_statio_user_indexes
      ORDER BY coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0) DESC, 1 LIMIT $1`,
    [limit],
  );
  const build =
    (scope: CacheRatio['scope']) =>
    (row: Record<string, unknown>): CacheRatio => {
      const hits = Number(row.hits);
      const reads = Number(row.reads);
      return { scope, name: row.name as string, hits, reads, hit_percent: ratio(hits, reads) };
    };
  return [
    ...databases.rows.map(build('database')),
    ...tables.rows.map(build('table')),
    ...indexes.rows.map(build('index')),
  ];
}

const cacheHit: CheckDefinition = {
  id: 'cache.hit_ratio',
  group: 'cache',
  title: 'Cache hit ratio (databases, tables, indexes)',
  async run({ shared, client, thresholds }) {
    const ratios = await readCacheRatios(client, 1000);
    const measured = ratios.filter((row) => row.hits + row.reads >= thresholds.cacheMinBlocks);
    if (measured.length === 0) {
      return notApplicable(
        `Too little traffic to judge: no database, table or index has ${thresholds.cacheMinBlocks} block accesses since the statistics reset.`,
      );
    }
    const low = measured.filter((row) => (row.hit_percent ?? 100) < thresholds.cacheHitWarnPercent);
    const current = ratios.find((row) => row.scope === 'database');
    const lowest = Math.min(...measured.map((row) => row.hit_percent ?? 100));
    return {
      status: low.length > 0 ? 'warn' : 'ok',
      value: percent(lowest, 2),
      threshold: `warn < ${thresholds.cacheHitWarnPercent}% (objects with ≥ ${thresholds.cacheMinBlocks} block accesses)`,
      message:
        low.length > 0
          ? `${plural(low.length, 'object')} below ${thresholds.cacheHitWarnPercent}%: ${low
              .slice(0, 5)
              .map((row) => `${row.scope} ${row.name} ${percent(row.hit_percent, 2)}`)
              .join(', ')}.`
          : `All busy objects are at or above ${thresholds.cacheHitWarnPercent}%${current ? '' : ''}.`,
      fix:
        low.length > 0
          ? 'Raise shared_buffers if the working set fits in memory, or find the queries that read these objects (pg_stat_statements shared_blks_read).'
          : null,
      rows: low.map((row) => ({ ...row })),
    };
  },
};

export interface TableScanRow {
  schema: string;
  table: string;
  seq_scan: number;
  /** Null when the table has no index at all. */
  idx_scan: number | null;
  live_rows: number;
  /** Share of scans that used an index, in percent; null without scans or without an index. */
  index_scan_percent: number | null;
}

export async function readIndexUsage(client: pg.Client): Promise<TableScanRow[]> {
  const { rows } = await client.query(`
    SELECT schemaname AS schema, relname AS table, seq_scan, idx_scan, n_live_tup AS live_rows,
           round(100.0 * idx_scan / nullif(idx_scan + seq_scan, 0), 1)::float8 AS index_scan_percent
      FROM pg_catalog.pg_stat_user_tables
     ORDER BY seq_scan DESC, schemaname, relname`);
  return rows.map((row) => ({
    schema: row.schema,
    table: row.table,
    seq_scan: Number(row.seq_scan),
    idx_scan: num(row.idx_scan),
    live_rows: Number(row.live_rows),
    index_scan_percent: row.index_scan_percent,
  }));
}

const tablesWithoutIndex: CheckDefinition = {
  id: 'indexes.table_without_index',
  group: 'indexes',
  title: 'Tables without any index that are scanned',
  async run({ shared, client, thresholds }) {
    // idx_scan is NULL, not 0, for a table with no index at all.
    const found = (await shared('indexUsage', () => readIndexUsage(client))).filter(
      (row) =>
        row.idx_scan === null && row.seq_scan > 0 && row.live_rows >= thresholds.maintenanceMinRows,
    );
    return {
      status: found.length > 0 ? 'warn' : 'ok',
      value: String(found.length),
      threshold: `tables with ≥ ${thresholds.maintenanceMinRows} rows, no index and sequential scans`,
      message:
        found.length > 0
          ? `${plural(found.length, 'table')} without any index, read by sequential scans: ${found
              .slice(0, 5)
              .map((row) => `${row.schema}.${row.table}`)
              .join(', ')}.`
          : 'Every scanned table of that size has at least one index.',
      fix:
        found.length > 0
          ? 'Add a primary key (logical replication needs one too) and indexes for the filtered columns.'
          : null,
      rows: found.map((row) => ({ ...row })),
    };
  },
};

const sequentialScans: CheckDefinition = {
  id: 'indexes.sequential_scans',
  group: 'indexes',
  title: 'Large tables read mostly by sequential scans',
  async run({ shared, client, thresholds }) {
    const found = (await shared('indexUsage', () => readIndexUsage(client))).filter(
      (row) =>
        row.idx_scan !== null &&
        row.seq_scan > 0 &&
        row.live_rows >= thresholds.seqScanMinRows &&
        (row.index_scan_percent ?? 0) < thresholds.seqScanIndexPercent,
    );
    return {
      status: found.length > 0 ? 'warn' : 'ok',
      value: String(found.length),
      threshold: `index scans < ${thresholds.seqScanIndexPercent}% on tables with ≥ ${thresholds.seqScanMinRows} rows`,
      message:
        found.length > 0
          ? `${plural(found.length, 'table')} mostly read by sequential scans: ${found
              .slice(0, 5)
              .map(
                (row) =>
                  `${row.schema}.${row.table} (${percent(row.index_scan_percent ?? 0)} index scans)`,
              )
              .join(', ')}.`
          : 'Large tables are read through their indexes.',
      fix:
        found.length > 0
          ? 'Find the queries with pg_stat_statements and EXPLAIN them; add an index on the columns they filter by.'
          : null,
      rows: found.map((row) => ({ ...row })),
    };
  },
};

export interface IndexRow {
  oid: number;
  schema: string;
  table: string;
  table_oid: number;
  name: string;
  method: string;
  definition: string;
  unique: boolean;
  primary: boolean;
  valid: boolean;
  /** Backs a constraint (primary key, unique, exclusion). */
  constraint: boolean;
  scans: number | null;
  bytes: number;
  columns: number[];
  opclasses: string;
  collations: string;
  expressions: string | null;
  predicate: string | null;
}

/** Reads every index of the user schemas, with the catalog details duplicates are matched on. */
export async function readIndexes(client: pg.Client): Promise<IndexRow[]> {
  const { rows } = await client.query(`
    SELECT i.indexrelid::int8 AS oid, n.nspname AS schema, tc.relname AS table, i.indrelid::int8 AS table_oid,
           ic.relname AS name, am.amname AS method, pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
           i.indisunique AS unique, i.indisprimary AS primary, i.indisvalid AS valid,
           i.indexrelid IN (SELECT c.conindid FROM pg_catalog.pg_constraint c WHERE c.contype IN ('p', 'u', 'x')) AS constraint,
           s.idx_scan AS scans, pg_catalog.pg_relation_size(i.indexrelid) AS bytes,
           array_to_string(i.indkey::int2[], ',') AS columns, i.indclass::text AS opclasses, i.indcollation::text AS collations,
           pg_catalog.pg_get_expr(i.indexprs, i.indrelid) AS expressions,
           pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = tc.relnamespace
      JOIN pg_catalog.pg_am am ON am.oid = ic.relam
      LEFT JOIN pg_catalog.pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
     WHERE ${USER_SCHEMA_FILTER}
     ORDER BY n.nspname, tc.relname, ic.relname`);
  return rows.map((row) => ({
    ...row,
    oid: Number(row.oid),
    table_oid: Number(row.table_oid),
    scans: num(row.scans),
    bytes: Number(row.bytes),
    columns: (row.columns as string).split(',').filter(Boolean).map(Number),
  }));
}

export interface DuplicateIndex {
  schema: string;
  table: string;
  index: string;
  bytes: number;
  covered_by: string;
  definition: string;
  covered_by_definition: string;
}

/**
 * Finds indexes made redundant by another valid index on the same table.
 * Tables are matched by oid, so same-named tables in other schemas never
 * pair. The other index must have the same access method, predicate and
 * expressions, and the candidate's key columns, operator classes and
 * collations must be a leading prefix of its own. An index that enforces
 * uniqueness or a constraint is never the one reported.
 */
export function findDuplicateIndexes(indexes: IndexRow[]): DuplicateIndex[] {
  const byTable = new Map<number, IndexRow[]>();
  for (const index of indexes) {
    if (!index.valid) continue;
    const list = byTable.get(index.table_oid) ?? [];
    list.push(index);
    byTable.set(index.table_oid, list);
  }

  const found: DuplicateIndex[] = [];
  for (const list of byTable.values()) {
    for (const candidate of list) {
      if (candidate.unique || candidate.constraint) continue;
      const cover = list.find((other) => other !== candidate && covers(other, candidate));
      if (!cover) continue;
      found.push({
        schema: candidate.schema,
        table: candidate.table,
        index: candidate.name,
        bytes: candidate.bytes,
        covered_by: cover.name,
        definition: candidate.definition,
        covered_by_definition: cover.definition,
      });
    }
  }
  return found;
}

function covers(other: IndexRow, candidate: IndexRow): boolean {
  if (
    other.method !== candidate.method ||
    other.predicate !== candidate.predicate ||
    other.expressions !== candidate.expressions
  )
    return false;
  const length = candidate.columns.length;
  if (other.columns.length < length) return false;
  // Only B-tree key order makes a leading prefix useful on its own.
  if (other.columns.length > length && candidate.method !== 'btree') return false;
  const prefix = (list: string) => list.split(' ').slice(0, length).join(' ');
  if (other.columns.slice(0, length).join(',') !== candidate.columns.join(',')) return false;
  if (
    prefix(other.opclasses) !== candidate.opclasses.split(' ').join(' ') ||
    prefix(other.collations) !== candidate.collations.split(' ').join(' ')
  )
    return false;
  // Two identical non-unique indexes cover each other; report only the later name.
  if (other.columns.length === length && !other.unique && !other.constraint)
    return other.name < candidate.name;
  return true;
}

const unusedIndexes: CheckDefinition = {
  id: 'indexes.unused',
  group: 'indexes',
  title: 'Unused indexes',
  async run({ shared, client, thresholds, features }) {
    const unused = (await shared('indexes', () => readIndexes(client))).filter(
      (index) =>
        index.scans === 0 &&
        !index.unique &&
        !index.constraint &&
        index.bytes >= thresholds.unusedIndexMinBytes,
    );
    const total = unused.reduce((sum, index) => sum + index.bytes, 0);
    return {
      status: unused.length > 0 ? 'warn' : 'ok',
      value: `${unused.length} (${bytes(total)})`,
      threshold: `no scan since the statistics reset, ≥ ${bytes(thresholds.unusedIndexMinBytes)}, not unique`,
      message:
        unused.length > 0
          ? `${plural(unused.length, 'index', 'indexes')} never scanned on this ${features.inRecovery ? 'standby' : 'server'}: ${unused
              .slice(0, 5)
              .map((index) => `${index.schema}.${index.name}`)
              .join(', ')}. Counters are per server, so check the standbys too.`
          : 'Every index of that size has been scanned.',
      fix:
        unused.length > 0
          ? 'After checking the standbys, DROP INDEX CONCURRENTLY each unused index.'
          : null,
      rows: unused.map(({ schema, table, name, bytes: size, definition }) => ({
        schema,
        table,
        index: name,
        bytes: size,
        definition,
      })),
    };
  },
};

const duplicateIndexes: CheckDefinition = {
  id: 'indexes.duplicate',
  group: 'indexes',
  title: 'Duplicate indexes',
  async run({ shared, client }) {
    const duplicates = findDuplicateIndexes(await shared('indexes', () => readIndexes(client)));
    const total = duplicates.reduce((sum, index) => sum + index.bytes, 0);
    return {
      status: duplicates.length > 0 ? 'warn' : 'ok',
      value: `${duplicates.length} (${bytes(total)})`,
      threshold: 'none',
      message:
        duplicates.length > 0
          ? `${plural(duplicates.length, 'index', 'indexes')} covered by another index on the same table: ${duplicates
              .slice(0, 5)
              .map((index) => `${index.schema}.${index.index} (by ${index.covered_by})`)
              .join(', ')}.`
          : 'No index is covered by another.',
      fix: duplicates.length > 0 ? 'DROP INDEX CONCURRENTLY the covered index.' : null,
      rows: duplicates.map((index) => ({ ...index })),
    };
  },
};

const invalidIndexes: CheckDefinition = {
  id: 'indexes.invalid',
  group: 'indexes',
  title: 'Invalid indexes',
  async run({ shared, client, features }) {
    const invalid = (await shared('indexes', () => readIndexes(client))).filter(
      (index) => !index.valid,
    );
    // An index being built by CREATE INDEX CONCURRENTLY is invalid until it finishes.
    let building = new Set<number>();
    if (features.views.has('pg_stat_progress_create_index') && invalid.length > 0) {
      const { rows } = await client.query(
        `SELECT index_relid::int8 AS oid FROM pg_catalog.pg_stat_progress_create_index`,
      );
      building = new Set(rows.map((row) => Number(row.oid)));
    }
    const broken = invalid.filter((index) => !building.has(index.oid));
    return {
      status: broken.length > 0 ? 'fail' : 'ok',
      value: String(broken.length),
      threshold: 'none',
      message:
        broken.length > 0
          ? `${plural(broken.length, 'invalid index', 'invalid indexes')} (a failed CREATE INDEX CONCURRENTLY or REINDEX): ${broken.map((index) => `${index.schema}.${index.name}`).join(', ')}; writes maintain them but queries cannot use them.`
          : `No invalid index${building.size > 0 ? ` (${building.size} still being built)` : ''}.`,
      fix:
        broken.length > 0
          ? 'REINDEX INDEX CONCURRENTLY the index, or DROP INDEX CONCURRENTLY it and create it again.'
          : null,
      rows: broken.map(({ schema, table, name, definition }) => ({
        schema,
        table,
        index: name,
        definition,
      })),
    };
  },
};

export interface ForeignKeyWithoutIndex {
  schema: string;
  table: string;
  constraint: string;
  columns: string;
  references: string;
}

/**
 * Lists foreign keys whose columns are not the leading columns (in any
 * order) of a valid, non-partial index on the referencing table, so every
 * delete or key update on the referenced table scans it.
 */
export async function readForeignKeysWithoutIndex(
  client: pg.Client,
): Promise<ForeignKeyWithoutIndex[]> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, t.relname AS table, c.conname AS constraint,
           (SELECT string_agg(a.attname, ', ' ORDER BY k.ordinality)
              FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ordinality)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns,
           c.confrelid::regclass::text AS references
      FROM pg_catalog.pg_constraint c
      JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
     WHERE c.contype = 'f' AND ${USER_SCHEMA_FILTER}
       AND NOT EXISTS (
             SELECT 1 FROM pg_catalog.pg_index i
              WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL
                AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)
     ORDER BY n.nspname, t.relname, c.conname`);
  return rows;
}

const foreignKeys: CheckDefinition = {
  id: 'indexes.foreign_key_without_index',
  group: 'indexes',
  title: 'Foreign keys without an index',
  async run({ shared, client }) {
    const found = await readForeignKeysWithoutIndex(client);
    return {
      status: found.length > 0 ? 'warn' : 'ok',
      value: String(found.length),
      threshold: 'none',
      message:
        found.length > 0
          ? `${plural(found.length, 'foreign key')} without an index on the referencing columns: ${found
              .slice(0, 5)
              .map((row) => `${row.schema}.${row.table}(${row.columns})`)
              .join(', ')}.`
          : 'Every foreign key has an index on its columns.',
      fix:
        found.length > 0
          ? 'CREATE INDEX CONCURRENTLY on the referencing columns, unless the referenced rows are never deleted or updated.'
          : null,
      rows: found.map((row) => ({ ...row })),
    };
  },
};

export const CACHE_CHECKS: CheckDefinition[] = [cacheHit];
export const INDEX_CHECKS: CheckDefinition[] = [
  tablesWithoutIndex,
  sequentialScans,
  unusedIndexes,
  duplicateIndexes,
  invalidIndexes,
  foreignKeys,
];

export type { CheckOutcome };
