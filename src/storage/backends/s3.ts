import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import type { Context } from '../../core/context.js';
import { SecretBox } from '../../core/crypto.js';
import { UserError } from '../../core/errors.js';
import type { BucketRecord, S3BackendConfig } from '../buckets.js';
import { checkWriteCondition } from '../conditions.js';
import { secretContext } from './secret-context.js';
import type {
  Backend,
  ByteRange,
  ObjectInfo,
  ObjectStream,
  StagedObject,
  WriteCondition,
} from '../types.js';

/** User metadata entry that carries the content MD5 where the remote ETag is not one (multipart). */
const MD5_METADATA = 'opsbox-md5';

/**
 * A bucket stored in a bucket (and optional prefix) of an S3-compatible
 * service: Amazon S3, Cloudflare R2, MinIO or another opsbox.
 */
export class S3Backend implements Backend {
  constructor(
    readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  static fromConfig(context: Context, record: BucketRecord): S3Backend {
    const config = record.config as S3BackendConfig;
    const secretAccessKey = SecretBox.open(context.dataDir)
      .decrypt(config.sealedSecretAccessKey, secretContext(record.name))
      .toString('utf8');
    return new S3Backend(
      createS3Client({ ...config, secretAccessKey }),
      config.bucket,
      config.prefix ?? '',
    );
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const output = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      return toInfo(key, output);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw remoteError(error, this.bucket, key);
    }
  }

  async open(
    key: string,
    prepare?: (info: ObjectInfo) => ByteRange | undefined,
  ): Promise<ObjectStream | undefined> {
    let range: ByteRange | undefined;
    if (prepare) {
      const info = await this.head(key);
      if (!info) return undefined;
      range = prepare(info);
    }
    try {
      const output = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      const info = toInfo(key, output);
      if (range) info.size = Number(output.ContentRange?.split('/')[1] ?? info.size);
      return { info, body: output.Body as Readable, range };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw remoteError(error, this.bucket, key);
    }
  }

  async commit(key: string, staged: StagedObject, condition?: WriteCondition): Promise<ObjectInfo> {
    // NOTE: the condition is checked with a HEAD before the upload, not
    // atomically: another writer to the remote bucket can slip in between.
    if (condition) checkWriteCondition(await this.head(key), condition, key);
    const metadata = { ...staged.metadata };
    if (staged.etag !== staged.md5) metadata[MD5_METADATA] = staged.md5;
    try {
      const upload = new Upload({
        client: this.client,
        params: {
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: createReadStream(staged.file),
          ContentType: staged.headers.contentType,
          CacheControl: staged.headers.cacheControl,
          ContentDisposition: staged.headers.contentDisposition,
          ContentEncoding: staged.headers.contentEncoding,
          ContentLanguage: staged.headers.contentLanguage,
          Metadata: metadata,
        },
        partSize: 16 * 1024 * 1024,
        queueSize: 4,
      });
      await upload.done();
    } catch (error) {
      throw remoteError(error, this.bucket, key);
    }
    const info = await this.head(key);
    if (!info)
      throw new UserError(
        'unavailable',
        `The S3 service accepted "${key}" in bucket "${this.bucket}" but does not list it; check the endpoint's consistency.`,
      );
    return info;
  }

  async remove(key: string): Promise<boolean> {
    const existed = (await this.head(key)) !== undefined;
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
    } catch (error) {
      throw remoteError(error, this.bucket, key);
    }
    return existed;
  }

  async list(prefix: string, after: string, limit: number): Promise<ObjectInfo[]> {
    try {
      const output = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          StartAfter: after ? this.prefix + after : undefined,
          MaxKeys: Math.min(limit, 1000),
        }),
      );
      return (output.Contents ?? []).map((entry) => {
        const etag = (entry.ETag ?? '').replace(/"/g, '');
        return {
          key: entry.Key!.slice(this.prefix.length),
          size: entry.Size ?? 0,
          etag,
          md5: etag.includes('-') ? '' : etag,
          lastModified: entry.LastModified ?? new Date(0),
          headers: {},
          metadata: {},
        };
      });
    } catch (error) {
      throw remoteError(error, this.bucket, prefix);
    }
  }

  async destroy(): Promise<void> {
    for (;;) {
      const page = await this.list('', '', 1000);
      for (const object of page) await this.remove(object.key);
      if (page.length === 0) return;
    }
  }
}

export interface S3ClientSettings {
  endpoint?: string;
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle?: boolean;
}

export function createS3Client(settings: S3ClientSettings): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region || 'us-east-1',
    forcePathStyle: settings.forcePathStyle ?? Boolean(settings.endpoint),
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
  });
}

function toInfo(
  key: string,
  output: {
    ContentLength?: number;
    ETag?: string;
    LastModified?: Date;
    Metadata?: Record<string, string>;
    ContentType?: string;
    CacheControl?: string;
    ContentDisposition?: string;
    ContentEncoding?: string;
    ContentLanguage?: string;
  },
): ObjectInfo {
  const etag = (output.ETag ?? '').replace(/"/g, '');
  const metadata = { ...(output.Metadata ?? {}) };
  const md5 = metadata[MD5_METADATA] ?? (etag.includes('-') ? '' : etag);
  delete metadata[MD5_METADATA];
  return {
    key,
    size: output.ContentLength ?? 0,
    etag,
    md5,
    lastModified: output.LastModified ?? new Date(0),
    headers: {
      contentType: output.ContentType,
      cacheControl: output.CacheControl,
      contentDisposition: output.ContentDisposition,
      contentEncoding: output.ContentEncoding,
      contentLanguage: output.ContentLanguage,
    },
    metadata,
  };
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.$metadata.httpStatusCode === 404 ||
      error.name === 'NoSuchKey' ||
      error.name === 'NotFound')
  );
}

/** Turns a remote failure into one line that names the remote bucket and key. */
export function remoteError(error: unknown, bucket: string, key: string): UserError {
  if (error instanceof UserError) return error;
  const name = error instanceof S3ServiceException ? error.name : ((error as any)?.code ?? 'Error');
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
  let kind: 'permission' | 'not_found' | 'unavailable' = 'unavailable';
  if (status === 403) kind = 'permission';
  if (status === 404) kind = 'not_found';
  return new UserError(
    kind,
    `The S3 service failed on bucket "${bucket}", key "${key}": ${name}${status ? ` (HTTP ${status})` : ''}: ${(error as Error)?.message ?? error}. Check the endpoint, region and keys of the bucket.`,
    {
      code: name,
      cause: error,
    },
  );
}
