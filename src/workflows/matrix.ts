import { isDeepStrictEqual } from 'node:util';

import { UserError } from '../core/errors.js';

export type MatrixCombination = Record<string, unknown>;

/** GitHub's limit on jobs generated from one matrix. */
export const MAX_MATRIX_JOBS = 256;

/**
 * Expands `strategy.matrix` into its combinations with GitHub's rules: the
 * cartesian product of the list keys in file order, then `exclude` (an entry
 * removes every combination it matches on all its keys), then `include` (an
 * entry extends each combination whose original values it does not change,
 * and becomes a combination of its own when it extends none).
 */
export function expandMatrix(matrix: Record<string, unknown>): MatrixCombination[] {
  const keys = Object.keys(matrix).filter((key) => key !== 'include' && key !== 'exclude');
  let combinations: MatrixCombination[] = keys.length > 0 ? [{}] : [];
  for (const key of keys) {
    const values = matrix[key];
    if (!Array.isArray(values))
      throw new UserError(
        'invalid',
        `Matrix key "${key}" must be a list; got ${JSON.stringify(values)}.`,
      );
    combinations = combinations.flatMap((combination) =>
      values.map((value) => ({ ...combination, [key]: value })),
    );
  }

  const excludes = asObjects(matrix.exclude, 'exclude');
  combinations = combinations.filter(
    (combination) => !excludes.some((exclude) => matches(combination, exclude)),
  );

  const originals = combinations.map((combination) => ({ ...combination }));
  for (const include of asObjects(matrix.include, 'include')) {
    let extended = false;
    combinations.forEach((combination, index) => {
      const original = originals[index]!;
      const conflicts = Object.entries(include).some(
        ([key, value]) => key in original && !isDeepStrictEqual(original[key], value),
      );
      if (conflicts) return;
      Object.assign(combination, include);
      extended = true;
    });
    if (!extended) {
      combinations.push({ ...include });
      originals.push({ ...include });
    }
  }

  if (combinations.length > MAX_MATRIX_JOBS) {
    throw new UserError(
      'limit',
      `The matrix expands to ${combinations.length} jobs; the limit is ${MAX_MATRIX_JOBS}.`,
    );
  }
  return combinations;
}

function asObjects(value: unknown, key: string): MatrixCombination[] {
  if (value === undefined || value === null) return [];
  if (
    !Array.isArray(value) ||
    value.some((item) => !item || typeof item !== 'object' || Array.isArray(item))
  ) {
    throw new UserError('invalid', `Matrix ${key} must be a list of mappings.`);
  }
  return value as MatrixCombination[];
}

function matches(combination: MatrixCombination, partial: MatrixCombination): boolean {
  return Object.entries(partial).every(([key, value]) =>
    isDeepStrictEqual(combination[key], value),
  );
}

/** Names a matrix job as GitHub shows it: `build (18, linux)`. */
export function matrixJobKey(jobId: string, combination: MatrixCombination | undefined): string {
  if (!combination || Object.keys(combination).length === 0) return jobId;
  const values = Object.values(combination).map((value) =>
    typeof value === 'object' ? JSON.stringify(value) : String(value),
  );
  return `${jobId} (${values.join(', ')})`;
}
