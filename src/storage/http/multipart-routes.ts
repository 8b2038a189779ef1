import {
  CHECKSUM_ALGORITHMS,
  checksumHeader,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
} from '../checksums.js';
import { s3Error } from '../errors.js';
import type { MultipartService } from '../multipart.js';
import { copySource, writeResultHeaders } from './object-routes.js';
import {
  bodySource,
  header,
  metadataFrom,
  objectHeadersFrom,
  readConditionsFrom,
  readSmallBody,
  writeConditionFrom,
  type S3Request,
} from './request.js';
import { OWNER, isoDate, quoteEtag, sendEmpty, sendXml, urlEncodeKey } from './responses.js';
import { parseXml, xmlDocument } from './xml.js';

export async function createUpload(
  multipart: MultipartService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  const algorithm = parseChecksumAlgorithm(header(request, 'x-amz-checksum-algorithm'));
  const typeHeader = header(request, 'x-amz-checksum-type')?.toUpperCase();
  if (typeHeader !== undefined && typeHeader !== 'FULL_OBJECT' && typeHeader !== 'COMPOSITE') {
    throw s3Error(
      'InvalidRequest',
      `Invalid x-amz-checksum-type "${typeHeader}": use FULL_OBJECT or COMPOSITE.`,
    );
  }
  // S3's default type: FULL_OBJECT for CRC64NVME (its only type), COMPOSITE otherwise.
  let checksumType: 'FULL_OBJECT' | 'COMPOSITE' | undefined;
  if (algorithm)
    checksumType =
      (typeHeader as 'FULL_OBJECT' | 'COMPOSITE' | undefined) ??
      (algorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE');
  const upload = await multipart.create(bucket, key, {
    headers: objectHeadersFrom(request),
    metadata: metadataFrom(request),
    checksumAlgorithm: algorithm,
    checksumType,
  });
  const headers: Record<string, string> = {};
  if (algorithm) {
    headers['x-amz-checksum-algorithm'] = algorithm;
    headers['x-amz-checksum-type'] = checksumType!;
  }
  sendXml(
    request,
    200,
    xmlDocument('InitiateMultipartUploadResult', {
      Bucket: bucket,
      Key: key,
      UploadId: upload.uploadId,
    }),
    headers,
  );
}

function partNumberOf(request: S3Request): number {
  const text = request.params.get('partNumber') ?? '';
  if (!/^\d+$/.test(text))
    throw s3Error(
      'InvalidArgument',
      `Invalid partNumber "${text}": use an integer from 1 to 10000.`,
    );
  return Number(text);
}

export async function uploadPart(
  multipart: MultipartService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  const uploadId = request.params.get('uploadId')!;
  const partNumber = partNumberOf(request);
  multipart.get(bucket, key, uploadId);
  const { stream, expect, algorithm } = bodySource(request);
  const part = await multipart.uploadPart(
    bucket,
    key,
    uploadId,
    partNumber,
    stream,
    expect,
    algorithm,
  );
  const headers: Record<string, string> = { etag: quoteEtag(part.etag) };
  if (part.checksum && part.checksumAlgorithm)
    headers[checksumHeader(part.checksumAlgorithm)] = part.checksum;
  sendEmpty(request, 200, headers);
}

export async function uploadPartCopy(
  multipart: MultipartService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  const source = copySource(request);
  const part = await multipart.uploadPartCopy(
    bucket,
    key,
    request.params.get('uploadId')!,
    partNumberOf(request),
    {
      ...source,
      range: header(request, 'x-amz-copy-source-range'),
      conditions: readConditionsFrom(request, 'x-amz-copy-source-'),
    },
  );
  sendXml(
    request,
    200,
    xmlDocument('CopyPartResult', {
      LastModified: isoDate(part.lastModified),
      ETag: quoteEtag(part.etag),
    }),
  );
}

export async function completeUpload(
  multipart: MultipartService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  const uploadId = request.params.get('uploadId')!;
  multipart.get(bucket, key, uploadId);
  const body = parseXml(await readSmallBody(request), 'CompleteMultipartUpload');
  const parts = ((body.Part ?? []) as Array<Record<string, unknown>>).map((part) => {
    const number = String(part.PartNumber ?? '').trim();
    if (!/^\d+$/.test(number) || part.ETag === undefined)
      throw s3Error('MalformedXML', 'Each <Part> needs a <PartNumber> and an <ETag>.');
    const checksums: Partial<Record<ChecksumAlgorithm, string>> = {};
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = part[`Checksum${algorithm}`];
      if (value !== undefined) checksums[algorithm] = String(value).trim();
    }
    return { partNumber: Number(number), etag: String(part.ETag), checksums };
  });
  const info = await multipart.complete(bucket, key, uploadId, parts, writeConditionFrom(request));
  const result: Record<string, unknown> = {
    Location: `/${bucket}/${encodeURI(key)}`,
    Bucket: bucket,
    Key: key,
    ETag: quoteEtag(info.etag),
  };
  if (info.checksum) {
    result[`Checksum${info.checksum.algorithm}`] = info.checksum.value;
    result.ChecksumType = info.checksum.type;
  }
  sendXml(
    request,
    200,
    xmlDocument('CompleteMultipartUploadResult', result),
    writeResultHeaders(info),
  );
}

