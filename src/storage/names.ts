import { s3Error } from './errors.js';

/** S3's limit on an object key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_PATTERN = /^\d+\.\d+\.\d+\.\d+$/;

/**
 * Checks a bucket name against S3's rules for new buckets: 3-63 characters,
 * lower-case letters, digits, dots and hyphens, no `..`, not an IP address.
 * Bucket names become folder names, so these rules also keep them safe there.
 */
export function checkBucketName(name: string): void {
  if (
    !BUCKET_PATTERN.test(name) ||
    name.includes('..') ||
    IP_PATTERN.test(name) ||
    name.startsWith('xn--')
  ) {
    throw s3Error(
      'InvalidBucketName',
      `Invalid bucket name "${name}": use 3-63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit.`,
    );
  }
}

/** Checks an object key: not empty and at most 1,024 bytes of UTF-8. */
export function checkKey(key: string): void {
  if (key.length === 0)
    throw s3Error(
      'InvalidArgument',
      'The object key is empty: give a key such as "reports/2024.csv".',
    );
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw s3Error(
      'KeyTooLongError',
      `The object key "${key.slice(0, 40)}…" is ${Buffer.byteLength(key, 'utf8')} bytes; S3 keys are at most ${MAX_KEY_BYTES} bytes of UTF-8.`,
    );
  }
  if (/[\uD800-\uDFFF]/.test(key.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) {
    throw s3Error(
      'InvalidArgument',
      'The object key contains a lone UTF-16 surrogate and is not valid UTF-8: fix the key.',
    );
  }
}

/**
 * Splits "BUCKET/PREFIX" (as given to `--to` or `object list`) into the
 * bucket and the rest, which may be empty.
 */
export function splitBucketPath(target: string): { bucket: string; prefix: string } {
  const slash = target.indexOf('/');
  if (slash < 0) return { bucket: target, prefix: '' };
  return { bucket: target.slice(0, slash), prefix: target.slice(slash + 1) };
}
