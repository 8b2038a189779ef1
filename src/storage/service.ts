import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import type { Context } from '../core/context.js';
import { SecretBox } from '../core/crypto.js';
import { LAYOUT } from '../core/data-dir.js';
import { UserError } from '../core/errors.js';
import { createBackend } from './backends/index.js';
import { secretContext } from './backends/secret-context.js';
import {
  BucketCatalog,
  type AzureBackendConfig,
  type BackendKind,
  type BucketRecord,
  type S3BackendConfig,
} from './buckets.js';
import type { ChecksumAlgorithm, ObjectChecksum } from './checksums.js';
import {
  checkReadConditions,
  checkWriteCondition,
  checkWriteConditionSyntax,
  parseRange,
} from './conditions.js';
import { s3Error } from './errors.js';
import { listPage, type ListRequest, type ListResult } from './listing.js';
import { checkBucketName, checkKey } from './names.js';
import { discard, stageBody, type BodyExpectations, type StagedBody } from './staging.js';
import type {
  Backend,
  ObjectHeaders,
  ObjectInfo,
  ObjectStream,
  ReadConditions,
  WriteCondition,
} from './types.js';

export type RemoteBucketSettings =
  | ({ backend: 's3'; secretAccessKey: string } & Omit<S3BackendConfig, 'sealedSecretAccessKey'>)
  | ({ backend: 'azure'; accountKey: string } & Omit<AzureBackendConfig, 'sealedAccountKey'>);

export interface PutObjectOptions {
  headers?: ObjectHeaders;
  metadata?: Record<string, string>;
  /** Checksum algorithm to compute and store (besides MD5, which is always computed). */
  checksumAlgorithm?: ChecksumAlgorithm;
  expect?: BodyExpectations;
  condition?: WriteCondition;
}

export interface GetObjectOptions {
  /** A `Range: bytes=…` header value. */
  range?: string;
  conditions?: ReadConditions;
  /** Called with the size of each chunk written, for progress bars. */
  onData?: (bytes: number) => void;
}

export interface CopyObjectOptions {
  /** COPY keeps the source's headers and metadata; REPLACE takes `headers` and `metadata`. */
  metadataDirective?: 'COPY' | 'REPLACE';
  headers?: ObjectHeaders;
  metadata?: Record<string, string>;
  sourceConditions?: ReadConditions;
  condition?: WriteCondition;
  checksumAlgorithm?: ChecksumAlgorithm;
}

/**
 * The storage capability as a plain service: buckets and objects on local
 * disk, S3 or Azure. The S3 endpoint, the CLI and other capabilities (such
 * as database backups) all call it.
 */
export class StorageService {
  readonly buckets: BucketCatalog;
  private readonly backends = new Map<string, Promise<Backend>>();

  constructor(readonly context: Context) {
    this.buckets = new BucketCatalog(context);
  }

  /** Local folder of a bucket: its objects (local backend), temp files and multipart parts. */
  bucketDir(bucket: string): string {
    return this.context.dataDir.path(LAYOUT.buckets, bucket);
  }

  tmpDir(bucket: string): string {
    return path.join(this.bucketDir(bucket), 'tmp');
  }

  createBucket(
    name: string,
    backend: BackendKind = 'local',
    config: BucketRecord['config'] = {},
  ): BucketRecord {
    const record = this.buckets.create(name, backend, config);
    mkdirSync(this.tmpDir(name), { recursive: true, mode: 0o700 });
    return record;
  }

  /**
   * Creates a bucket stored on an S3-compatible service or Azure Blob. The
   * secret is sealed with SecretBox before it is stored, and one listing
   * call checks the settings before the bucket is kept.
   */
  async createRemoteBucket(name: string, settings: RemoteBucketSettings): Promise<BucketRecord> {
    checkBucketName(name);
    const box = SecretBox.open(this.context.dataDir);
    let record: BucketRecord;
    if (settings.backend === 's3') {
      const { secretAccessKey, backend: _backend, ...rest } = settings;
      record = this.createBucket(name, 's3', {
        ...rest,
        sealedSecretAccessKey: box.encrypt(secretAccessKey, secretContext(name)),
      });
    } else {
      const { accountKey, backend: _backend, ...rest } = settings;
      record = this.createBucket(name, 'azure', {
        ...rest,
        sealedAccountKey: box.encrypt(accountKey, secretContext(name)),
      });
    }
    try {
      await (await this.backend(name)).list('', '', 1);
    } catch (error) {
      this.buckets.remove(name);
      this.backends.delete(name);
      await rm(this.bucketDir(name), { recursive: true, force: true });
      throw error;
    }
    return record;
  }

  async deleteBucket(name: string, options: { force?: boolean } = {}): Promise<void> {
    const record = this.buckets.get(name);
    const backend = await this.backend(name);
    if (!options.force) {
      const first = await backend.list('', '', 1);
      if (first.length > 0) {
        throw s3Error(
          'BucketNotEmpty',
          `The bucket "${name}" is not empty. Delete its objects first, or pass --force to delete them with the bucket.`,
        );
      }
    }
    // A bucket on a remote service keeps its remote data unless forced: the
    // opsbox bucket is only a pointer to it.
    if (record.backend === 'local' || options.force) await backend.destroy();
    this.buckets.remove(name);
    this.backends.delete(name);
    await rm(this.bucketDir(name), { recursive: true, force: true });
  }

  /** Returns the backend of an existing bucket; throws NoSuchBucket otherwise. */
  async backend(bucket: string): Promise<Backend> {
    let backend = this.backends.get(bucket);
    if (!backend) {
      const record = this.buckets.get(bucket);
      backend = createBackend(this.context, record, this.bucketDir(bucket));
      this.backends.set(bucket, backend);
      backend.catch(() => this.backends.delete(bucket));
    }
    return backend;
  }

