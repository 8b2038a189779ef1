import { UserError, type ErrorKind } from '../core/errors.js';
import type { RunStatus } from './store.js';

/** Every run status, which are the values a list of runs can filter on. */
export const RUN_STATUSES: readonly RunStatus[] = [
  'queued',
  'running',
  'success',
  'failure',
  'cancelled',
  'interrupted',
];

/** Bounds of the number of runs one list returns. */
export const RUN_LIST_LIMIT = { min: 1, max: 1000 };

/**
 * Parses the number of runs to list. `name` is the parameter as the caller
 * wrote it (`--limit`, `limit`) and `kind` the error kind of a bad value.
 */
export function parseRunLimit(text: string, name: string, kind: ErrorKind): number {
  const limit = Number(text);
  if (
    text.trim() === '' ||
    !Number.isInteger(limit) ||
    limit < RUN_LIST_LIMIT.min ||
    limit > RUN_LIST_LIMIT.max
  ) {
    throw new UserError(
      kind,
      `Invalid ${name} "${text}": use a number from ${RUN_LIST_LIMIT.min} to ${RUN_LIST_LIMIT.max}.`,
    );
  }
  return limit;
}

/** Parses a run status filter, with `name` and `kind` as for parseRunLimit. */
export function parseRunStatus(text: string, name: string, kind: ErrorKind): RunStatus {
  const status = RUN_STATUSES.find((candidate) => candidate === text);
  if (!status)
    throw new UserError(kind, `Invalid ${name} "${text}": use one of ${RUN_STATUSES.join(', ')}.`);
  return status;
}
