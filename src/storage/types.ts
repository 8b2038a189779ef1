import type { Readable } from 'node:stream';

import type { ObjectChecksum } from './checksums.js';

/** Standard HTTP headers stored with an object and returned on GET and HEAD. */
export interface ObjectHeaders {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  expires?: string;
}

export const OBJECT_HEADER_NAMES: Record<keyof ObjectHeaders, string> = {
  contentType: 'content-type',
  cacheControl: 'cache-control',
  contentDisposition: 'content-disposition',
  contentEncoding: 'content-encoding',
  contentLanguage: 'content-language',
  expires: 'expires',
};

export interface ObjectInfo {
  key: string;
  size: number;
  /** The ETag without quotes: the MD5 in hex, or `<md5 of part MD5s>-N` after a multipart upload. */
  etag: string;
  /** Hex MD5 of the whole content, or '' when the backend does not know it. */
  md5: string;
  lastModified: Date;
  headers: ObjectHeaders;
  /** User metadata (`x-amz-meta-*`), names in lower case without the prefix. */
  metadata: Record<string, string>;
  checksum?: ObjectChecksum;
}

/** A body written to a temp file, hashed and verified, ready to become an object. */
export interface StagedObject {
  file: string;
  size: number;
  md5: string;
  etag: string;
  headers: ObjectHeaders;
  metadata: Record<string, string>;
  checksum?: ObjectChecksum;
}

/** Conditions of a conditional write: `If-Match: "etag"` or `If-None-Match: *`. */
export interface WriteCondition {
  ifMatch?: string;
  ifNoneMatch?: string;
}

/** Conditions of a conditional read (RFC 9110 section 13). */
export interface ReadConditions {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: Date;
  ifUnmodifiedSince?: Date;
}

/** An inclusive byte range, as in `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectStream {
  info: ObjectInfo;
  body: Readable;
  range?: ByteRange;
}

/**
 * Storage of a bucket's objects: local disk, an S3-compatible service or
 * Azure Blob. Writes arrive staged in a local temp file that was already
 * verified, so a bad checksum never reaches any backend.
 */
export interface Backend {
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Opens an object for reading. `prepare` receives the object's info before
   * any byte is read. It may throw (a failed precondition) or return the
   * range to read.
   */
  open(
    key: string,
    prepare?: (info: ObjectInfo) => ByteRange | undefined,
  ): Promise<ObjectStream | undefined>;
  /** Makes the staged file the object's content; consumes the temp file. */
  commit(key: string, staged: StagedObject, condition?: WriteCondition): Promise<ObjectInfo>;
  remove(key: string): Promise<boolean>;
  /** Objects whose key starts with `prefix` and sorts after `after`, in UTF-8 byte order. */
  list(prefix: string, after: string, limit: number): Promise<ObjectInfo[]>;
  /** Deletes every object and the backend's own state for the bucket. */
  destroy(): Promise<void>;
}
