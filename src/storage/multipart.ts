import { randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

import {
  BodyHasher,
  compositeChecksum,
  multipartEtag,
  type ChecksumAlgorithm,
  type ObjectChecksum,
} from './checksums.js';
import { checkWriteCondition, checkWriteConditionSyntax, normalizeEtag } from './conditions.js';
import { s3Error } from './errors.js';
import { checkKey } from './names.js';
import type { StorageService } from './service.js';
import { stageBody, tempFileName, type BodyExpectations } from './staging.js';
import type { ObjectHeaders, ObjectInfo, ReadConditions, WriteCondition } from './types.js';

/** S3's part rules: every part but the last is at least 5 MiB; at most 10,000 parts. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;
export const MAX_LISTED = 1000;

export interface UploadAttributes {
  headers: ObjectHeaders;
  metadata: Record<string, string>;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
}

export interface UploadInfo {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: Date;
  attributes: UploadAttributes;
}

export interface PartInfo {
  partNumber: number;
  size: number;
  etag: string;
  lastModified: Date;
  checksum?: string;
  checksumAlgorithm?: ChecksumAlgorithm;
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
  /** Checksums the client lists for the part (`<ChecksumCRC32>` and so on), checked against the stored one. */
  checksums?: Partial<Record<ChecksumAlgorithm, string>>;
}

interface UploadRow {
  upload_id: string;
  bucket: string;
  key: string;
  attributes: string;
  created_at: string;
}

interface PartRow {
  part_number: number;
  file: string;
  size: number;
  etag: string;
  checksum: string | null;
  last_modified: string;
}

/**
 * Multipart uploads for every backend. Parts are staged under the bucket's
 * local folder. Completing an upload joins them into one temp file and
 * commits it like a single PUT, so a half-completed upload never shows.
 */
export class MultipartService {
  constructor(private readonly storage: StorageService) {}

  private get db() {
    return this.storage.context.state;
  }

  private uploadDir(bucket: string, uploadId: string): string {
    return path.join(this.storage.bucketDir(bucket), 'uploads', uploadId);
  }

  async create(bucket: string, key: string, attributes: UploadAttributes): Promise<UploadInfo> {
    checkKey(key);
    await this.storage.backend(bucket);
    const upload: UploadInfo = {
      uploadId: randomUUID().replace(/-/g, ''),
      bucket,
      key,
      initiated: new Date(),
      attributes,
    };
    mkdirSync(this.uploadDir(bucket, upload.uploadId), { recursive: true, mode: 0o700 });
    this.db
      .prepare(
        'INSERT INTO storage_uploads (upload_id, bucket, key, attributes, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(
        upload.uploadId,
        bucket,
        key,
        JSON.stringify(attributes),
        upload.initiated.toISOString(),
      );
    return upload;
  }

  get(bucket: string, key: string, uploadId: string): UploadInfo {
    const row = this.db
      .prepare('SELECT * FROM storage_uploads WHERE upload_id = ?')
      .get(uploadId) as UploadRow | undefined;
    if (!row || row.bucket !== bucket || row.key !== key) {
      throw s3Error(
        'NoSuchUpload',
        `The multipart upload "${uploadId}" does not exist for key "${key}" in bucket "${bucket}"; it may have been completed or aborted.`,
      );
    }
    return toUpload(row);
  }

  /**
   * Stores a part. Its checksum is kept for the upload's algorithm; a part
   * sent with another algorithm's checksum is verified against it too.
   */
  async uploadPart(
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    expect: BodyExpectations = {},
    requestAlgorithm?: ChecksumAlgorithm,
  ): Promise<PartInfo> {
    checkPartNumber(partNumber);
    const upload = this.get(bucket, key, uploadId);
    const algorithm = upload.attributes.checksumAlgorithm ?? requestAlgorithm;
    const algorithms = new Set(
      [algorithm, requestAlgorithm].filter((item): item is ChecksumAlgorithm => item !== undefined),
    );
    const staged = await stageBody(body, this.storage.tmpDir(bucket), algorithms, expect);
    return this.savePart(upload, partNumber, staged.file, {
      size: staged.digest.size,
      etag: staged.digest.md5.toString('hex'),
      checksum: algorithm ? staged.digest.checksums[algorithm] : undefined,
      checksumAlgorithm: algorithm,
    });
  }

  async uploadPartCopy(
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    source: { bucket: string; key: string; range?: string; conditions?: ReadConditions },
  ): Promise<PartInfo> {
    checkPartNumber(partNumber);
    this.get(bucket, key, uploadId);
    const { body, info, range } = await this.storage.getObject(source.bucket, source.key, {
      range: source.range,
      conditions: source.conditions,
    });
    if (source.range && !range)
      throw s3Error(
        'InvalidArgument',
        `Invalid x-amz-copy-source-range "${source.range}": use "bytes=FIRST-LAST".`,
      );
    const size = range ? range.end - range.start + 1 : info.size;
    return this.uploadPart(bucket, key, uploadId, partNumber, body, { size });
  }

