import type pg from 'pg';

import { quoteIdent, versionAtLeast, type Features } from '../features.js';
import { notApplicable, num, plural } from './outcome.js';
import type { CheckDefinition } from './types.js';

export interface TopQuery {
  queryid: string | null;
  calls: number;
  total_ms: number;
  mean_ms: number;
  rows: number;
  shared_blks_hit: number;
  shared_blks_read: number;
  query: string;
}

/**
 * Reads the most expensive statements of the current database. Column names
 * follow the installed extension version, not the server version:
 * pg_stat_statements 1.8 split total_time into total_plan_time and
 * total_exec_time.
 */
export async function readTopQueries(
  client: pg.Client,
  features: Features,
  limit = 10,
): Promise<TopQuery[]> {
  const statements = features.statements!;
  const split = versionAtLeast(statements.version, '1.8');
  const total = split ? 'total_plan_time + total_exec_time' : 'total_time';
  const relation = `${quoteIdent(statements.schema)}.pg_stat_statements`;
  // Since 1.9 nested statements appear too; counting only top-level ones avoids double counting.
  const toplevel = versionAtLeast(statements.version, '1.9') ? 'AND toplevel' : '';
  const { rows } = await client.query(
    `SELECT queryid::text, calls, (${total})::float8 AS total_ms, ((${total}) / nullif(calls, 0))::float8 AS mean_ms,
            rows, shared_blks_hit, shared_blks_read, query
       FROM ${relation}
      WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) ${toplevel}
      ORDER BY ${total} DESC
      LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({
    queryid: row.queryid,
    calls: Number(row.calls),
    total_ms: Math.round(row.total_ms * 100) / 100,
    mean_ms: Math.round((row.mean_ms ?? 0) * 100) / 100,
    rows: Number(row.rows),
    shared_blks_hit: Number(row.shared_blks_hit),
    shared_blks_read: Number(row.shared_blks_read),
    query: String(row.query ?? '')
      .replace(/\s+/g, ' ')
      .slice(0, 300),
  }));
}

const topQueries: CheckDefinition = {
  id: 'queries.top',
  group: 'queries',
  title: 'Top queries (pg_stat_statements)',
  async run({ client, features, thresholds }) {
    if (!features.statements) {
      return notApplicable(
        'pg_stat_statements is not installed in this database: add it to shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements.',
      );
    }
    let top: TopQuery[];
    try {
      top = await readTopQueries(client, features, 20);
    } catch (error) {
      // The extension exists but the library was not preloaded (SQLSTATE 55000).
      if ((error as { code?: string }).code === '55000')
        return notApplicable(
          `pg_stat_statements ${features.statements.version} is installed but not loaded: add it to shared_preload_libraries and restart.`,
        );
      throw error;
    }
    const slow = top.filter(
      (query) =>
        query.mean_ms >= thresholds.slowQueryMeanMs && query.calls >= thresholds.slowQueryMinCalls,
    );
    // Without pg_read_all_stats, other roles' statements show this text instead of the query.
    const hidden = top.filter((query) => query.query === '<insufficient privilege>').length;
    if (hidden > 0 && slow.length === 0) {
      return {
        status: 'no permission',
        value: `${hidden} hidden`,
        threshold: null,
        message: `${hidden} of the top ${top.length} statements belong to other roles and are hidden from this role.`,
        fix: 'GRANT pg_read_all_stats (or pg_monitor) TO the role running opsbox.',
        rows: top.slice(0, 10).map((query) => ({ ...query })),
      };
    }
    return {
      status: slow.length > 0 ? 'warn' : 'ok',
      value: slow.length > 0 ? `${slow.length} slow` : `${top.length} listed`,
      threshold: `warn: mean ≥ ${thresholds.slowQueryMeanMs} ms over ≥ ${thresholds.slowQueryMinCalls} calls`,
      message:
        slow.length > 0
          ? `${plural(slow.length, 'frequent query', 'frequent queries')} averaging at least ${thresholds.slowQueryMeanMs} ms, using pg_stat_statements ${features.statements.version}.`
          : `No frequent slow query among the top ${top.length} (pg_stat_statements ${features.statements.version}).`,
      fix:
        slow.length > 0
          ? 'EXPLAIN (ANALYZE, BUFFERS) the slow queries and index what they filter on.'
          : null,
      rows: top.slice(0, 10).map((query) => ({ ...query, slow: slow.includes(query) })),
    };
  },
};

export const STATEMENT_CHECKS: CheckDefinition[] = [topQueries];

export { num };
