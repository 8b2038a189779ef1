import type pg from 'pg';

import type { Features } from '../features.js';
import { num, plural, seconds } from './outcome.js';
import type { CheckDefinition, CheckStatus, DoctorThresholds } from './types.js';

export interface Backend {
  pid: number;
  /** With pid, identifies the backend: a reused pid has a new backend_start. */
  backend_start: string | null;
  database: string | null;
  user: string | null;
  application: string | null;
  client: string | null;
  backend_type: string | null;
  state: string | null;
  wait_event: string | null;
  /** Seconds since the current query started (or the last one, when idle). */
  query_seconds: number | null;
  /** Seconds since the transaction started; null outside a transaction. */
  transaction_seconds: number | null;
  /** Seconds in the current state, which is how long an idle session has been idle. */
  state_seconds: number | null;
  blocked_by: number[];
  query: string | null;
  /** False when the role cannot see this backend's details (NULL state, timestamps and query). */
  visible: boolean;
}

/**
 * Reads pg_stat_activity with the pids each backend waits for. Without
 * pg_read_all_stats, other roles' rows have NULL state, timestamps and
 * backend_type, so they are flagged instead of silently filtered out.
 */
export async function readActivity(
  client: pg.Client,
  features: Features,
  options: { all?: boolean } = {},
): Promise<Backend[]> {
  const hasBackendType = features.columns.has('pg_stat_activity.backend_type');
  const { rows } = await client.query(
    `SELECT pid, backend_start::text, datname AS database, usename AS user, application_name AS application,
            client_addr::text AS client, ${hasBackendType ? 'backend_type' : 'NULL::text AS backend_type'}, state,
            CASE WHEN wait_event IS NOT NULL THEN wait_event_type || ':' || wait_event END AS wait_event,
            extract(epoch FROM now() - query_start)::float8 AS query_seconds,
            extract(epoch FROM now() - xact_start)::float8 AS transaction_seconds,
            extract(epoch FROM now() - state_change)::float8 AS state_seconds,
            pg_catalog.pg_blocking_pids(pid) AS blocked_by, query
       FROM pg_catalog.pg_stat_activity
      WHERE pid <> pg_catalog.pg_backend_pid()
      ORDER BY query_start NULLS LAST, pid`,
  );
  const backends: Backend[] = rows.map((row) => ({
    ...row,
    query_seconds: num(row.query_seconds),
    transaction_seconds: num(row.transaction_seconds),
    state_seconds: num(row.state_seconds),
    blocked_by: row.blocked_by ?? [],
    visible: row.backend_start !== null,
  }));
  if (options.all) return backends;
  return backends.filter(
    (backend) =>
      !backend.visible ||
      ((backend.backend_type ?? 'client backend') === 'client backend' && backend.state !== 'idle'),
  );
}

function hiddenNote(backends: Backend[]): string {
  const hidden = backends.filter((backend) => !backend.visible).length;
  return hidden > 0
    ? ` ${plural(hidden, 'session')} of other roles hidden (grant pg_monitor to see them).`
    : '';
}

/** 'no permission' when nothing was found but some sessions could not be seen. */
function statusOf(found: Backend[], backends: Backend[], failed: boolean): CheckStatus {
  if (failed) return 'fail';
  if (found.length > 0) return 'warn';
  return backends.some((backend) => !backend.visible) ? 'no permission' : 'ok';
}

function sessionRow(backend: Backend): Record<string, unknown> {
  return {
    pid: backend.pid,
    user: backend.user,
    database: backend.database,
    state: backend.state,
    query_seconds: backend.query_seconds,
    transaction_seconds: backend.transaction_seconds,
    state_seconds: backend.state_seconds,
    wait_event: backend.wait_event,
    blocked_by: backend.blocked_by,
    query: backend.query?.slice(0, 200) ?? null,
  };
}

