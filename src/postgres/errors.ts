import { UserError } from '../core/errors.js';

interface TargetLike {
  host: string;
  port: number;
  user: string;
  database: string;
  display: string;
}

/** SQLSTATE codes opsbox reacts to (PostgreSQL appendix A). */
export const SQLSTATE = {
  insufficientPrivilege: '42501',
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  invalidCatalogName: '3D000',
  queryCanceled: '57014',
  lockNotAvailable: '55P03',
  objectInUse: '55006',
  undefinedObject: '42704',
  undefinedTable: '42P01',
  duplicateObject: '42710',
  tooManyConnections: '53300',
  cannotConnectNow: '57P03',
  objectNotInPrerequisiteState: '55000',
  featureNotSupported: '0A000',
} as const;

/** Returns the SQLSTATE of a server error, or undefined for anything else. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Turns a failure to connect into one line that names the target and the
 * fix. The password is never part of the message.
 */
export function connectionError(error: unknown, target: TargetLike): UserError {
  const state = sqlState(error);
  const message = (error as Error)?.message ?? String(error);
  const where = target.display;
  const options = { code: 'PG_CONNECT', cause: error };

  if (state === SQLSTATE.invalidPassword || /password authentication failed/i.test(message)) {
    return new UserError(
      'permission',
      `Password authentication failed for role "${target.user}" at ${where}; check the password in the URL, PGPASSWORD or ~/.pgpass.`,
      { ...options, code: 'PG_AUTH_FAILED' },
    );
  }
  if (
    /SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string/.test(message) ||
    /password must be a string/.test(message)
  ) {
    return new UserError(
      'permission',
      `The server at ${where} requires a password for role "${target.user}"; put it in PGPASSWORD, ~/.pgpass or the URL.`,
      { ...options, code: 'PG_AUTH_FAILED' },
    );
  }
  if (state === SQLSTATE.invalidAuthorization && /no encryption|SSL off/i.test(message)) {
    return new UserError(
      'permission',
      `The server at ${where} requires SSL for this connection; add ?sslmode=require to the URL or set PGSSLMODE=require.`,
      { ...options, code: 'PG_SSL_REQUIRED' },
    );
  }
  if (state === SQLSTATE.invalidAuthorization) {
    return new UserError(
      'permission',
      `The server at ${where} rejected role "${target.user}": ${message}; check pg_hba.conf and the role name.`,
      { ...options, code: 'PG_AUTH_FAILED' },
    );
  }
  if (/does not support SSL/i.test(message)) {
    return new UserError(
      'unavailable',
      `The server at ${where} does not support SSL; use sslmode=prefer or sslmode=disable.`,
      { ...options, code: 'PG_SSL_UNSUPPORTED' },
    );
  }
  if (state === SQLSTATE.invalidCatalogName) {
    return new UserError(
      'not_found',
      `Database "${target.database}" does not exist on ${target.host}:${target.port}; check the database name in the URL or PGDATABASE.`,
      { ...options, code: 'PG_DATABASE_NOT_FOUND' },
    );
  }
  if (state === SQLSTATE.tooManyConnections) {
    return new UserError(
      'busy',
      `The server at ${where} has no free connection slots; retry later or raise max_connections.`,
      { ...options, code: 'PG_TOO_MANY_CONNECTIONS' },
    );
  }
  if (state === SQLSTATE.cannotConnectNow) {
    return new UserError(
      'unavailable',
      `The server at ${where} is starting up or shutting down; retry in a moment.`,
      options,
    );
  }
  if (/timeout/i.test(message)) {
    return new UserError(
      'timeout',
      `Connecting to ${where} timed out; check the host, port and firewall.`,
      { ...options, code: 'PG_CONNECT_TIMEOUT' },
    );
  }
  const errno = (error as { code?: string })?.code;
  if (errno === 'ECONNREFUSED' || errno === 'ENOENT') {
    return new UserError(
      'unavailable',
      `Cannot connect to ${where}: connection refused; check that the server runs and listens on that host and port.`,
      options,
    );
  }
  if (errno === 'ENOTFOUND' || errno === 'EAI_AGAIN') {
    return new UserError(
      'unavailable',
      `Cannot connect to ${where}: host "${target.host}" not found; check the host name.`,
      options,
    );
  }
  if (error instanceof UserError) return error;
  return new UserError('unavailable', `Cannot connect to ${where}: ${message}.`, options);
}

/** Turns a failed statement into a UserError when the cause is the user's or the server's state. */
export function statementError(error: unknown, what: string): unknown {
  const state = sqlState(error);
  const message = (error as Error)?.message ?? String(error);
  if (state === SQLSTATE.insufficientPrivilege) {
    return new UserError('permission', `Permission denied to ${what}: ${message}.`, {
      code: 'PG_PERMISSION',
      cause: error,
    });
  }
  if (error instanceof UserError) return error;
  if (state === SQLSTATE.queryCanceled) {
    return new UserError(
      'timeout',
      `Timed out trying to ${what}; raise --statement-timeout or retry when the server is less busy.`,
      { code: 'PG_TIMEOUT', cause: error },
    );
  }
  if (state === SQLSTATE.lockNotAvailable) {
    return new UserError(
      'timeout',
      `Timed out waiting for a lock to ${what}; another session holds it (see opsbox pg activity).`,
      { code: 'PG_LOCK_TIMEOUT', cause: error },
    );
  }
  if (state)
    return new UserError('sql', `Failed to ${what}: ${message} (SQLSTATE ${state}).`, {
      code: 'PG_SQL',
      cause: error,
    });
  return error;
}
