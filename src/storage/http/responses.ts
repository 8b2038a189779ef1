import type { OutgoingHttpHeaders } from 'node:http';

import { checksumHeader } from '../checksums.js';
import { OBJECT_HEADER_NAMES, type ObjectHeaders, type ObjectInfo } from '../types.js';
import type { S3Request } from './request.js';

/** The region the endpoint reports; any region in a request's signature is accepted. */
export const REGION = 'us-east-1';
export const OWNER = { ID: 'opsbox', DisplayName: 'opsbox' };

export function sendXml(
  request: S3Request,
  status: number,
  xml: string,
  headers: OutgoingHttpHeaders = {},
): void {
  const body = Buffer.from(xml, 'utf8');
  request.res.writeHead(status, {
    ...headers,
    'content-type': 'application/xml',
    'content-length': body.length,
    'x-amz-request-id': request.id,
  });
  request.res.end(request.method === 'HEAD' ? undefined : body);
}

export function sendEmpty(
  request: S3Request,
  status: number,
  headers: OutgoingHttpHeaders = {},
): void {
  request.res.writeHead(status, {
    ...headers,
    'content-length': 0,
    'x-amz-request-id': request.id,
  });
  request.res.end();
}

export function quoteEtag(etag: string): string {
  return `"${etag}"`;
}

/** S3's timestamp form in XML: ISO 8601 with milliseconds. */
export function isoDate(date: Date): string {
  return date.toISOString();
}

/**
 * Response headers of GET and HEAD: the stored standard headers (overridden
 * by `response-content-type` and friends in the query, as presigned
 * downloads use), user metadata, ETag and Last-Modified.
 */
export function objectHeaders(
  request: S3Request,
  info: ObjectInfo,
  options: { checksum: boolean },
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    etag: quoteEtag(info.etag),
    'last-modified': info.lastModified.toUTCString(),
    'accept-ranges': 'bytes',
    'content-type': info.headers.contentType ?? 'binary/octet-stream',
  };
  for (const [field, name] of Object.entries(OBJECT_HEADER_NAMES) as Array<
    [keyof ObjectHeaders, string]
  >) {
    const value = request.params.get(`response-${name}`) ?? info.headers[field];
    if (value) headers[name] = value;
  }
  for (const [name, value] of Object.entries(info.metadata)) headers[`x-amz-meta-${name}`] = value;
  if (options.checksum && info.checksum) {
    headers[checksumHeader(info.checksum.algorithm)] = info.checksum.value;
    headers['x-amz-checksum-type'] = info.checksum.type;
  }
  const parts = /-(\d+)$/.exec(info.etag);
  if (parts) headers['x-amz-mp-parts-count'] = parts[1];
  return headers;
}

/**
 * Encodes a key for `encoding-type=url` as S3 does: form encoding, so a
 * space is `+` and `+` is `%2B`, with `/` left as it is.
 */
export function urlEncodeKey(key: string): string {
  return encodeURIComponent(key)
    .replace(/%20/g, '+')
    .replace(/%2F/g, '/')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