const longRunning: CheckDefinition = {
  id: 'activity.long_running',
  group: 'activity',
  title: 'Long-running queries',
  async run({ shared, client, features, thresholds }) {
    const backends = await shared('activity', () => readActivity(client, features, { all: true }));
    const found = backends.filter(
      (backend) =>
        backend.visible &&
        backend.state !== null &&
        backend.state !== 'idle' &&
        !backend.state.startsWith('idle in transaction') &&
        (backend.backend_type ?? 'client backend') === 'client backend' &&
        (backend.query_seconds ?? 0) >= thresholds.longQuerySeconds,
    );
    const longest = Math.max(0, ...found.map((backend) => backend.query_seconds ?? 0));
    return {
      status: statusOf(found, backends, longest >= thresholds.longQueryFailSeconds),
      value: found.length > 0 ? `${found.length}, longest ${seconds(longest)}` : '0',
      threshold: `warn ≥ ${thresholds.longQuerySeconds} s, fail ≥ ${thresholds.longQueryFailSeconds} s`,
      message:
        (found.length > 0
          ? `${plural(found.length, 'query', 'queries')} running for at least ${thresholds.longQuerySeconds} s: ${found
              .slice(0, 5)
              .map((backend) => `pid ${backend.pid} (${seconds(backend.query_seconds ?? 0)})`)
              .join(', ')}.`
          : 'No query has run that long.') + hiddenNote(backends),
      fix:
        found.length > 0
          ? 'Inspect with opsbox pg activity; stop with opsbox pg cancel PID (or terminate PID); set statement_timeout for the role.'
          : null,
      rows: found.map(sessionRow),
    };
  },
};

const idleInTransaction: CheckDefinition = {
  id: 'activity.idle_in_transaction',
  group: 'activity',
  title: 'Sessions idle in a transaction',
  async run({ shared, client, features, thresholds }) {
    const backends = await shared('activity', () => readActivity(client, features, { all: true }));
    // The idle time is measured from state_change, not from the transaction start.
    const found = backends
      .filter(
        (backend) =>
          backend.visible &&
          backend.state?.startsWith('idle in transaction') &&
          (backend.state_seconds ?? 0) >= thresholds.idleInTransactionSeconds,
      )
      .sort((a, b) => (b.state_seconds ?? 0) - (a.state_seconds ?? 0));
    const longest = found[0]?.state_seconds ?? 0;
    return {
      status: statusOf(found, backends, longest >= thresholds.idleInTransactionFailSeconds),
      value: found.length > 0 ? `${found.length}, longest ${seconds(longest)}` : '0',
      threshold: `warn ≥ ${thresholds.idleInTransactionSeconds} s, fail ≥ ${thresholds.idleInTransactionFailSeconds} s`,
      message:
        (found.length > 0
          ? `${plural(found.length, 'session')} idle inside an open transaction, holding locks and the xmin horizon: ${found
              .slice(0, 5)
              .map((backend) => `pid ${backend.pid} (${seconds(backend.state_seconds ?? 0)})`)
              .join(', ')}.`
          : 'No session has been idle in a transaction that long.') + hiddenNote(backends),
      fix:
        found.length > 0
          ? 'Fix the application to commit or roll back; end these sessions with opsbox pg terminate PID; set idle_in_transaction_session_timeout.'
          : null,
      rows: found.map(sessionRow),
    };
  },
};

const blocked: CheckDefinition = {
  id: 'activity.blocked',
  group: 'activity',
  title: 'Blocked sessions and who blocks them',
  async run({ shared, client, features, thresholds }) {
    const backends = await shared('activity', () => readActivity(client, features, { all: true }));
    const byPid = new Map(backends.map((backend) => [backend.pid, backend]));
    const found = backends.filter(
      (backend) =>
        backend.blocked_by.length > 0 &&
        (backend.state_seconds ?? backend.query_seconds ?? 0) >= thresholds.blockedSeconds,
    );
    return {
      status: statusOf(found, backends, false),
      value: String(found.length),
      threshold: `blocked ≥ ${thresholds.blockedSeconds} s`,
      message:
        (found.length > 0
          ? `${plural(found.length, 'session')} waiting for a lock: ${found
              .slice(0, 5)
              .map((backend) => `pid ${backend.pid} blocked by ${backend.blocked_by.join(', ')}`)
              .join('; ')}.`
          : 'No session has waited for a lock that long.') + hiddenNote(backends),
      fix:
        found.length > 0
          ? 'Look at the blocking sessions (their query and state); end the root blocker with opsbox pg cancel or terminate.'
          : null,
      rows: found.map((backend) => ({
        ...sessionRow(backend),
        blockers: backend.blocked_by.map((pid) => {
          const blocker = byPid.get(pid);
          return {
            pid,
            user: blocker?.user ?? null,
            state: blocker?.state ?? null,
            query: blocker?.query?.slice(0, 200) ?? null,
          };
        }),
      })),
    };
  },
};

export const ACTIVITY_CHECKS: CheckDefinition[] = [longRunning, idleInTransaction, blocked];

export type { DoctorThresholds };