export async function abortUpload(
  multipart: MultipartService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  await multipart.abort(bucket, key, request.params.get('uploadId')!);
  sendEmpty(request, 204);
}

function boundedNumber(request: S3Request, name: string, fallback: number): number {
  const text = request.params.get(name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text))
    throw s3Error('InvalidArgument', `Invalid ${name} "${text}": use a non-negative integer.`);
  return Number(text);
}

export async function listParts(
  multipart: MultipartService,
  request: S3Request,
  bucket: string,
  key: string,
): Promise<void> {
  const uploadId = request.params.get('uploadId')!;
  const marker = boundedNumber(request, 'part-number-marker', 0);
  const maxParts = boundedNumber(request, 'max-parts', 1000);
  const { upload, parts, isTruncated } = multipart.listParts(bucket, key, uploadId, {
    maxParts,
    partNumberMarker: marker,
  });
  const algorithm = upload.attributes.checksumAlgorithm;
  sendXml(
    request,
    200,
    xmlDocument('ListPartsResult', {
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumberMarker: marker,
      ...(parts.length > 0 ? { NextPartNumberMarker: parts[parts.length - 1]!.partNumber } : {}),
      MaxParts: maxParts,
      IsTruncated: isTruncated,
      ...(algorithm
        ? { ChecksumAlgorithm: algorithm, ChecksumType: upload.attributes.checksumType }
        : {}),
      Initiator: OWNER,
      Owner: OWNER,
      StorageClass: 'STANDARD',
      Part: parts.map((part) => ({
        PartNumber: part.partNumber,
        LastModified: isoDate(part.lastModified),
        ETag: quoteEtag(part.etag),
        Size: part.size,
        ...(part.checksum && part.checksumAlgorithm
          ? { [`Checksum${part.checksumAlgorithm}`]: part.checksum }
          : {}),
      })),
    }),
  );
}

export async function listUploads(
  multipart: MultipartService,
  request: S3Request,
  bucket: string,
): Promise<void> {
  const encode =
    request.params.get('encoding-type') === 'url' ? urlEncodeKey : (value: string) => value;
  const prefix = request.params.get('prefix') ?? '';
  const keyMarker = request.params.get('key-marker') ?? '';
  const uploadIdMarker = request.params.get('upload-id-marker') ?? '';
  const maxUploads = Math.min(boundedNumber(request, 'max-uploads', 1000), 1000);
  const { uploads, isTruncated } = multipart.listUploads(bucket, {
    prefix,
    keyMarker,
    uploadIdMarker,
    maxUploads,
  });
  const last = uploads[uploads.length - 1];
  sendXml(
    request,
    200,
    xmlDocument('ListMultipartUploadsResult', {
      Bucket: bucket,
      KeyMarker: encode(keyMarker),
      UploadIdMarker: uploadIdMarker,
      ...(isTruncated && last
        ? { NextKeyMarker: encode(last.key), NextUploadIdMarker: last.uploadId }
        : {}),
      Prefix: encode(prefix),
      MaxUploads: maxUploads,
      IsTruncated: isTruncated,
      Upload: uploads.map((upload) => ({
        Key: encode(upload.key),
        UploadId: upload.uploadId,
        Initiator: OWNER,
        Owner: OWNER,
        StorageClass: 'STANDARD',
        Initiated: isoDate(upload.initiated),
        ...(upload.attributes.checksumAlgorithm
          ? { ChecksumAlgorithm: upload.attributes.checksumAlgorithm }
          : {}),
      })),
    }),
  );
}
