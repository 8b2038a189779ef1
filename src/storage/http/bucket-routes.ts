import { keyAllows } from '../access-keys.js';
import { s3Error } from '../errors.js';
import { decodeToken, encodeToken } from '../listing.js';
import type { StorageService } from '../service.js';
import type { ObjectInfo } from '../types.js';
import { readSmallBody, type S3Request } from './request.js';
import {
  OWNER,
  REGION,
  isoDate,
  quoteEtag,
  sendEmpty,
  sendXml,
  urlEncodeKey,
} from './responses.js';
import { parseXml, xmlDocument } from './xml.js';

const MAX_KEYS = 1000;

export async function listBuckets(storage: StorageService, request: S3Request): Promise<void> {
  const key = request.auth!.key;
  const buckets = storage.buckets.list().filter((bucket) => keyAllows(key, bucket.name, false));
  sendXml(
    request,
    200,
    xmlDocument('ListAllMyBucketsResult', {
      Owner: OWNER,
      Buckets: {
        Bucket: buckets.map((bucket) => ({
          Name: bucket.name,
          CreationDate: isoDate(bucket.createdAt),
          BucketRegion: REGION,
        })),
      },
    }),
  );
}

export async function createBucket(
  storage: StorageService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  const body = await readSmallBody(request);
  // The body, when sent, names a region; any region is accepted, as on R2.
  if (body.trim() !== '') parseXml(body, 'CreateBucketConfiguration');
  storage.createBucket(bucket);
  sendEmpty(request, 200, { location: `/${bucket}` });
}

export async function headBucket(
  storage: StorageService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  storage.buckets.get(bucket);
  sendEmpty(request, 200, { 'x-amz-bucket-region': REGION });
}

export async function deleteBucket(
  storage: StorageService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  await storage.deleteBucket(bucket);
  sendEmpty(request, 204);
}

export async function getBucketLocation(
  storage: StorageService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  storage.buckets.get(bucket);
  // us-east-1 is reported as an empty LocationConstraint, as S3 does.
  sendXml(
    request,
    200,
    xmlDocument('LocationConstraint', { '#text': REGION === 'us-east-1' ? '' : REGION }),
  );
}

export async function getBucketVersioning(
  storage: StorageService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  storage.buckets.get(bucket);
  sendXml(request, 200, xmlDocument('VersioningConfiguration', {}));
}

function parseMaxKeys(request: S3Request, name = 'max-keys'): number {
  const text = request.params.get(name);
  if (text === undefined) return MAX_KEYS;
  if (!/^\d+$/.test(text))
    throw s3Error(
      'InvalidArgument',
      `Invalid ${name} "${text}": use an integer from 0 to ${MAX_KEYS}.`,
    );
  return Math.min(Number(text), MAX_KEYS);
}

function listParams(request: S3Request) {
  const encodingType = request.params.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url')
    throw s3Error(
      'InvalidArgument',
      `Invalid encoding-type "${encodingType}": the only value is "url".`,
    );
  const encode = encodingType === 'url' ? urlEncodeKey : (value: string) => value;
  const delimiter = request.params.get('delimiter') || undefined;
  return {
    prefix: request.params.get('prefix') ?? '',
    delimiter,
    maxKeys: parseMaxKeys(request),
    encode,
    encodingType,
  };
}

function contents(objects: ObjectInfo[], encode: (key: string) => string, owner: boolean) {
  return objects.map((object) => ({
    Key: encode(object.key),
    LastModified: isoDate(object.lastModified),
    ETag: quoteEtag(object.etag),
    ...(object.checksum
      ? { ChecksumAlgorithm: object.checksum.algorithm, ChecksumType: object.checksum.type }
      : {}),
    Size: object.size,
    ...(owner ? { Owner: OWNER } : {}),
    StorageClass: 'STANDARD',
  }));
}