  private async savePart(
    upload: UploadInfo,
    partNumber: number,
    stagedFile: string,
    part: { size: number; etag: string; checksum?: string; checksumAlgorithm?: ChecksumAlgorithm },
  ): Promise<PartInfo> {
    const file = path.join('uploads', upload.uploadId, `${partNumber}.${randomUUID()}`);
    const target = path.join(this.storage.bucketDir(upload.bucket), file);
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
    await rename(stagedFile, target);
    const info: PartInfo = {
      partNumber,
      size: part.size,
      etag: part.etag,
      lastModified: new Date(),
      checksum: part.checksum,
      checksumAlgorithm: part.checksumAlgorithm,
    };
    let previous: PartRow | undefined;
    const save = this.db.transaction(() => {
      if (
        !this.db.prepare('SELECT 1 FROM storage_uploads WHERE upload_id = ?').get(upload.uploadId)
      ) {
        throw s3Error(
          'NoSuchUpload',
          `The multipart upload "${upload.uploadId}" was completed or aborted while the part was uploading.`,
        );
      }
      previous = this.db
        .prepare('SELECT * FROM storage_parts WHERE upload_id = ? AND part_number = ?')
        .get(upload.uploadId, partNumber) as PartRow | undefined;
      this.db
        .prepare(
          `INSERT INTO storage_parts (upload_id, part_number, file, size, etag, checksum, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (upload_id, part_number) DO UPDATE SET file = excluded.file, size = excluded.size, etag = excluded.etag,
             checksum = excluded.checksum, last_modified = excluded.last_modified`,
        )
        .run(
          upload.uploadId,
          partNumber,
          file,
          info.size,
          info.etag,
          info.checksum ? `${info.checksumAlgorithm}:${info.checksum}` : null,
          info.lastModified.toISOString(),
        );
    });
    try {
      save.immediate();
    } catch (error) {
      await rm(target, { force: true });
      throw error;
    }
    if (previous)
      await rm(path.join(this.storage.bucketDir(upload.bucket), previous.file), { force: true });
    return info;
  }

  listParts(
    bucket: string,
    key: string,
    uploadId: string,
    options: { maxParts?: number; partNumberMarker?: number } = {},
  ): { upload: UploadInfo; parts: PartInfo[]; isTruncated: boolean } {
    const upload = this.get(bucket, key, uploadId);
    const maxParts = Math.min(options.maxParts ?? MAX_LISTED, MAX_LISTED);
    const rows = this.db
      .prepare(
        'SELECT * FROM storage_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?',
      )
      .all(uploadId, options.partNumberMarker ?? 0, maxParts + 1) as PartRow[];
    return {
      upload,
      parts: rows.slice(0, maxParts).map(toPart),
      isTruncated: rows.length > maxParts,
    };
  }

  listUploads(
    bucket: string,
    options: {
      prefix?: string;
      keyMarker?: string;
      uploadIdMarker?: string;
      maxUploads?: number;
    } = {},
  ): { uploads: UploadInfo[]; isTruncated: boolean } {
    this.storage.buckets.get(bucket);
    const maxUploads = Math.min(options.maxUploads ?? MAX_LISTED, MAX_LISTED);
    const prefix = options.prefix ?? '';
    const keyMarker = options.keyMarker ?? '';
    const rows = this.db
      .prepare(
        `SELECT * FROM storage_uploads WHERE bucket = ? AND substr(key, 1, length(?)) = ?
           AND (key > ? OR (key = ? AND ? != '' AND upload_id > ?))
         ORDER BY key, upload_id LIMIT ?`,
      )
      .all(
        bucket,
        prefix,
        prefix,
        keyMarker,
        keyMarker,
        options.uploadIdMarker ?? '',
        options.uploadIdMarker ?? '',
        maxUploads + 1,
      ) as UploadRow[];
    return {
      uploads: rows.slice(0, maxUploads).map(toUpload),
      isTruncated: rows.length > maxUploads,
    };
  }

  async abort(bucket: string, key: string, uploadId: string): Promise<void> {
    this.get(bucket, key, uploadId);
    this.db.prepare('DELETE FROM storage_uploads WHERE upload_id = ?').run(uploadId);
    await rm(this.uploadDir(bucket, uploadId), { recursive: true, force: true });
  }

