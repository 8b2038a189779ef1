/**
 * The one error type for failures caused by input, state or the environment
 * rather than by a bug in opsbox. The CLI prints its message as one line and
 * exits with the code of its kind; the HTTP API maps the kind to a status.
 * Every other exception is treated as a bug.
 */

export type ErrorKind =
  | 'usage'
  | 'invalid'
  | 'not_found'
  | 'conflict'
  | 'sql'
  | 'busy'
  | 'permission'
  | 'unavailable'
  | 'timeout'
  | 'limit'
  | 'cancelled';

/** Exit codes, stable across releases so scripts can branch on them. */
export const EXIT_CODES: Record<ErrorKind | 'bug', number> = {
  usage: 2,
  invalid: 3,
  not_found: 4,
  conflict: 5,
  sql: 6,
  busy: 7,
  permission: 8,
  unavailable: 9,
  timeout: 10,
  limit: 11,
  cancelled: 130,
  bug: 70,
};

export const HTTP_STATUS: Record<ErrorKind, number> = {
  usage: 400,
  invalid: 400,
  not_found: 404,
  conflict: 409,
  sql: 400,
  busy: 503,
  permission: 403,
  unavailable: 503,
  timeout: 504,
  limit: 413,
  cancelled: 499,
};

export interface UserErrorOptions {
  /** A stable machine-readable code such as `DB_NOT_FOUND`. */
  code?: string;
  cause?: unknown;
}

export class UserError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;

  constructor(kind: ErrorKind, message: string, options: UserErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'UserError';
    this.kind = kind;
    this.code = options.code ?? kind.toUpperCase();
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.kind];
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}

/** Returns the message of any thrown value, for logs and wrapped errors. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
