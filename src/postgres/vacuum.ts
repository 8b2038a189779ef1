import type pg from 'pg';

import { UserError } from '../core/errors.js';
import { withSession, type ConnectionOptions } from './connection.js';
import { sqlState, SQLSTATE, statementError } from './errors.js';
import { detectFeatures, quoteIdent, type Features } from './features.js';

export interface VacuumOptions extends ConnectionOptions {
  /** schema.table or table; without it the whole database is vacuumed. */
  table?: string;
  analyze?: boolean;
  /** VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock. */
  full?: boolean;
  /** Poll interval for progress, in milliseconds. */
  pollMs?: number;
  onProgress?: (progress: VacuumProgress) => void;
}

export interface VacuumProgress {
  table: string | null;
  phase: string;
  /** Heap blocks scanned (or, for VACUUM FULL, written) and the table's total. */
  blocksDone: number;
  blocksTotal: number;
}

export interface VacuumResult {
  table: string | null;
  analyze: boolean;
  full: boolean;
  durationMs: number;
  /** Dead rows left in the table after the vacuum (null for a whole-database run). */
  deadRowsAfter: number | null;
}

/**
 * Runs VACUUM on one connection while a second one polls
 * pg_stat_progress_vacuum (or pg_stat_progress_cluster for VACUUM FULL)
 * for the backend's pid. Statement timeouts are off for the VACUUM itself.
 */
export async function vacuum(options: VacuumOptions): Promise<VacuumResult> {
  const started = performance.now();
  return withSession({ ...options, statementTimeoutMs: 0 }, async (session) => {
    const features = await detectFeatures(session.client);
    const table = options.table ? await resolveTable(session.client, options.table) : null;
    const pid = (await session.client.query('SELECT pg_backend_pid() AS pid')).rows[0]
      .pid as number;
    const watcher = await session.connectAgain();

    const flags = [options.full ? 'FULL' : null, options.analyze ? 'ANALYZE' : null]
      .filter(Boolean)
      .join(', ');
    const statement = `VACUUM ${flags ? `(${flags}) ` : ''}${table ?? ''}`.trim();
    let running = true;
    const poll = (async () => {
      while (running) {
        await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
        if (!running) break;
        const progress = await readProgress(watcher, features, pid, options.full ?? false).catch(
          () => null,
        );
        if (progress && options.onProgress) options.onProgress(progress);
      }
    })();

    try {
      await session.client.query(statement);
    } catch (error) {
      if (sqlState(error) === SQLSTATE.insufficientPrivilege) {
        throw new UserError(
          'permission',
          `Permission denied to vacuum ${table ?? 'the database'}: only the owner, the database owner or a superuser may; connect as one of them.`,
          { code: 'PG_PERMISSION', cause: error },
        );
      }
      throw statementError(error, `vacuum ${table ?? 'the database'}`);
    } finally {
      running = false;
      await poll;
    }

    let deadRowsAfter: number | null = null;
    if (table) {
      const { rows } = await session.client.query(
        `SELECT n_dead_tup FROM pg_catalog.pg_stat_all_tables WHERE relid = $1::regclass`,
        [table],
      );
      deadRowsAfter = rows.length > 0 ? Number(rows[0].n_dead_tup) : null;
    }
    return {
      table,
      analyze: options.analyze ?? false,
      full: options.full ?? false,
      durationMs: Math.round(performance.now() - started),
      deadRowsAfter,
    };
  });
}

/** Resolves a table name the way the search path does, failing with not_found for a missing one. */
async function resolveTable(client: pg.Client, name: string): Promise<string> {
  const parts = name.split('.');
  const qualified = parts
    .map((part) => (/^[a-z_][a-z0-9_$]*$/.test(part) ? part : quoteIdent(part)))
    .join('.');
  const { rows } = await client.query(`SELECT to_regclass($1)::text AS name`, [qualified]);
  if (!rows[0].name)
    throw new UserError(
      'not_found',
      `Table "${name}" not found in ${(await client.query('SELECT current_database() AS d')).rows[0].d}; use schema.table.`,
      { code: 'PG_TABLE_NOT_FOUND' },
    );
  return rows[0].name;
}

async function readProgress(
  client: pg.Client,
  features: Features,
  pid: number,
  full: boolean,
): Promise<VacuumProgress | null> {
  if (full) {
    if (!features.views.has('pg_stat_progress_cluster')) return null;
    const { rows } = await client.query(
      `SELECT relid::regclass::text AS table, phase, heap_blks_scanned AS done, heap_blks_total AS total
         FROM pg_catalog.pg_stat_progress_cluster WHERE pid = $1`,
      [pid],
    );
    return rows[0]
      ? {
          table: rows[0].table,
          phase: rows[0].phase,
          blocksDone: Number(rows[0].done),
          blocksTotal: Number(rows[0].total),
        }
      : null;
  }
  // heap_blks_scanned and heap_blks_total exist on every supported version; the
  // dead-tuple columns were renamed in PostgreSQL 17, so they are not read.
  const { rows } = await client.query(
    `SELECT relid::regclass::text AS table, phase, heap_blks_scanned AS done, heap_blks_total AS total
       FROM pg_catalog.pg_stat_progress_vacuum WHERE pid = $1`,
    [pid],
  );
  return rows[0]
    ? {
        table: rows[0].table,
        phase: rows[0].phase,
        blocksDone: Number(rows[0].done),
        blocksTotal: Number(rows[0].total),
      }
    : null;
}
