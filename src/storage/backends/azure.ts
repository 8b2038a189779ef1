import type { Readable } from 'node:stream';

import {
  BlobServiceClient,
  RestError,
  StorageSharedKeyCredential,
  type BlobItem,
  type ContainerClient,
} from '@azure/storage-blob';

import type { Context } from '../../core/context.js';
import { SecretBox } from '../../core/crypto.js';
import { UserError } from '../../core/errors.js';
import type { AzureBackendConfig, BucketRecord } from '../buckets.js';
import { checkWriteCondition } from '../conditions.js';
import type {
  Backend,
  ByteRange,
  ObjectInfo,
  ObjectStream,
  StagedObject,
  WriteCondition,
} from '../types.js';
import { secretContext } from './secret-context.js';

/**
 * Azure metadata names must be C# identifiers, which S3 names such as
 * `x-amz-meta-content-hash` are not, so an object's S3 attributes travel in
 * one metadata entry as base64url JSON.
 */
const ATTRIBUTES_METADATA = 'opsbox';

interface StoredAttributes {
  etag: string;
  metadata: Record<string, string>;
  checksum?: ObjectInfo['checksum'];
}

/** A bucket stored in an Azure Blob container (and optional prefix). */
export class AzureBackend implements Backend {
  constructor(
    readonly container: ContainerClient,
    private readonly prefix: string,
  ) {}

  static fromConfig(context: Context, record: BucketRecord): AzureBackend {
    const config = record.config as AzureBackendConfig;
    const accountKey = SecretBox.open(context.dataDir)
      .decrypt(config.sealedAccountKey, secretContext(record.name))
      .toString('utf8');
    return new AzureBackend(createContainerClient({ ...config, accountKey }), config.prefix ?? '');
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const properties = await this.container.getBlobClient(this.prefix + key).getProperties();
      return toInfo(key, {
        contentLength: properties.contentLength,
        etag: properties.etag,
        lastModified: properties.lastModified,
        metadata: properties.metadata,
        contentMD5: properties.contentMD5,
        contentType: properties.contentType,
        cacheControl: properties.cacheControl,
        contentDisposition: properties.contentDisposition,
        contentEncoding: properties.contentEncoding,
        contentLanguage: properties.contentLanguage,
      });
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw azureError(error, key);
    }
  }

  async open(
    key: string,
    prepare?: (info: ObjectInfo) => ByteRange | undefined,
  ): Promise<ObjectStream | undefined> {
    const info = await this.head(key);
    if (!info) return undefined;
    const range = prepare?.(info);
    try {
      const offset = range?.start ?? 0;
      const count = range ? range.end - range.start + 1 : undefined;
      const response = await this.container
        .getBlobClient(this.prefix + key)
        .download(offset, count);
      return { info, body: response.readableStreamBody as Readable, range };
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw azureError(error, key);
    }
  }

  async commit(key: string, staged: StagedObject, condition?: WriteCondition): Promise<ObjectInfo> {
    // NOTE: S3 conditions name S3 ETags, which Azure does not know, so they
    // are checked with a read before the upload rather than atomically.
    if (condition) checkWriteCondition(await this.head(key), condition, key);
    const attributes: StoredAttributes = {
      etag: staged.etag,
      metadata: staged.metadata,
      checksum: staged.checksum,
    };
    try {
      await this.container.getBlockBlobClient(this.prefix + key).uploadFile(staged.file, {
        blockSize: 8 * 1024 * 1024,
        concurrency: 4,
        blobHTTPHeaders: {
          blobContentType: staged.headers.contentType,
          blobCacheControl: staged.headers.cacheControl,
          blobContentDisposition: staged.headers.contentDisposition,
          blobContentEncoding: staged.headers.contentEncoding,
          blobContentLanguage: staged.headers.contentLanguage,
          blobContentMD5: Buffer.from(staged.md5, 'hex'),
        },
        metadata: {
          [ATTRIBUTES_METADATA]: Buffer.from(JSON.stringify(attributes)).toString('base64url'),
        },
      });
    } catch (error) {
      throw azureError(error, key);
    }
    const info = await this.head(key);
    if (!info)
      throw new UserError(
        'unavailable',
        `Azure accepted "${key}" but does not return it; check the container.`,
      );
    return info;
  }

  async remove(key: string): Promise<boolean> {
    try {
      const response = await this.container.getBlobClient(this.prefix + key).deleteIfExists();
      return response.succeeded;
    } catch (error) {
      throw azureError(error, key);
    }
  }

  /**
   * Azure lists in key order from an opaque marker, with no "start after".
   * `startFrom` jumps close on services that support it; keys up to `after`
   * are skipped here, which also covers services that ignore it.
   */
  async list(prefix: string, after: string, limit: number): Promise<ObjectInfo[]> {
    const results: ObjectInfo[] = [];
    const fullAfter = after ? this.prefix + after : '';
    try {
      const pages = this.container
        .listBlobsFlat({
          prefix: this.prefix + prefix,
          includeMetadata: true,
          startFrom: fullAfter || undefined,
        })
        .byPage({ maxPageSize: Math.min(Math.max(limit, 1), 5000) });
      for await (const page of pages) {
        for (const item of page.segment.blobItems) {
          if (fullAfter && Buffer.compare(Buffer.from(item.name), Buffer.from(fullAfter)) <= 0)
            continue;
          results.push(itemToInfo(item, this.prefix));
          if (results.length >= limit) return results;
        }
      }
    } catch (error) {
      throw azureError(error, prefix);
    }
    return results;
  }

  async destroy(): Promise<void> {
    for (;;) {
      const page = await this.list('', '', 1000);
      for (const object of page) await this.remove(object.key);
      if (page.length === 0) return;
    }
  }
}

