import { UserError } from '../core/errors.js';
import type { QueryStatement } from './execute.js';

/**
 * D1's documented per-query limits (Cloudflare D1 "Limits" page): a statement
 * of at most 100,000 bytes, at most 100 bound parameters, strings and BLOBs
 * of at most 2,000,000 bytes, and 30 seconds per query. The time limit can be
 * changed with OPSBOX_D1_QUERY_TIMEOUT_MS.
 */
export const D1_LIMITS = {
  statementBytes: 100_000,
  boundParameters: 100,
  valueBytes: 2_000_000,
  queryTimeoutMs: Number(process.env.OPSBOX_D1_QUERY_TIMEOUT_MS ?? 30_000),
};

/** D1 reports SQL and limit errors with this API error code. */
export const D1_ERROR_CODE = 7500;

export function checkLimits(statements: QueryStatement[]): void {
  for (const statement of statements) {
    const bytes = Buffer.byteLength(statement.sql, 'utf8');
    if (bytes > D1_LIMITS.statementBytes) {
      throw limitError(
        `statement too long: ${bytes} bytes, the limit is ${D1_LIMITS.statementBytes}. Split it or bind values as params.`,
      );
    }
    const params = statement.params ?? [];
    if (params.length > D1_LIMITS.boundParameters) {
      throw limitError(
        `too many SQL variables: ${params.length} bound parameters, the limit is ${D1_LIMITS.boundParameters}. Split the statement.`,
      );
    }
    for (const [index, value] of params.entries()) {
      const size =
        typeof value === 'string'
          ? Buffer.byteLength(value, 'utf8')
          : Array.isArray(value)
            ? value.length
            : 0;
      if (size > D1_LIMITS.valueBytes) {
        throw limitError(
          `string or blob too big: parameter ${index + 1} has ${size} bytes, the limit is ${D1_LIMITS.valueBytes}.`,
        );
      }
    }
  }
}

function limitError(message: string): UserError {
  return new UserError('limit', `D1_ERROR: ${message}`, { code: String(D1_ERROR_CODE) });
}