  async putObject(
    bucket: string,
    key: string,
    body: Readable,
    options: PutObjectOptions = {},
  ): Promise<ObjectInfo> {
    checkKey(key);
    const backend = await this.backend(bucket);
    if (options.condition) {
      checkWriteConditionSyntax(options.condition);
      // Fail before reading a large body; the commit checks again atomically.
      checkWriteCondition(await backend.head(key), options.condition, key);
    }
    const algorithms = options.checksumAlgorithm ? [options.checksumAlgorithm] : [];
    const staged = await stageBody(body, this.tmpDir(bucket), algorithms, options.expect);
    return this.commitStaged(bucket, key, staged, options);
  }

  /** Makes a staged body the object at `key`, taking over (and consuming) its temp file. */
  async commitStaged(
    bucket: string,
    key: string,
    staged: StagedBody,
    options: PutObjectOptions & { etag?: string; checksum?: ObjectChecksum; md5?: string } = {},
  ): Promise<ObjectInfo> {
    const backend = await this.backend(bucket);
    const md5 = options.md5 ?? staged.digest.md5.toString('hex');
    let checksum = options.checksum;
    if (!checksum && options.checksumAlgorithm) {
      checksum = {
        algorithm: options.checksumAlgorithm,
        value: staged.digest.checksums[options.checksumAlgorithm]!,
        type: 'FULL_OBJECT',
      };
    }
    try {
      return await backend.commit(
        key,
        {
          file: staged.file,
          size: staged.digest.size,
          md5,
          etag: options.etag ?? md5,
          headers: options.headers ?? {},
          metadata: options.metadata ?? {},
          checksum,
        },
        options.condition,
      );
    } finally {
      await discard(staged.file);
    }
  }

  async headObject(
    bucket: string,
    key: string,
    conditions: ReadConditions = {},
  ): Promise<ObjectInfo> {
    const backend = await this.backend(bucket);
    const info = await backend.head(key);
    if (!info) throw noSuchKey(bucket, key);
    checkReadConditions(info, conditions);
    return info;
  }

  async getObject(
    bucket: string,
    key: string,
    options: GetObjectOptions = {},
  ): Promise<ObjectStream> {
    const backend = await this.backend(bucket);
    const stream = await backend.open(key, (info) => {
      checkReadConditions(info, options.conditions ?? {});
      return parseRange(options.range, info.size);
    });
    if (!stream) throw noSuchKey(bucket, key);
    return stream;
  }

  /** Deletes an object; deleting a missing key succeeds, as in S3. */
  async deleteObject(bucket: string, key: string): Promise<boolean> {
    const backend = await this.backend(bucket);
    return backend.remove(key);
  }

  async copyObject(
    sourceBucket: string,
    sourceKey: string,
    bucket: string,
    key: string,
    options: CopyObjectOptions = {},
  ): Promise<ObjectInfo> {
    checkKey(key);
    const source = await this.getObject(sourceBucket, sourceKey, {
      conditions: options.sourceConditions,
    });
    const replace = options.metadataDirective === 'REPLACE';
    const algorithm = options.checksumAlgorithm ?? source.info.checksum?.algorithm;
    return this.putObject(bucket, key, source.body, {
      headers: replace ? options.headers : source.info.headers,
      metadata: replace ? options.metadata : source.info.metadata,
      checksumAlgorithm: algorithm,
      expect: { size: source.info.size },
      condition: options.condition,
    });
  }

  async listObjects(bucket: string, request: ListRequest): Promise<ListResult> {
    const backend = await this.backend(bucket);
    return listPage(backend, request);
  }

  /** Lists every object under a prefix, page by page. */
  async *allObjects(bucket: string, prefix = ''): AsyncGenerator<ObjectInfo> {
    const backend = await this.backend(bucket);
    let after = '';
    for (;;) {
      const page = await backend.list(prefix, after, 1000);
      yield* page;
      if (page.length < 1000) return;
      after = page[page.length - 1]!.key;
    }
  }

  /**
   * Stores a local file as an object. The file is streamed, so any size
   * works; the object appears only once complete.
   */
  async putObjectFromFile(
    bucket: string,
    key: string,
    file: string,
    options: Omit<PutObjectOptions, 'expect'> = {},
  ): Promise<ObjectInfo> {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (error) {
      throw new UserError(
        'not_found',
        `Cannot read the file ${file}: ${(error as Error).message}.`,
        { cause: error },
      );
    }
    return this.putObject(bucket, key, createReadStream(file, { highWaterMark: 1024 * 1024 }), {
      ...options,
      expect: { size },
    });
  }

  /**
   * Writes an object to a local file through a temp file in the same folder,
   * fsynced and renamed, so the file is either complete or absent.
   */
  async getObjectToFile(
    bucket: string,
    key: string,
    file: string,
    options: GetObjectOptions = {},
  ): Promise<ObjectInfo> {
    const { info, body } = await this.getObject(bucket, key, options);
    if (options.onData) body.on('data', (chunk: Buffer) => options.onData!(chunk.length));
    const temp = path.join(
      path.dirname(path.resolve(file)),
      `.${path.basename(file)}.${process.pid}.download`,
    );
    try {
      await pipeline(body, createWriteStream(temp, { mode: 0o600, flush: true }));
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return info;
  }
}

export function noSuchKey(bucket: string, key: string): UserError {
  return s3Error(
    'NoSuchKey',
    `The object "${key}" does not exist in bucket "${bucket}". List keys with \`opsbox object list ${bucket}\`.`,
  );
}