/** ListObjectsV2: opaque continuation tokens, start-after, fetch-owner. */
export async function listObjectsV2(
  storage: StorageService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  const { prefix, delimiter, maxKeys, encode, encodingType } = listParams(request);
  const token = request.params.get('continuation-token');
  const startAfter = request.params.get('start-after') ?? '';
  let after = startAfter;
  if (token !== undefined) {
    const position = decodeToken(token);
    if (position === undefined)
      throw s3Error(
        'InvalidArgument',
        'The continuation token is not valid: pass the NextContinuationToken of the previous page.',
      );
    after = position;
  }
  const page = await storage.listObjects(bucket, { prefix, delimiter, maxKeys, after });
  const body: Record<string, unknown> = {
    Name: bucket,
    Prefix: encode(prefix),
    ...(delimiter ? { Delimiter: encode(delimiter) } : {}),
    MaxKeys: maxKeys,
    KeyCount: page.objects.length + page.commonPrefixes.length,
    IsTruncated: page.isTruncated,
    ...(encodingType ? { EncodingType: encodingType } : {}),
    ...(token !== undefined ? { ContinuationToken: token } : {}),
    ...(page.isTruncated && page.lastEntry !== undefined
      ? { NextContinuationToken: encodeToken(page.lastEntry) }
      : {}),
    ...(request.params.has('start-after') ? { StartAfter: encode(startAfter) } : {}),
    Contents: contents(page.objects, encode, request.params.get('fetch-owner') === 'true'),
    CommonPrefixes: page.commonPrefixes.map((entry) => ({ Prefix: encode(entry) })),
  };
  sendXml(request, 200, xmlDocument('ListBucketResult', body));
}

/** ListObjects (V1): marker and, with a delimiter, NextMarker. */
export async function listObjectsV1(
  storage: StorageService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  const { prefix, delimiter, maxKeys, encode, encodingType } = listParams(request);
  const marker = request.params.get('marker') ?? '';
  const page = await storage.listObjects(bucket, { prefix, delimiter, maxKeys, after: marker });
  const body: Record<string, unknown> = {
    Name: bucket,
    Prefix: encode(prefix),
    Marker: encode(marker),
    ...(delimiter ? { Delimiter: encode(delimiter) } : {}),
    MaxKeys: maxKeys,
    IsTruncated: page.isTruncated,
    ...(encodingType ? { EncodingType: encodingType } : {}),
    // Without a delimiter S3 sends no NextMarker: clients continue from the last key.
    ...(page.isTruncated && delimiter && page.lastEntry !== undefined
      ? { NextMarker: encode(page.lastEntry) }
      : {}),
    Contents: contents(page.objects, encode, true),
    CommonPrefixes: page.commonPrefixes.map((entry) => ({ Prefix: encode(entry) })),
  };
  sendXml(request, 200, xmlDocument('ListBucketResult', body));
}

/** DeleteObjects: up to 1,000 keys; each key succeeds or fails on its own. */
export async function deleteObjects(
  storage: StorageService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  await storage.backend(bucket);
  const body = parseXml(await readSmallBody(request), 'Delete');
  const objects = (body.Object ?? []) as Array<{ Key?: string }>;
  if (objects.length > 1000)
    throw s3Error(
      'MalformedXML',
      `The Delete request lists ${objects.length} keys; the limit is 1000.`,
    );
  const quiet = String(body.Quiet ?? '').trim() === 'true';
  const deleted: Array<{ Key: string }> = [];
  const errors: Array<{ Key: string; Code: string; Message: string }> = [];
  for (const object of objects) {
    const key = String(object.Key ?? '');
    try {
      await storage.deleteObject(bucket, key);
      if (!quiet) deleted.push({ Key: key });
    } catch (error: any) {
      errors.push({
        Key: key,
        Code: error?.code ?? 'InternalError',
        Message: error?.message ?? String(error),
      });
    }
  }
  sendXml(request, 200, xmlDocument('DeleteResult', { Deleted: deleted, Error: errors }));
}
