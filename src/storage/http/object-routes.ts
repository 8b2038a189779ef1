import { pipeline } from 'node:stream/promises';

import { keyAllows } from '../access-keys.js';
import { checksumHeader, type ChecksumAlgorithm } from '../checksums.js';
import { s3Error } from '../errors.js';
import type { StorageService } from '../service.js';
import type { ObjectInfo } from '../types.js';
import {
  bodySource,
  header,
  metadataFrom,
  objectHeadersFrom,
  readConditionsFrom,
  writeConditionFrom,
  type S3Request,
} from './request.js';
import { isoDate, objectHeaders, quoteEtag, sendEmpty, sendXml } from './responses.js';
import { xmlDocument } from './xml.js';

export function writeResultHeaders(info: ObjectInfo): Record<string, string> {
  const headers: Record<string, string> = { etag: quoteEtag(info.etag) };
  if (info.checksum) {
    headers[checksumHeader(info.checksum.algorithm)] = info.checksum.value;
    headers['x-amz-checksum-type'] = info.checksum.type;
  }
  return headers;
}

export async function putObject(
  storage: StorageService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  await storage.backend(bucket);
  const { stream, expect, algorithm } = bodySource(request);
  const info = await storage.putObject(bucket, key, stream, {
    headers: objectHeadersFrom(request),
    metadata: metadataFrom(request),
    checksumAlgorithm: algorithm,
    expect,
    condition: writeConditionFrom(request),
  });
  sendEmpty(request, 200, writeResultHeaders(info));
}

export async function getObject(
  storage: StorageService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  const { info, body, range } = await storage.getObject(bucket, key, {
    range: header(request, 'range'),
    conditions: readConditionsFrom(request),
  });
  const wantsChecksum = (header(request, 'x-amz-checksum-mode') ?? '').toUpperCase() === 'ENABLED';
  const headers = objectHeaders(request, info, { checksum: wantsChecksum && !range });
  if (range) {
    headers['content-range'] = `bytes ${range.start}-${range.end}/${info.size}`;
    headers['content-length'] = range.end - range.start + 1;
  } else {
    headers['content-length'] = info.size;
  }
  headers['x-amz-request-id'] = request.id;
  request.res.writeHead(range ? 206 : 200, headers);
  // A client that goes away mid-download ends the pipeline with an error;
  // the response is already sent, so there is nothing left to report.
  await pipeline(body, request.res).catch(() => body.destroy());
}

export async function headObject(
  storage: StorageService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  const info = await storage.headObject(bucket, key, readConditionsFrom(request));
  const wantsChecksum = (header(request, 'x-amz-checksum-mode') ?? '').toUpperCase() === 'ENABLED';
  const headers = objectHeaders(request, info, { checksum: wantsChecksum });
  headers['content-length'] = info.size;
  headers['x-amz-request-id'] = request.id;
  request.res.writeHead(200, headers);
  request.res.end();
}

export async function deleteObject(
  storage: StorageService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  await storage.deleteObject(bucket, key);
  sendEmpty(request, 204);
}

/** Parses `x-amz-copy-source` ("/bucket/key" or "bucket/key", URL-encoded) and checks read access. */
export function copySource(request: S3Request): { bucket: string; key: string } {
  const raw = header(request, 'x-amz-copy-source') ?? '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw.split('?')[0]!);
  } catch {
    throw s3Error(
      'InvalidArgument',
      `Invalid x-amz-copy-source "${raw}": URL-encode the bucket and key.`,
    );
  }
  const trimmed = decoded.startsWith('/') ? decoded.slice(1) : decoded;
  const slash = trimmed.indexOf('/');
  if (slash <= 0 || slash === trimmed.length - 1)
    throw s3Error('InvalidArgument', `Invalid x-amz-copy-source "${raw}": use "BUCKET/KEY".`);
  const source = { bucket: trimmed.slice(0, slash), key: trimmed.slice(slash + 1) };
  if (!keyAllows(request.auth!.key, source.bucket, false)) {
    throw s3Error(
      'AccessDenied',
      `The access key may not read the copy source bucket "${source.bucket}".`,
    );
  }
  return source;
}

export async function copyObject(
  storage: StorageService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  const source = copySource(request);
  const directive = (header(request, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE')
    throw s3Error(
      'InvalidArgument',
      `Invalid x-amz-metadata-directive "${directive}": use COPY or REPLACE.`,
    );
  if (source.bucket === bucket && source.key === key && directive === 'COPY') {
    throw s3Error(
      'InvalidRequest',
      'This copy request is illegal because it is trying to copy an object to itself without changing the metadata: send x-amz-metadata-directive: REPLACE.',
    );
  }
  const algorithm = header(request, 'x-amz-checksum-algorithm')?.toUpperCase() as
    ChecksumAlgorithm | undefined;
  const info = await storage.copyObject(source.bucket, source.key, bucket, key, {
    metadataDirective: directive,
    headers: objectHeadersFrom(request),
    metadata: metadataFrom(request),
    sourceConditions: readConditionsFrom(request, 'x-amz-copy-source-'),
    condition: writeConditionFrom(request),
    checksumAlgorithm: algorithm,
  });
  const result: Record<string, unknown> = {
    LastModified: isoDate(info.lastModified),
    ETag: quoteEtag(info.etag),
  };
  if (info.checksum) result[`Checksum${info.checksum.algorithm}`] = info.checksum.value;
  sendXml(request, 200, xmlDocument('CopyObjectResult', result));
}
