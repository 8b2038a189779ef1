import { UserError } from '../core/errors.js';
import { withSession, type ConnectionOptions } from './connection.js';
import { readActivity, type Backend } from './doctor/activity.js';
import { sqlState, SQLSTATE } from './errors.js';
import { detectFeatures } from './features.js';

export type { Backend };

/** Lists active client sessions, or every backend (idle ones and background workers too) with `all`. */
export async function listActivity(
  options: ConnectionOptions & { all?: boolean },
): Promise<Backend[]> {
  return withSession(options, async (session) =>
    readActivity(session.client, await detectFeatures(session.client), { all: options.all }),
  );
}

export interface SignalOptions extends ConnectionOptions {
  pid: number;
  /**
   * The backend_start the caller saw (from `pg activity --json`). When set,
   * the signal is sent only if the pid still belongs to that backend.
   */
  backendStart?: string;
}

export interface SignalResult {
  pid: number;
  signal: 'cancel' | 'terminate';
  /** The backend as it was just before the signal. */
  backend: Backend;
  /** Whether the server accepted the signal. */
  sent: boolean;
}

/** Looks up a backend by pid, failing with not_found when it is gone. */
export async function findBackend(options: ConnectionOptions & { pid: number }): Promise<Backend> {
  return withSession(options, async (session) => {
    const features = await detectFeatures(session.client);
    const backend = (await readActivity(session.client, features, { all: true })).find(
      (item) => item.pid === options.pid,
    );
    if (!backend) throw backendGone(options.pid);
    return backend;
  });
}

function backendGone(pid: number): UserError {
  return new UserError(
    'not_found',
    `No backend with pid ${pid}; it has ended, or list the current ones with opsbox pg activity --all.`,
    { code: 'PG_BACKEND_NOT_FOUND' },
  );
}

/** Cancels the backend's current query (pg_cancel_backend). */
export function cancelBackend(options: SignalOptions): Promise<SignalResult> {
  return signalBackend(options, 'cancel');
}

/** Ends the backend's session (pg_terminate_backend). */
export function terminateBackend(options: SignalOptions): Promise<SignalResult> {
  return signalBackend(options, 'terminate');
}

/**
 * Signals a backend after checking that the pid still belongs to the same
 * backend: the check and the signal run in one statement, keyed on
 * (pid, backend_start), so a pid reused by a new session is never hit.
 */
async function signalBackend(
  options: SignalOptions,
  signal: 'cancel' | 'terminate',
): Promise<SignalResult> {
  return withSession(options, async (session) => {
    const features = await detectFeatures(session.client);
    const backend = (await readActivity(session.client, features, { all: true })).find(
      (item) => item.pid === options.pid,
    );
    if (!backend) throw backendGone(options.pid);
    if (!backend.visible) {
      throw new UserError(
        'permission',
        `Cannot see backend ${options.pid} of another role; connect as a member of pg_signal_backend or pg_monitor, or as that role.`,
        { code: 'PG_PERMISSION' },
      );
    }
    const expected = options.backendStart ?? backend.backend_start!;
    if (options.backendStart && options.backendStart !== backend.backend_start) {
      throw new UserError(
        'conflict',
        `pid ${options.pid} now belongs to a different backend (started ${backend.backend_start}, expected ${options.backendStart}); nothing was signalled.`,
        { code: 'PG_BACKEND_CHANGED' },
      );
    }
    const fn = signal === 'cancel' ? 'pg_cancel_backend' : 'pg_terminate_backend';
    let sent: boolean;
    try {
      const { rows } = await session.client.query(
        `SELECT pg_catalog.${fn}(pid) AS sent FROM pg_catalog.pg_stat_activity WHERE pid = $1 AND backend_start = $2::timestamptz`,
        [options.pid, expected],
      );
      if (rows.length === 0)
        throw new UserError(
          'conflict',
          `Backend ${options.pid} ended or changed before it could be signalled; nothing was signalled.`,
          { code: 'PG_BACKEND_CHANGED' },
        );
      sent = rows[0].sent;
    } catch (error) {
      if (sqlState(error) === SQLSTATE.insufficientPrivilege) {
        throw new UserError(
          'permission',
          `Permission denied to ${signal} backend ${options.pid} of role "${backend.user}": ${(error as Error).message}; only a superuser can signal a superuser's backend, others need pg_signal_backend.`,
          { code: 'PG_PERMISSION', cause: error },
        );
      }
      throw error;
    }
    if (!sent) {
      throw new UserError(
        'permission',
        `The server did not ${signal} backend ${options.pid} of role "${backend.user}"; the role needs pg_signal_backend or to be that role.`,
        { code: 'PG_PERMISSION' },
      );
    }
    return { pid: options.pid, signal, backend, sent };
  });
}