  /**
   * Joins the listed parts into the object. Checks S3's rules first:
   * ascending part numbers (InvalidPartOrder), each part uploaded with the
   * given ETag (InvalidPart), every part but the last at least 5 MiB
   * (EntityTooSmall). The ETag is the MD5 of the parts' binary MD5s, `-N`.
   */
  async complete(
    bucket: string,
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    condition?: WriteCondition,
  ): Promise<ObjectInfo> {
    const upload = this.get(bucket, key, uploadId);
    if (condition) checkWriteConditionSyntax(condition);
    const rows = this.checkParts(upload, parts);
    if (condition)
      checkWriteCondition(await (await this.storage.backend(bucket)).head(key), condition, key);

    const algorithm = upload.attributes.checksumAlgorithm;
    const fullObject = algorithm !== undefined && upload.attributes.checksumType === 'FULL_OBJECT';
    const joined = await this.join(bucket, rows, fullObject ? [algorithm] : []);
    let checksum: ObjectChecksum | undefined;
    if (algorithm && fullObject) {
      checksum = { algorithm, value: joined.checksums[algorithm]!, type: 'FULL_OBJECT' };
    } else if (algorithm && rows.every((row) => row.checksum?.startsWith(`${algorithm}:`))) {
      checksum = {
        algorithm,
        value: await compositeChecksum(
          algorithm,
          rows.map((row) => splitChecksum(row.checksum!)[1]),
        ),
        type: 'COMPOSITE',
      };
    }
    const info = await this.storage.commitStaged(
      bucket,
      key,
      { file: joined.file, digest: joined },
      {
        headers: upload.attributes.headers,
        metadata: upload.attributes.metadata,
        etag: multipartEtag(rows.map((row) => row.etag)),
        checksum,
        condition,
      },
    );
    this.db.prepare('DELETE FROM storage_uploads WHERE upload_id = ?').run(uploadId);
    await rm(this.uploadDir(bucket, uploadId), { recursive: true, force: true });
    return info;
  }

  private checkParts(upload: UploadInfo, parts: CompletedPart[]): PartRow[] {
    if (parts.length === 0)
      throw s3Error(
        'MalformedXML',
        'CompleteMultipartUpload lists no parts: list at least one <Part>.',
      );
    const stored = new Map<number, PartRow>();
    for (const row of this.db
      .prepare('SELECT * FROM storage_parts WHERE upload_id = ?')
      .all(upload.uploadId) as PartRow[])
      stored.set(row.part_number, row);

    const rows: PartRow[] = [];
    let previousNumber = 0;
    for (const part of parts) {
      if (part.partNumber <= previousNumber) {
        throw s3Error(
          'InvalidPartOrder',
          `Part ${part.partNumber} follows part ${previousNumber}: list parts in ascending order of part number.`,
        );
      }
      previousNumber = part.partNumber;
      const row = stored.get(part.partNumber);
      if (!row || normalizeEtag(part.etag) !== row.etag) {
        throw s3Error(
          'InvalidPart',
          `Part ${part.partNumber} with ETag "${normalizeEtag(part.etag)}" was not uploaded to upload "${upload.uploadId}": upload it or fix its ETag.`,
        );
      }
      if (row.checksum) {
        const [algorithm, value] = splitChecksum(row.checksum);
        const listed = part.checksums?.[algorithm];
        if (listed !== undefined && listed !== value) {
          throw s3Error(
            'InvalidPart',
            `Part ${part.partNumber} lists ${algorithm} checksum "${listed}" but was uploaded with "${value}".`,
          );
        }
      }
      rows.push(row);
    }
    rows.slice(0, -1).forEach((row) => {
      if (row.size < MIN_PART_SIZE) {
        throw s3Error(
          'EntityTooSmall',
          `Part ${row.part_number} is ${row.size} bytes; every part except the last must be at least ${MIN_PART_SIZE} bytes (5 MiB).`,
        );
      }
    });
    return rows;
  }

  /** Concatenates part files into a temp file, hashing the whole object on the way. */
  private async join(bucket: string, rows: PartRow[], algorithms: ChecksumAlgorithm[]) {
    const tmpDir = this.storage.tmpDir(bucket);
    mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
    const file = tempFileName(tmpDir, 'complete');
    const hasher = new BodyHasher(algorithms);
    const handle = await open(file, 'wx', 0o600);
    try {
      for (const row of rows) {
        for await (const chunk of createReadStream(
          path.join(this.storage.bucketDir(bucket), row.file),
          { highWaterMark: 1024 * 1024 },
        )) {
          hasher.update(chunk as Buffer);
          await handle.write(chunk as Buffer);
        }
      }
      await handle.sync();
      await handle.close();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(file, { force: true });
      throw error;
    }
    return { file, ...(await hasher.digest()) };
  }
}

function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw s3Error(
      'InvalidArgument',
      `Invalid part number ${partNumber}: use an integer from 1 to ${MAX_PARTS}.`,
    );
  }
}

function toUpload(row: UploadRow): UploadInfo {
  return {
    uploadId: row.upload_id,
    bucket: row.bucket,
    key: row.key,
    initiated: new Date(row.created_at),
    attributes: JSON.parse(row.attributes),
  };
}

function toPart(row: PartRow): PartInfo {
  const [algorithm, checksum] = row.checksum ? splitChecksum(row.checksum) : [undefined, undefined];
  return {
    partNumber: row.part_number,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
    checksum,
    checksumAlgorithm: algorithm,
  };
}

/** Part checksums are stored as "ALGORITHM:base64". */
function splitChecksum(stored: string): [ChecksumAlgorithm, string] {
  const colon = stored.indexOf(':');
  return [stored.slice(0, colon) as ChecksumAlgorithm, stored.slice(colon + 1)];
}
