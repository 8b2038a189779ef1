import { rm } from 'node:fs/promises';

import { UserError } from '../core/errors.js';
import type { Location } from './locations.js';
import { stageBody } from './staging.js';
import type { ObjectInfo } from './types.js';

export type SyncAction = 'copy' | 'skip' | 'delete';

export interface SyncEntry {
  action: SyncAction;
  key: string;
  size: number;
  /** Why the object is copied: new, size or checksum changed. */
  reason?: 'new' | 'size' | 'checksum' | 'modified';
}

export interface SyncOptions {
  delete?: boolean;
  dryRun?: boolean;
  /** Called after each object, for progress bars. */
  onProgress?: (entry: SyncEntry, done: { objects: number; bytes: number }) => void;
  /** Called once the plan is known, with the object count and bytes to copy. */
  onPlan?: (total: { objects: number; bytes: number }) => void;
}

export interface SyncResult {
  copied: number;
  skipped: number;
  deleted: number;
  bytesCopied: number;
  dryRun: boolean;
  entries: SyncEntry[];
}

const PAGE = 1000;

async function listAll(location: Location): Promise<Map<string, ObjectInfo>> {
  const objects = new Map<string, ObjectInfo>();
  let after = '';
  for (;;) {
    const page = await location.backend.list(location.prefix, after, PAGE);
    for (const object of page) objects.set(object.key.slice(location.prefix.length), object);
    if (page.length < PAGE) return objects;
    after = page[page.length - 1]!.key;
  }
}

/**
 * Decides whether a destination object differs from its source: by size,
 * then by content MD5 where both sides know it. Where one side does not
 * (an S3 multipart object uploaded by another tool), a destination newer
 * than its source counts as up to date, as rclone does without hashes.
 */
function changeReason(
  source: ObjectInfo,
  target: ObjectInfo | undefined,
): SyncEntry['reason'] | undefined {
  if (!target) return 'new';
  if (source.size !== target.size) return 'size';
  if (source.md5 && target.md5) return source.md5 === target.md5 ? undefined : 'checksum';
  return target.lastModified.getTime() >= source.lastModified.getTime() ? undefined : 'modified';
}

/**
 * Copies new and changed objects from one location to another and, with
 * `delete`, removes destination objects missing from the source. Each copy
 * goes through a verified local temp file and lands atomically, so an
 * interrupted sync leaves whole objects only, and running it again resumes
 * where it stopped: finished objects compare equal and are skipped.
 */
export async function syncLocations(
  source: Location,
  target: Location,
  options: SyncOptions = {},
): Promise<SyncResult> {
  // NOTE: both listings are held in memory, an estimated 300 bytes per
  // object, so a sync of millions of objects needs gigabytes.
  const [sources, targets] = await Promise.all([listAll(source), listAll(target)]);
  const entries: SyncEntry[] = [];
  for (const [key, object] of sources) {
    const reason = changeReason(object, targets.get(key));
    entries.push(
      reason
        ? { action: 'copy', key, size: object.size, reason }
        : { action: 'skip', key, size: object.size },
    );
  }
  if (options.delete) {
    for (const [key, object] of targets)
      if (!sources.has(key)) entries.push({ action: 'delete', key, size: object.size });
  }
  const toCopy = entries.filter((entry) => entry.action === 'copy');
  options.onPlan?.({
    objects: toCopy.length,
    bytes: toCopy.reduce((sum, entry) => sum + entry.size, 0),
  });

  const result: SyncResult = {
    copied: 0,
    skipped: 0,
    deleted: 0,
    bytesCopied: 0,
    dryRun: Boolean(options.dryRun),
    entries,
  };
  const done = { objects: 0, bytes: 0 };
  for (const entry of entries) {
    if (entry.action === 'skip') {
      result.skipped++;
      continue;
    }
    if (!options.dryRun) {
      if (entry.action === 'copy') await copyObject(source, target, entry.key);
      else await target.backend.remove(target.prefix + entry.key);
    }
    if (entry.action === 'copy') {
      result.copied++;
      result.bytesCopied += entry.size;
      done.bytes += entry.size;
    } else {
      result.deleted++;
    }
    done.objects++;
    options.onProgress?.(entry, done);
  }
  return result;
}

async function copyObject(source: Location, target: Location, key: string): Promise<void> {
  const opened = await source.backend.open(source.prefix + key);
  if (!opened)
    throw new UserError(
      'not_found',
      `The object "${key}" disappeared from ${source.label} during the sync; run the sync again.`,
    );
  const staged = await stageBody(
    opened.body,
    target.tmpDir,
    opened.info.checksum ? [opened.info.checksum.algorithm] : [],
    { size: opened.info.size },
  );
  const md5 = staged.digest.md5.toString('hex');
  try {
    await target.backend.commit(target.prefix + key, {
      file: staged.file,
      size: staged.digest.size,
      md5,
      // A copy is one upload, so its ETag is its MD5 even when the source was multipart.
      etag: md5,
      headers: opened.info.headers,
      metadata: opened.info.metadata,
      checksum: opened.info.checksum?.type === 'FULL_OBJECT' ? opened.info.checksum : undefined,
    });
  } finally {
    await rm(staged.file, { force: true });
  }
}