export interface AzureClientSettings {
  endpoint: string;
  accountName: string;
  accountKey: string;
  container: string;
}

export function createContainerClient(settings: AzureClientSettings): ContainerClient {
  const credential = new StorageSharedKeyCredential(settings.accountName, settings.accountKey);
  return new BlobServiceClient(settings.endpoint, credential).getContainerClient(
    settings.container,
  );
}

interface BlobProperties {
  contentLength?: number;
  etag?: string;
  lastModified?: Date;
  metadata?: Record<string, string>;
  contentMD5?: Uint8Array;
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
}

function toInfo(key: string, properties: BlobProperties): ObjectInfo {
  const attributes = readAttributes(properties.metadata);
  const md5 = properties.contentMD5 ? Buffer.from(properties.contentMD5).toString('hex') : '';
  return {
    key,
    size: properties.contentLength ?? 0,
    etag: attributes?.etag ?? (md5 || (properties.etag ?? '').replace(/"/g, '')),
    md5,
    lastModified: properties.lastModified ?? new Date(0),
    headers: {
      contentType: properties.contentType,
      cacheControl: properties.cacheControl,
      contentDisposition: properties.contentDisposition,
      contentEncoding: properties.contentEncoding,
      contentLanguage: properties.contentLanguage,
    },
    metadata: attributes?.metadata ?? {},
    checksum: attributes?.checksum,
  };
}

function itemToInfo(item: BlobItem, prefix: string): ObjectInfo {
  return toInfo(item.name.slice(prefix.length), {
    contentLength: item.properties.contentLength,
    etag: item.properties.etag,
    lastModified: item.properties.lastModified,
    metadata: item.metadata,
    contentMD5: item.properties.contentMD5,
    contentType: item.properties.contentType,
    cacheControl: item.properties.cacheControl,
    contentDisposition: item.properties.contentDisposition,
    contentEncoding: item.properties.contentEncoding,
    contentLanguage: item.properties.contentLanguage,
  });
}

function readAttributes(
  metadata: Record<string, string> | undefined,
): StoredAttributes | undefined {
  const raw = metadata?.[ATTRIBUTES_METADATA];
  if (!raw) return undefined;
  try {
    return JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as StoredAttributes;
  } catch {
    return undefined;
  }
}

function azureError(error: unknown, key: string): UserError {
  if (error instanceof UserError) return error;
  const status = error instanceof RestError ? error.statusCode : undefined;
  const code = error instanceof RestError ? (error.code ?? 'RestError') : 'Error';
  let kind: 'permission' | 'not_found' | 'unavailable' = 'unavailable';
  if (status === 403) kind = 'permission';
  if (status === 404) kind = 'not_found';
  return new UserError(
    kind,
    `Azure Blob failed on "${key}": ${code}${status ? ` (HTTP ${status})` : ''}. Check the account, key, endpoint and container of the bucket.`,
    { code, cause: error },
  );
}
