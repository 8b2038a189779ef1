import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import { errorCode, signedRequest, startFixture, type S3Fixture } from './helpers.js';

const MIB = 1024 * 1024;
let fixture: S3Fixture;
let passed = true;

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** Computes the multipart ETag as S3 and R2 do: MD5 of the binary part MD5s, then -N. */
function multipartEtag(parts: Buffer[]): string {
  const joined = Buffer.concat(parts.map((part) => createHash('md5').update(part).digest()));
  return `${md5(joined)}-${parts.length}`;
}

function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}

function pattern(size: number, seed: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096)
    data.fill((i / 4096 + seed) % 251, i, Math.min(size, i + 4096));
  return data;
}

async function expectS3Error(
  promise: Promise<unknown>,
  code: string,
  status: number,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof S3ServiceException, `expected an S3 error, got ${error}`);
    assert.equal(error.name, code);
    assert.equal(error.$metadata.httpStatusCode, status);
    return true;
  });
}

describe('multipart uploads', () => {
  before(async () => {
    fixture = await startFixture('s3-multipart');
    await fixture.client.send(new CreateBucketCommand({ Bucket: 'big' }));
  });
  after(async () => fixture.close(passed));

  it('uploads with lib-storage and returns the multipart ETag', async () => {
    const parts = [pattern(5 * MIB, 1), pattern(5 * MIB, 2), pattern(1 * MIB + 17, 3)];
    const body = Buffer.concat(parts);
    const upload = new Upload({
      client: fixture.client,
      params: {
        Bucket: 'big',
        Key: 'video.bin',
        Body: Readable.from([body]),
        ContentType: 'video/mp4',
      },
      partSize: 5 * MIB,
      queueSize: 2,
    });
    const result = await upload.done();
    assert.equal(result.ETag, `"${multipartEtag(parts)}"`);

    const head = await fixture.client.send(
      new HeadObjectCommand({ Bucket: 'big', Key: 'video.bin' }),
    );
    assert.equal(head.ContentLength, body.length);
    assert.equal(head.ContentType, 'video/mp4');
    assert.equal(head.ETag, `"${multipartEtag(parts)}"`);
    const get = await fixture.client.send(
      new GetObjectCommand({ Bucket: 'big', Key: 'video.bin' }),
    );
    const bytes = Buffer.from(await get.Body!.transformToByteArray());
    assert.equal(md5(bytes), md5(body));
  });

  it('runs the low-level flow with parts, listing and CRC32 checksums', async () => {
    const created = await fixture.client.send(
      new CreateMultipartUploadCommand({
        Bucket: 'big',
        Key: 'low/level',
        ChecksumAlgorithm: 'CRC32',
        Metadata: { origin: 'test' },
      }),
    );
    const uploadId = created.UploadId!;
    const one = pattern(5 * MIB, 7);
    const two = Buffer.from('the last part is small');
    const partTwo = await fixture.client.send(
      new UploadPartCommand({
        Bucket: 'big',
        Key: 'low/level',
        UploadId: uploadId,
        PartNumber: 2,
        Body: two,
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    const partOne = await fixture.client.send(
      new UploadPartCommand({
        Bucket: 'big',
        Key: 'low/level',
        UploadId: uploadId,
        PartNumber: 1,
        Body: one,
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    assert.equal(partOne.ETag, `"${md5(one)}"`);
    assert.equal(typeof partOne.ChecksumCRC32, 'string');

    const uploads = await fixture.client.send(
      new ListMultipartUploadsCommand({ Bucket: 'big', Prefix: 'low/' }),
    );
    assert.deepEqual(
      uploads.Uploads?.map((entry) => [entry.Key, entry.UploadId]),
      [['low/level', uploadId]],
    );
    const listed = await fixture.client.send(
      new ListPartsCommand({ Bucket: 'big', Key: 'low/level', UploadId: uploadId }),
    );
    assert.deepEqual(
      listed.Parts?.map((part) => [part.PartNumber, part.Size, part.ETag]),
      [
        [1, 5 * MIB, `"${md5(one)}"`],
        [2, two.length, `"${md5(two)}"`],
      ],
    );
    await expectS3Error(
      fixture.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'big',
          Key: 'low/level',
          UploadId: uploadId,
          MultipartUpload: {
            Parts: [
              { PartNumber: 1, ETag: partOne.ETag, ChecksumCRC32: 'AAAAAA==' },
              { PartNumber: 2, ETag: partTwo.ETag },
            ],
          },
        }),
      ),
      'InvalidPart',
      400,
    );
    const firstPage = await fixture.client.send(
      new ListPartsCommand({ Bucket: 'big', Key: 'low/level', UploadId: uploadId, MaxParts: 1 }),
    );
    assert.equal(firstPage.IsTruncated, true);
    assert.equal(firstPage.NextPartNumberMarker, '1');

    const done = await fixture.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'big',
        Key: 'low/level',
        UploadId: uploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: partOne.ETag, ChecksumCRC32: partOne.ChecksumCRC32 },
            { PartNumber: 2, ETag: partTwo.ETag, ChecksumCRC32: partTwo.ChecksumCRC32 },
          ],
        },
      }),
    );
    assert.equal(done.ETag, `"${multipartEtag([one, two])}"`);
    assert.match(done.ChecksumCRC32 ?? '', /^[A-Za-z0-9+/]{6}==-2$/);
    const head = await fixture.client.send(
      new HeadObjectCommand({ Bucket: 'big', Key: 'low/level', ChecksumMode: 'ENABLED' }),
    );
    assert.deepEqual(head.Metadata, { origin: 'test' });
    assert.equal(head.ChecksumCRC32, done.ChecksumCRC32);
    const after = await fixture.client.send(new ListMultipartUploadsCommand({ Bucket: 'big' }));
    assert.equal(after.Uploads, undefined);
  });

  it('rejects small parts, wrong order and unknown parts', async () => {
    const { UploadId } = await fixture.client.send(
      new CreateMultipartUploadCommand({ Bucket: 'big', Key: 'bad' }),
    );
    const small = await fixture.client.send(
      new UploadPartCommand({ Bucket: 'big', Key: 'bad', UploadId, PartNumber: 1, Body: 'tiny' }),
    );
    const last = await fixture.client.send(
      new UploadPartCommand({ Bucket: 'big', Key: 'bad', UploadId, PartNumber: 2, Body: 'end' }),
    );
    const complete = (parts: Array<{ PartNumber: number; ETag?: string }>) =>
      fixture.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'big',
          Key: 'bad',
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    await expectS3Error(
      complete([
        { PartNumber: 1, ETag: small.ETag },
        { PartNumber: 2, ETag: last.ETag },
      ]),
      'EntityTooSmall',
      400,
    );
    await expectS3Error(
      complete([
        { PartNumber: 2, ETag: last.ETag },
        { PartNumber: 1, ETag: small.ETag },
      ]),
      'InvalidPartOrder',
      400,
    );
    await expectS3Error(complete([{ PartNumber: 1, ETag: '"0123"' }]), 'InvalidPart', 400);
    await expectS3Error(complete([{ PartNumber: 3, ETag: last.ETag }]), 'InvalidPart', 400);

    const malformed = await signedRequest(fixture, 'POST', '/big/bad', {
      query: { uploadId: UploadId! },
      body: '<CompleteMultipartUpload><Part><PartNumber>1</Part>',
    });
    assert.equal(malformed.status, 400);
    assert.equal(errorCode(malformed.body), 'MalformedXML');
    await expectS3Error(
      fixture.client.send(new GetObjectCommand({ Bucket: 'big', Key: 'bad' })),
      'NoSuchKey',
      404,
    );

    await fixture.client.send(
      new AbortMultipartUploadCommand({ Bucket: 'big', Key: 'bad', UploadId }),
    );
    await expectS3Error(
      fixture.client.send(new ListPartsCommand({ Bucket: 'big', Key: 'bad', UploadId })),
      'NoSuchUpload',
      404,
    );
    assert.deepEqual(readdirSync(path.join(fixture.dir, 'buckets', 'big', 'uploads')), []);
  });

  it('copies ranges of an object into parts', async () => {
    const source = pattern(6 * MIB, 9);
    await fixture.client.send(
      new PutObjectCommand({ Bucket: 'big', Key: 'copy-source', Body: source }),
    );
    const { UploadId } = await fixture.client.send(
      new CreateMultipartUploadCommand({ Bucket: 'big', Key: 'copy-target' }),
    );
    const first = await fixture.client.send(
      new UploadPartCopyCommand({
        Bucket: 'big',
        Key: 'copy-target',
        UploadId,
        PartNumber: 1,
        CopySource: 'big/copy-source',
        CopySourceRange: `bytes=0-${5 * MIB - 1}`,
      }),
    );
    const second = await fixture.client.send(
      new UploadPartCopyCommand({
        Bucket: 'big',
        Key: 'copy-target',
        UploadId,
        PartNumber: 2,
        CopySource: 'big/copy-source',
        CopySourceRange: `bytes=${5 * MIB}-${6 * MIB - 1}`,
      }),
    );
    assert.equal(first.CopyPartResult?.ETag, `"${md5(source.subarray(0, 5 * MIB))}"`);
    await fixture.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'big',
        Key: 'copy-target',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: first.CopyPartResult!.ETag },
            { PartNumber: 2, ETag: second.CopyPartResult!.ETag },
          ],
        },
      }),
    );
    const get = await fixture.client.send(
      new GetObjectCommand({ Bucket: 'big', Key: 'copy-target' }),
    );
    assert.equal(md5(Buffer.from(await get.Body!.transformToByteArray())), md5(source));
  });

  it('pages through uploads in progress', async () => {
    const started: Array<[string, string]> = [];
    for (const key of ['queue/b', 'queue/a', 'queue/a', 'queue/c']) {
      const { UploadId } = await fixture.client.send(
        new CreateMultipartUploadCommand({ Bucket: 'big', Key: key }),
      );
      started.push([key, UploadId!]);
    }
    // Uploads list by key, then by upload id.
    const expected = [...started].sort(
      (x, y) => compareStrings(x[0], y[0]) || compareStrings(x[1], y[1]),
    );
    const seen: Array<[string, string]> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await fixture.client.send(
        new ListMultipartUploadsCommand({
          Bucket: 'big',
          Prefix: 'queue/',
          MaxUploads: 3,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      seen.push(
        ...(page.Uploads ?? []).map(
          (upload) => [upload.Key!, upload.UploadId!] as [string, string],
        ),
      );
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
    assert.deepEqual(seen, expected);
    for (const [key, uploadId] of started)
      await fixture.client.send(
        new AbortMultipartUploadCommand({ Bucket: 'big', Key: key, UploadId: uploadId }),
      );
  });

  it('completes only when If-None-Match allows it', async () => {
    await fixture.client.send(
      new PutObjectCommand({ Bucket: 'big', Key: 'taken', Body: 'already here' }),
    );
    const { UploadId } = await fixture.client.send(
      new CreateMultipartUploadCommand({ Bucket: 'big', Key: 'taken' }),
    );
    const part = await fixture.client.send(
      new UploadPartCommand({ Bucket: 'big', Key: 'taken', UploadId, PartNumber: 1, Body: 'new' }),
    );
    await expectS3Error(
      fixture.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'big',
          Key: 'taken',
          UploadId,
          IfNoneMatch: '*',
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      ),
      'PreconditionFailed',
      412,
    );
    const get = await fixture.client.send(new GetObjectCommand({ Bucket: 'big', Key: 'taken' }));
    assert.equal(await get.Body!.transformToString(), 'already here');
  });
});

process.on('exit', () => {
  if (process.exitCode) passed = false;
});
