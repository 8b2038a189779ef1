import type { Context } from './context.js';

/**
 * Runs one statement, written with PostgreSQL's $1-style parameters, on the
 * state store that keeps shared records: PostgreSQL when
 * OPSBOX_DATABASE_URL is set, the data directory's SQLite state otherwise.
 */
export async function queryState<T>(
  context: Context,
  sql: string,
  values: unknown[] = [],
): Promise<T[]> {
  const postgres = context.postgres;
  if (postgres) return (await postgres.query(sql, values)).rows as T[];
  const [text, parameters] = sqliteStatement(sql, values);
  return context.state.prepare(text).all(...parameters) as T[];
}

/** Rewrites $1-style parameters as SQLite's `?`, repeating a value for each place it is used. */
export function sqliteStatement(sql: string, values: unknown[]): [string, unknown[]] {
  const ordered: unknown[] = [];
  const text = sql.replace(/\$(\d+)/g, (_, index: string) => {
    ordered.push(values[Number(index) - 1]);
    return '?';
  });
  return [text, ordered];
}
