import type { Backend, ObjectInfo } from './types.js';

export interface ListRequest {
  prefix: string;
  delimiter?: string;
  maxKeys: number;
  /** List keys after this one: the greater of StartAfter, Marker and the continuation position. */
  after: string;
}

export interface ListResult {
  objects: ObjectInfo[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned; the next page starts after it. */
  lastEntry?: string;
}

const BATCH = 1000;
const MAX_CODE_POINT = String.fromCodePoint(0x10ffff);

/**
 * Lists one page with S3's delimiter rules: keys that contain the delimiter
 * after the prefix roll up into one common prefix, and each common prefix
 * counts as one entry against max-keys. A page never repeats the common
 * prefix the previous page ended on, because a position equal to a common
 * prefix skips every key under it.
 */
export async function listPage(backend: Backend, request: ListRequest): Promise<ListResult> {
  const result: ListResult = { objects: [], commonPrefixes: [], isTruncated: false };
  if (request.maxKeys <= 0) return result;
  let after = request.after;
  let currentPrefix = request.delimiter
    ? commonPrefixOf(request.after, request.prefix, request.delimiter)
    : undefined;
  if (currentPrefix !== request.after) currentPrefix = undefined;
  let count = 0;

  for (;;) {
    const batch = await backend.list(request.prefix, after, BATCH);
    for (const object of batch) {
      after = object.key;
      const group = request.delimiter
        ? commonPrefixOf(object.key, request.prefix, request.delimiter)
        : undefined;
      if (group !== undefined && group === currentPrefix) continue;
      if (count === request.maxKeys) {
        result.isTruncated = true;
        return result;
      }
      count++;
      if (group !== undefined) {
        currentPrefix = group;
        result.commonPrefixes.push(group);
        result.lastEntry = group;
        // Jump past the group instead of reading every key in it.
        after = group + MAX_CODE_POINT;
      } else {
        result.objects.push(object);
        result.lastEntry = object.key;
      }
    }
    if (batch.length < BATCH) return result;
  }
}

/** Returns the common prefix a key rolls up into, or undefined when it is listed as itself. */
export function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const index = key.indexOf(delimiter, prefix.length);
  if (index < 0) return undefined;
  return key.slice(0, index + delimiter.length);
}

export function encodeToken(position: string): string {
  return Buffer.from(position, 'utf8').toString('base64url');
}

export function decodeToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(token)) return undefined;
  return Buffer.from(token, 'base64url').toString('utf8');
}
