import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import {
  BodyHasher,
  checksumHeader,
  type BodyDigest,
  type ChecksumAlgorithm,
} from './checksums.js';
import { s3Error } from './errors.js';
import { SyncedFileWriter } from './file-writer.js';

/** Expected properties of a body, checked once it has been read in full. */
export interface BodyExpectations {
  /** Length announced by Content-Length or x-amz-decoded-content-length. */
  size?: number;
  /** Base64 MD5 from Content-MD5. */
  contentMd5?: string;
  /** Hex SHA-256 signed in x-amz-content-sha256. */
  sha256Hex?: string;
  /**
   * Checksums sent in headers, or read from an aws-chunked trailer, which is
   * known only at the end of the body: hence a function.
   */
  checksums?: () => Partial<Record<ChecksumAlgorithm, string>>;
}

export interface StagedBody {
  file: string;
  digest: BodyDigest;
}

const WRITE_BUFFER = 1024 * 1024;

/**
 * Streams a body into a new temp file in `tmpDir`, hashing it on the way,
 * fsyncs it and checks it against the expectations. On any failure the
 * temp file is removed, so a bad upload leaves nothing behind.
 */
export async function stageBody(
  source: Readable,
  tmpDir: string,
  algorithms: Iterable<ChecksumAlgorithm>,
  expect: BodyExpectations = {},
): Promise<StagedBody> {
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  const file = tempFileName(tmpDir, 'upload');
  const hasher = new BodyHasher(algorithms, { sha256: expect.sha256Hex !== undefined });
  const handle = await open(file, 'wx', 0o600);
  try {
    const hashing = new Transform({
      highWaterMark: WRITE_BUFFER,
      transform(chunk: Buffer, _encoding, callback) {
        hasher.update(chunk);
        callback(null, chunk);
      },
    });
    await pipeline(source, hashing, new SyncedFileWriter(handle));
    await handle.close();
    const digest = await hasher.digest();
    verifyDigest(digest, expect);
    return { file, digest };
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(file, { force: true });
    throw error;
  }
}

export function verifyDigest(digest: BodyDigest, expect: BodyExpectations): void {
  if (expect.size !== undefined && digest.size !== expect.size) {
    throw s3Error(
      'IncompleteBody',
      `The body has ${digest.size} bytes but the request announced ${expect.size}; nothing was stored.`,
    );
  }
  if (expect.contentMd5 !== undefined && digest.md5.toString('base64') !== expect.contentMd5) {
    throw s3Error('BadDigest', 'The Content-MD5 does not match the body; nothing was stored.');
  }
  if (expect.sha256Hex !== undefined && digest.sha256Hex !== expect.sha256Hex.toLowerCase()) {
    throw s3Error(
      'XAmzContentSHA256Mismatch',
      'The x-amz-content-sha256 does not match the body; nothing was stored.',
    );
  }
  for (const [algorithm, value] of Object.entries(expect.checksums?.() ?? {})) {
    const actual = digest.checksums[algorithm as ChecksumAlgorithm];
    if (actual !== value) {
      throw s3Error(
        'BadDigest',
        `The ${checksumHeader(algorithm as ChecksumAlgorithm)} value "${value}" does not match the body (${actual}); nothing was stored.`,
      );
    }
  }
}

/**
 * Names a temp file after the process that writes it, so a later start can
 * tell the files of a dead process (killed mid-upload) from those of a live
 * one, such as a CLI upload running next to `opsbox serve`.
 */
export function tempFileName(tmpDir: string, suffix: string): string {
  return path.join(tmpDir, `${process.pid}.${randomUUID()}.${suffix}`);
}

/** Removes temp files under each bucket's tmp folder whose writing process is gone; returns how many. */
export async function removeStaleTempFiles(bucketsDir: string): Promise<number> {
  let removed = 0;
  let buckets: string[];
  try {
    buckets = await readdir(bucketsDir);
  } catch {
    return 0;
  }
  for (const bucket of buckets) {
    const tmpDir = path.join(bucketsDir, bucket, 'tmp');
    const files = await readdir(tmpDir).catch(() => [] as string[]);
    for (const name of files) {
      const pid = Number(name.split('.', 1)[0]);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) continue;
      await rm(path.join(tmpDir, name), { force: true });
      removed++;
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: any) {
    // EPERM: the process exists but belongs to another user.
    return error?.code === 'EPERM';
  }
}

export async function discard(file: string): Promise<void> {
  await rm(file, { force: true });
}
