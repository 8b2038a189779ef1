import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Duplex, type Readable } from 'node:stream';

import {
  BodyHasher,
  CHECKSUM_ALGORITHMS,
  checksumHeader,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
} from '../checksums.js';
import { s3Error } from '../errors.js';
import { verifyDigest, type BodyExpectations } from '../staging.js';
import {
  OBJECT_HEADER_NAMES,
  type ObjectHeaders,
  type ReadConditions,
  type WriteCondition,
} from '../types.js';
import { AwsChunkedDecoder } from './chunked.js';
import type { Authorization } from './sigv4.js';

/** One S3 request after routing: which bucket and key it names, and its parsed query. */
export interface S3Request {
  req: IncomingMessage;
  res: ServerResponse;
  id: string;
  method: string;
  rawPath: string;
  bucket?: string;
  key?: string;
  query: Array<[string, string]>;
  params: Map<string, string>;
  auth?: Authorization;
}

/**
 * Splits a request into bucket, key and query. Virtual-host style
 * (`BUCKET.localhost`) takes the bucket from the Host header when the host
 * ends with one of `virtualHostSuffixes`. Otherwise the first path segment is
 * the bucket (path style). The key is the rest of the path, percent-decoded
 * once, with `/`, `//` and `..` kept as they are.
 */
export function parseRequest(
  req: IncomingMessage,
  res: ServerResponse,
  virtualHostSuffixes: string[],
): S3Request {
  const url = req.url ?? '/';
  const questionMark = url.indexOf('?');
  const rawPath = questionMark < 0 ? url : url.slice(0, questionMark);
  const query = parseQuery(questionMark < 0 ? '' : url.slice(questionMark + 1));
  const request: S3Request = {
    req,
    res,
    id: randomBytes(8).toString('hex').toUpperCase(),
    method: req.method ?? 'GET',
    rawPath,
    query,
    params: new Map([...query].reverse()),
  };

  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  const suffix = virtualHostSuffixes.find((candidate) => host.endsWith('.' + candidate));
  const path = decodePath(rawPath);
  if (suffix) {
    request.bucket = host.slice(0, -(suffix.length + 1));
    if (path.length > 1) request.key = path.slice(1);
  } else {
    const slash = path.indexOf('/', 1);
    const bucket = slash < 0 ? path.slice(1) : path.slice(1, slash);
    if (bucket) request.bucket = bucket;
    if (slash >= 0 && slash < path.length - 1) request.key = path.slice(slash + 1);
  }
  return request;
}

function decodePath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    throw s3Error(
      'InvalidURI',
      `Could not parse the request URI "${rawPath.slice(0, 200)}": it is not valid percent-encoded UTF-8.`,
    );
  }
}

/** Parses a query string into decoded pairs; `+` is a space, as in HTML forms and S3. */
export function parseQuery(text: string): Array<[string, string]> {
  if (!text) return [];
  return text
    .split('&')
    .filter((part) => part.length > 0)
    .map((part) => {
      const equals = part.indexOf('=');
      const name = equals < 0 ? part : part.slice(0, equals);
      const value = equals < 0 ? '' : part.slice(equals + 1);
      try {
        return [
          decodeURIComponent(name.replace(/\+/g, ' ')),
          decodeURIComponent(value.replace(/\+/g, ' ')),
        ] as [string, string];
      } catch {
        throw s3Error('InvalidURI', `Could not parse the query parameter "${part.slice(0, 100)}".`);
      }
    });
}

export function header(request: S3Request, name: string): string | undefined {
  const value = request.req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function objectHeadersFrom(request: S3Request): ObjectHeaders {
  const headers: ObjectHeaders = {};
  for (const [field, name] of Object.entries(OBJECT_HEADER_NAMES) as Array<
    [keyof ObjectHeaders, string]
  >) {
    let value = header(request, name);
    // aws-chunked is how the body travelled, not how the object is encoded.
    if (name === 'content-encoding' && value)
      value = value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== 'aws-chunked')
        .join(', ');
    if (value) headers[field] = value;
  }
  return headers;
}

export function metadataFrom(request: S3Request): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.req.headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined)
      metadata[name.slice('x-amz-meta-'.length)] = Array.isArray(value) ? value.join(',') : value;
  }
  return metadata;
}

export function readConditionsFrom(request: S3Request, prefix = ''): ReadConditions {
  return {
    ifMatch: header(request, `${prefix}if-match`),
    ifNoneMatch: header(request, `${prefix}if-none-match`),
    ifModifiedSince: parseHttpDate(header(request, `${prefix}if-modified-since`)),
    ifUnmodifiedSince: parseHttpDate(header(request, `${prefix}if-unmodified-since`)),
  };
}

