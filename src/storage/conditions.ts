import { s3Error } from './errors.js';
import type { ByteRange, ObjectInfo, ReadConditions, WriteCondition } from './types.js';

/** Removes quotes and a weak `W/` marker so ETags compare by value. */
export function normalizeEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

function matchesAny(header: string, etag: string): boolean {
  return header.split(',').some((candidate) => {
    const value = candidate.trim();
    return value === '*' || normalizeEtag(value) === etag;
  });
}

/**
 * Applies RFC 9110's order for conditional reads, which S3 follows:
 * If-Match, then If-Unmodified-Since only without If-Match, then
 * If-None-Match (304 on GET and HEAD), then If-Modified-Since only without
 * If-None-Match. HTTP dates have whole seconds, so times compare in seconds.
 */
export function checkReadConditions(info: ObjectInfo, conditions: ReadConditions): void {
  const modified = Math.floor(info.lastModified.getTime() / 1000);
  if (conditions.ifMatch !== undefined) {
    if (!matchesAny(conditions.ifMatch, info.etag))
      throw s3Error('PreconditionFailed', `If-Match failed: the object's ETag is "${info.etag}".`);
  } else if (
    conditions.ifUnmodifiedSince &&
    modified > Math.floor(conditions.ifUnmodifiedSince.getTime() / 1000)
  ) {
    throw s3Error(
      'PreconditionFailed',
      `If-Unmodified-Since failed: the object changed at ${info.lastModified.toUTCString()}.`,
    );
  }
  if (conditions.ifNoneMatch !== undefined) {
    if (matchesAny(conditions.ifNoneMatch, info.etag))
      throw s3Error('NotModified', 'Not modified.');
  } else if (
    conditions.ifModifiedSince &&
    modified <= Math.floor(conditions.ifModifiedSince.getTime() / 1000)
  ) {
    throw s3Error('NotModified', 'Not modified.');
  }
}

/**
 * Checks a conditional write against the current object. S3 accepts only
 * `*` in If-None-Match on writes; If-Match on a missing key fails with 404.
 */
export function checkWriteCondition(
  existing: ObjectInfo | undefined,
  condition: WriteCondition | undefined,
  key: string,
): void {
  if (!condition) return;
  if (condition.ifNoneMatch !== undefined && existing) {
    throw s3Error('PreconditionFailed', `If-None-Match failed: the key "${key}" already exists.`);
  }
  if (condition.ifMatch !== undefined) {
    if (!existing) throw s3Error('NoSuchKey', `If-Match failed: the key "${key}" does not exist.`);
    if (!matchesAny(condition.ifMatch, existing.etag)) {
      throw s3Error(
        'PreconditionFailed',
        `If-Match failed: the key "${key}" has ETag "${existing.etag}".`,
      );
    }
  }
}

export function checkWriteConditionSyntax(condition: WriteCondition): void {
  if (condition.ifNoneMatch !== undefined && condition.ifNoneMatch.trim() !== '*') {
    throw s3Error(
      'NotImplemented',
      'If-None-Match on a write accepts only "*" (create only when the key is missing).',
    );
  }
}

/**
 * Parses a single-range `Range: bytes=…` header against an object size.
 * Returns undefined for a header that is not a single byte range (S3 then
 * sends the whole object); throws InvalidRange when nothing is satisfiable.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) throw rangeError(header, size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
    if (match[2] !== '' && Number(match[2]) < start) return undefined;
  }
  if (start >= size || size === 0) throw rangeError(header, size);
  return { start, end };
}

function rangeError(header: string, size: number) {
  return s3Error(
    'InvalidRange',
    `The range "${header}" is not satisfiable: the object is ${size} bytes.`,
  );
}