export function writeConditionFrom(request: S3Request): WriteCondition | undefined {
  const ifMatch = header(request, 'if-match');
  const ifNoneMatch = header(request, 'if-none-match');
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  return { ifMatch, ifNoneMatch };
}

function parseHttpDate(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export interface BodySource {
  stream: Readable;
  expect: BodyExpectations;
  /** The checksum algorithm the client used, from its checksum header, trailer or x-amz-sdk-checksum-algorithm. */
  algorithm?: ChecksumAlgorithm;
}

/**
 * Prepares the request body for reading: decodes aws-chunked framing
 * (checking chunk signatures when the payload is signed) and collects what
 * the body must match: length, Content-MD5, signed SHA-256 and checksums
 * from headers or from the trailer.
 */
export function bodySource(request: S3Request): BodySource {
  startBody(request);
  const payload = request.auth?.payload ?? { kind: 'unsigned' };
  const chunked =
    payload.kind === 'chunked' ||
    (header(request, 'content-encoding') ?? '').includes('aws-chunked');
  const expect: BodyExpectations = { contentMd5: header(request, 'content-md5') };
  if (payload.kind === 'sha256') expect.sha256Hex = payload.sha256Hex;

  const sizeHeader = chunked
    ? header(request, 'x-amz-decoded-content-length')
    : header(request, 'content-length');
  if (sizeHeader !== undefined) {
    if (!/^\d+$/.test(sizeHeader))
      throw s3Error(
        'InvalidArgument',
        `Invalid ${chunked ? 'x-amz-decoded-content-length' : 'Content-Length'} "${sizeHeader}".`,
      );
    expect.size = Number(sizeHeader);
  }

  const headerChecksums: Partial<Record<ChecksumAlgorithm, string>> = {};
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const value = header(request, checksumHeader(algorithm));
    if (value !== undefined) headerChecksums[algorithm] = value;
  }
  const trailerName = header(request, 'x-amz-trailer')?.trim().toLowerCase();
  const trailerAlgorithm = trailerName?.startsWith('x-amz-checksum-')
    ? parseChecksumAlgorithm(trailerName.slice('x-amz-checksum-'.length))
    : undefined;
  const algorithm =
    parseChecksumAlgorithm(header(request, 'x-amz-sdk-checksum-algorithm')) ??
    trailerAlgorithm ??
    (Object.keys(headerChecksums)[0] as ChecksumAlgorithm | undefined);

  if (!chunked) {
    expect.checksums = () => headerChecksums;
    return {
      stream: pipeBody(request, new PassThrough({ highWaterMark: 1024 * 1024 })),
      expect,
      algorithm,
    };
  }
  const decoder =
    payload.kind === 'chunked'
      ? new AwsChunkedDecoder(
          payload.signer,
          payload.seedSignature,
          payload.signer !== undefined && payload.trailer,
        )
      : new AwsChunkedDecoder();
  const stream = pipeBody(request, decoder);
  expect.checksums = () => {
    const expected = { ...headerChecksums };
    if (trailerAlgorithm) {
      const value = decoder.trailers.get(checksumHeader(trailerAlgorithm));
      if (value === undefined)
        throw s3Error(
          'InvalidRequest',
          `The request announced the trailer ${trailerName} but did not send it.`,
        );
      expected[trailerAlgorithm] = value;
    }
    return expected;
  };
  return { stream, expect, algorithm };
}

/**
 * Pipes the request body into `target`. Not stream.pipeline: a failure
 * further down (a bad chunk signature, a full disk) would destroy the
 * request, and with it the socket the S3 error response must go out on. The
 * rest of the body is drained instead.
 */
function pipeBody<T extends Duplex>(request: S3Request, target: T): T {
  request.req.on('error', (error) => target.destroy(error));
  target.on('error', () => {
    request.req.unpipe(target);
    request.req.resume();
  });
  return request.req.pipe(target);
}

/** Sends `100 Continue` when the client expects it, once the request is known to be allowed. */
export function startBody(request: S3Request): void {
  if ((header(request, 'expect') ?? '').toLowerCase() === '100-continue')
    request.res.writeContinue();
}

/** Reads a small body (an XML document) in full, up to `limit` bytes. */
export async function readSmallBody(request: S3Request, limit = 4 * 1024 * 1024): Promise<string> {
  const { stream, expect } = bodySource(request);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit)
      throw s3Error(
        'EntityTooLarge',
        `The request body is over ${limit} bytes; this operation takes a small XML document.`,
      );
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const hasher = new BodyHasher(Object.keys(expect.checksums?.() ?? {}) as ChecksumAlgorithm[], {
    sha256: expect.sha256Hex !== undefined,
  });
  hasher.update(body);
  verifyDigest(await hasher.digest(), expect);
  return body.toString('utf8');
}
