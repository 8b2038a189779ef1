import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, type Dirent } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { after, before, describe, it } from 'node:test';

import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';

import { startFixture, type S3Fixture } from './helpers.js';

let fixture: S3Fixture;

function crc32Base64(data: Buffer): string {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(crc32(data));
  return value.toString('base64');
}
let passed = true;

async function expectS3Error(
  promise: Promise<unknown>,
  code: string,
  status: number,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof S3ServiceException, `expected an S3 error, got ${error}`);
    // A 304 has no body, so the SDK cannot name it.
    if (status !== 304) assert.equal(error.name, code);
    assert.equal(error.$metadata.httpStatusCode, status);
    return true;
  });
}

describe('S3 endpoint with the AWS SDK', () => {
  before(async () => {
    fixture = await startFixture('s3-objects');
    await fixture.client.send(new CreateBucketCommand({ Bucket: 'photos' }));
  });
  after(async () => fixture.close(passed));

  it('lists, heads and locates buckets', async () => {
    await fixture.client.send(new CreateBucketCommand({ Bucket: 'scratch' }));
    const list = await fixture.client.send(new ListBucketsCommand({}));
    assert.deepEqual(
      list.Buckets?.map((bucket) => bucket.Name),
      ['photos', 'scratch'],
    );
    const head = await fixture.client.send(new HeadBucketCommand({ Bucket: 'scratch' }));
    assert.equal(head.$metadata.httpStatusCode, 200);
    const location = await fixture.client.send(new GetBucketLocationCommand({ Bucket: 'scratch' }));
    assert.equal(location.LocationConstraint, undefined);
    await expectS3Error(
      fixture.client.send(new CreateBucketCommand({ Bucket: 'scratch' })),
      'BucketAlreadyOwnedByYou',
      409,
    );
    await fixture.client.send(new DeleteBucketCommand({ Bucket: 'scratch' }));
    await expectS3Error(
      fixture.client.send(new HeadBucketCommand({ Bucket: 'scratch' })),
      'NotFound',
      404,
    );
  });

  it('rejects invalid bucket names', async () => {
    await expectS3Error(
      fixture.client.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })),
      'InvalidBucketName',
      400,
    );
  });

  it('puts and gets an object with metadata', async () => {
    const put = await fixture.client.send(
      new PutObjectCommand({
        Bucket: 'photos',
        Key: 'cats/tom.txt',
        Body: 'hello tom',
        ContentType: 'text/plain',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="tom.txt"',
        ContentEncoding: 'identity',
        Metadata: { owner: 'jerry', 'camera-model': 'x100' },
      }),
    );
    const md5 = createHash('md5').update('hello tom').digest('hex');
    assert.equal(put.ETag, `"${md5}"`);

    const get = await fixture.client.send(
      new GetObjectCommand({ Bucket: 'photos', Key: 'cats/tom.txt' }),
    );
    assert.equal(await get.Body!.transformToString(), 'hello tom');
    assert.equal(get.ContentType, 'text/plain');
    assert.equal(get.CacheControl, 'max-age=60');
    assert.equal(get.ContentDisposition, 'attachment; filename="tom.txt"');
    assert.equal(get.ContentEncoding, 'identity');
    assert.equal(get.ContentLength, 9);
    assert.equal(get.ETag, `"${md5}"`);
    assert.deepEqual(get.Metadata, { owner: 'jerry', 'camera-model': 'x100' });

    const head = await fixture.client.send(
      new HeadObjectCommand({ Bucket: 'photos', Key: 'cats/tom.txt' }),
    );
    assert.equal(head.ContentLength, 9);
    assert.equal(head.ETag, `"${md5}"`);
  });

  it('stores and reads an empty object', async () => {
    const put = await fixture.client.send(
      new PutObjectCommand({ Bucket: 'photos', Key: 'empty', Body: '' }),
    );
    assert.equal(put.ETag, '"d41d8cd98f00b204e9800998ecf8427e"');
    const get = await fixture.client.send(new GetObjectCommand({ Bucket: 'photos', Key: 'empty' }));
    assert.equal(get.ContentLength, 0);
    assert.equal(await get.Body!.transformToString(), '');
    await expectS3Error(
      fixture.client.send(
        new GetObjectCommand({ Bucket: 'photos', Key: 'empty', Range: 'bytes=0-1' }),
      ),
      'InvalidRange',
      416,
    );
  });

  it('stores a streamed body sent as aws-chunked with a CRC32 trailer', async () => {
    const body = Buffer.alloc(300_000, 'z');
    const seen: IncomingHttpHeaders[] = [];
    const capture = (req: IncomingMessage) => {
      if (req.url?.startsWith('/photos/stream.bin')) seen.push(req.headers);
    };
    fixture.server.server.prependListener('request', capture);
    const put = await fixture.client.send(
      new PutObjectCommand({
        Bucket: 'photos',
        Key: 'stream.bin',
        Body: Readable.from([body.subarray(0, 100_000), body.subarray(100_000)]),
        ContentLength: body.length,
      }),
    );
    fixture.server.server.off('request', capture);
    assert.equal(seen[0]?.['content-length'], undefined);
    assert.equal(seen[0]?.['content-encoding'], 'aws-chunked');
    assert.equal(seen[0]?.['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    assert.equal(seen[0]?.['x-amz-trailer'], 'x-amz-checksum-crc32');
    assert.equal(put.ETag, `"${createHash('md5').update(body).digest('hex')}"`);
    assert.equal(put.ChecksumCRC32, crc32Base64(body));
    const get = await fixture.client.send(
      new GetObjectCommand({ Bucket: 'photos', Key: 'stream.bin', ChecksumMode: 'ENABLED' }),
    );
    const bytes = Buffer.from(await get.Body!.transformToByteArray());
    assert.equal(bytes.length, 300_000);
    assert.ok(bytes.equals(body));
    assert.equal(get.ChecksumCRC32, put.ChecksumCRC32);
  });

  it('reads byte ranges', async () => {
    await fixture.client.send(
      new PutObjectCommand({ Bucket: 'photos', Key: 'digits', Body: '0123456789' }),
    );
    const cases: Array<[string, string, string]> = [
      ['bytes=2-5', '2345', 'bytes 2-5/10'],
      ['bytes=7-', '789', 'bytes 7-9/10'],
      ['bytes=-3', '789', 'bytes 7-9/10'],
      ['bytes=8-100', '89', 'bytes 8-9/10'],
    ];
    for (const [range, expected, contentRange] of cases) {
      const get = await fixture.client.send(
        new GetObjectCommand({ Bucket: 'photos', Key: 'digits', Range: range }),
      );
      assert.equal(await get.Body!.transformToString(), expected, range);
      assert.equal(get.ContentRange, contentRange, range);
      assert.equal(get.$metadata.httpStatusCode, 206, range);
    }
    await expectS3Error(
      fixture.client.send(
        new GetObjectCommand({ Bucket: 'photos', Key: 'digits', Range: 'bytes=10-12' }),
      ),
      'InvalidRange',
      416,
    );
  });

  it('applies read conditions', async () => {
    const put = await fixture.client.send(
      new PutObjectCommand({ Bucket: 'photos', Key: 'cond', Body: 'v1' }),
    );
    const ok = await fixture.client.send(
      new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfMatch: put.ETag }),
    );
    assert.equal(await ok.Body!.transformToString(), 'v1');
    await expectS3Error(
      fixture.client.send(
        new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfMatch: '"0000"' }),
      ),
      'PreconditionFailed',
      412,
    );
    await expectS3Error(
      fixture.client.send(
        new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfNoneMatch: put.ETag }),
      ),
      'NotModified',
      304,
    );
    const future = new Date(Date.now() + 3600_000);
    const past = new Date(Date.now() - 3600_000);
    await expectS3Error(
      fixture.client.send(
        new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfModifiedSince: future }),
      ),
      'NotModified',
      304,
    );
    await expectS3Error(
      fixture.client.send(
        new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfUnmodifiedSince: past }),
      ),
      'PreconditionFailed',
      412,
    );
    const modified = await fixture.client.send(
      new GetObjectCommand({ Bucket: 'photos', Key: 'cond', IfModifiedSince: past }),
    );
    assert.equal(await modified.Body!.transformToString(), 'v1');
  });

  it('applies write conditions', async () => {
    const first = await fixture.client.send(
      new PutObjectCommand({ Bucket: 'photos', Key: 'lock', Body: 'one', IfNoneMatch: '*' }),
    );
    await expectS3Error(
      fixture.client.send(
        new PutObjectCommand({ Bucket: 'photos', Key: 'lock', Body: 'two', IfNoneMatch: '*' }),
      ),
      'PreconditionFailed',
      412,
    );
    await expectS3Error(
      fixture.client.send(
        new PutObjectCommand({ Bucket: 'photos', Key: 'lock', Body: 'two', IfMatch: '"abc"' }),
      ),
      'PreconditionFailed',
      412,
    );
    await fixture.client.send(
      new PutObjectCommand({ Bucket: 'photos', Key: 'lock', Body: 'three', IfMatch: first.ETag }),
    );
    const get = await fixture.client.send(new GetObjectCommand({ Bucket: 'photos', Key: 'lock' }));
    assert.equal(await get.Body!.transformToString(), 'three');
  });

  it('copies with metadata COPY and REPLACE', async () => {
    await fixture.client.send(
      new PutObjectCommand({
        Bucket: 'photos',
        Key: 'src key+1.txt',
        Body: 'copy me',
        ContentType: 'text/plain',
        Metadata: { a: '1' },
      }),
    );
    await fixture.client.send(
      new CopyObjectCommand({
        Bucket: 'photos',
        Key: 'copied',
        CopySource: `photos/${encodeURIComponent('src key+1.txt')}`,
      }),
    );
    const copied = await fixture.client.send(
      new HeadObjectCommand({ Bucket: 'photos', Key: 'copied' }),
    );
    assert.deepEqual(copied.Metadata, { a: '1' });
    assert.equal(copied.ContentType, 'text/plain');

    await fixture.client.send(
      new CopyObjectCommand({
        Bucket: 'photos',
        Key: 'copied',
        CopySource: 'photos/copied',
        MetadataDirective: 'REPLACE',
        Metadata: { b: '2' },
        ContentType: 'text/markdown',
      }),
    );
    const replaced = await fixture.client.send(
      new GetObjectCommand({ Bucket: 'photos', Key: 'copied' }),
    );
    assert.deepEqual(replaced.Metadata, { b: '2' });
    assert.equal(replaced.ContentType, 'text/markdown');
    assert.equal(await replaced.Body!.transformToString(), 'copy me');
    await expectS3Error(
      fixture.client.send(
        new CopyObjectCommand({ Bucket: 'photos', Key: 'copied', CopySource: 'photos/copied' }),
      ),
      'InvalidRequest',
      400,
    );
    await expectS3Error(
      fixture.client.send(
        new CopyObjectCommand({
          Bucket: 'photos',
          Key: 'other',
          CopySource: 'photos/copied',
          CopySourceIfMatch: '"0000"',
        }),
      ),
      'PreconditionFailed',
      412,
    );
    await expectS3Error(
      fixture.client.send(
        new CopyObjectCommand({ Bucket: 'photos', Key: 'other', CopySource: 'photos/missing' }),
      ),
      'NoSuchKey',
      404,
    );
    await expectS3Error(
      fixture.client.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'other' })),
      'NotFound',
      404,
    );
  });

  it('round-trips keys that look like paths', async () => {
    const keys = [
      '../escape',
      '../../etc/passwd',
      'a//b',
      '/leading',
      'objects/00/clash',
      'tmp/x.upload',
      'uploads/1',
      'sp ace+plus%25',
      'ünïcödé/日本語/😀',
      './dot',
      'trailing/',
    ];
    for (const key of keys)
      await fixture.client.send(
        new PutObjectCommand({ Bucket: 'photos', Key: key, Body: `body of ${key}` }),
      );
    for (const key of keys) {
      const get = await fixture.client.send(new GetObjectCommand({ Bucket: 'photos', Key: key }));
      assert.equal(await get.Body!.transformToString(), `body of ${key}`, key);
    }
    const listed = await fixture.client.send(new ListObjectsV2Command({ Bucket: 'photos' }));
    for (const key of keys)
      assert.ok(
        listed.Contents?.some((entry) => entry.Key === key),
        `listed ${key}`,
      );

    // Every file in the data directory is the state store, the key file or
    // a hex-named version file inside the bucket's objects folder.
    const files = (readdirSync(fixture.dir, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((entry) => entry.isFile())
      .map((entry) =>
        path.relative(fixture.dir, path.join(entry.parentPath ?? (entry as any).path, entry.name)),
      );
    const strays = files.filter(
      (file) =>
        !/^(state\.db(-wal|-shm)?|secret\.key)$/.test(file) &&
        !/^buckets\/photos\/objects\/[0-9a-f]{2}\/[0-9a-f]{64}\.[0-9a-f-]{36}$/.test(file),
    );
    assert.deepEqual(strays, []);
  });

  it('rejects a key over 1024 bytes and unknown keys and buckets', async () => {
    await expectS3Error(
      fixture.client.send(
        new PutObjectCommand({ Bucket: 'photos', Key: 'k'.repeat(1025), Body: 'x' }),
      ),
      'KeyTooLongError',
      400,
    );
    await fixture.client.send(
      new PutObjectCommand({ Bucket: 'photos', Key: 'k'.repeat(1024), Body: 'x' }),
    );
    await expectS3Error(
      fixture.client.send(new GetObjectCommand({ Bucket: 'photos', Key: 'missing' })),
      'NoSuchKey',
      404,
    );
    await expectS3Error(
      fixture.client.send(new GetObjectCommand({ Bucket: 'nobucket', Key: 'x' })),
      'NoSuchBucket',
      404,
    );
    await expectS3Error(
      fixture.client.send(new PutObjectCommand({ Bucket: 'nobucket', Key: 'x', Body: 'x' })),
      'NoSuchBucket',
      404,
    );
  });

  it('deletes one and many objects', async () => {
    for (const key of ['del/1', 'del/2', 'del/3'])
      await fixture.client.send(new PutObjectCommand({ Bucket: 'photos', Key: key, Body: key }));
    const single = await fixture.client.send(
      new DeleteObjectCommand({ Bucket: 'photos', Key: 'del/1' }),
    );
    assert.equal(single.$metadata.httpStatusCode, 204);
    const many = await fixture.client.send(
      new DeleteObjectsCommand({
        Bucket: 'photos',
        Delete: { Objects: [{ Key: 'del/2' }, { Key: 'del/3' }, { Key: 'del/none' }] },
      }),
    );
    assert.deepEqual(
      many.Deleted?.map((entry) => entry.Key),
      ['del/2', 'del/3', 'del/none'],
    );
    const listed = await fixture.client.send(
      new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'del/' }),
    );
    assert.equal(listed.KeyCount, 0);
    await expectS3Error(
      fixture.client.send(new DeleteBucketCommand({ Bucket: 'photos' })),
      'BucketNotEmpty',
      409,
    );
  });
});

describe('listing with the AWS SDK', () => {
  const keys = ['a/1', 'a/2', 'a/b/3', 'b/1', 'c', 'd/x/1', 'd/y/2', 'e'];
  before(async () => {
    fixture = await startFixture('s3-list');
    await fixture.client.send(new CreateBucketCommand({ Bucket: 'list' }));
    for (const key of keys)
      await fixture.client.send(new PutObjectCommand({ Bucket: 'list', Key: key, Body: key }));
  });
  after(async () => fixture.close(passed));

  it('pages through keys with continuation tokens', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await fixture.client.send(
        new ListObjectsV2Command({ Bucket: 'list', MaxKeys: 3, ContinuationToken: token }),
      );
      seen.push(...(page.Contents ?? []).map((entry) => entry.Key!));
      assert.ok((page.KeyCount ?? 0) <= 3);
      token = page.NextContinuationToken;
      pages++;
    } while (token);
    assert.deepEqual(seen, keys);
    assert.equal(pages, 3);
  });

  it('rolls keys up into common prefixes across pages', async () => {
    const entries: string[] = [];
    let token: string | undefined;
    do {
      const page = await fixture.client.send(
        new ListObjectsV2Command({
          Bucket: 'list',
          Delimiter: '/',
          MaxKeys: 2,
          ContinuationToken: token,
        }),
      );
      entries.push(
        ...(page.CommonPrefixes ?? []).map((entry) => `P:${entry.Prefix}`),
        ...(page.Contents ?? []).map((entry) => `K:${entry.Key}`),
      );
      assert.equal(
        page.KeyCount,
        (page.CommonPrefixes?.length ?? 0) + (page.Contents?.length ?? 0),
      );
      token = page.NextContinuationToken;
    } while (token);
    assert.deepEqual(entries.sort(), ['K:c', 'K:e', 'P:a/', 'P:b/', 'P:d/']);
  });

  it('lists under a prefix with start-after', async () => {
    const page = await fixture.client.send(
      new ListObjectsV2Command({ Bucket: 'list', Prefix: 'a/', Delimiter: '/' }),
    );
    assert.deepEqual(
      page.Contents?.map((entry) => entry.Key),
      ['a/1', 'a/2'],
    );
    assert.deepEqual(
      page.CommonPrefixes?.map((entry) => entry.Prefix),
      ['a/b/'],
    );
    const after = await fixture.client.send(
      new ListObjectsV2Command({ Bucket: 'list', StartAfter: 'c' }),
    );
    assert.deepEqual(
      after.Contents?.map((entry) => entry.Key),
      ['d/x/1', 'd/y/2', 'e'],
    );
  });

  it('lists with V1 markers', async () => {
    const first = await fixture.client.send(new ListObjectsCommand({ Bucket: 'list', MaxKeys: 4 }));
    assert.deepEqual(
      first.Contents?.map((entry) => entry.Key),
      ['a/1', 'a/2', 'a/b/3', 'b/1'],
    );
    assert.equal(first.IsTruncated, true);
    assert.equal(first.NextMarker, undefined);
    const second = await fixture.client.send(
      new ListObjectsCommand({ Bucket: 'list', Marker: 'b/1' }),
    );
    assert.deepEqual(
      second.Contents?.map((entry) => entry.Key),
      ['c', 'd/x/1', 'd/y/2', 'e'],
    );
    const grouped = await fixture.client.send(
      new ListObjectsCommand({ Bucket: 'list', Delimiter: '/', MaxKeys: 2 }),
    );
    assert.equal(grouped.NextMarker, 'b/');
  });

  it('fetches the owner only when asked', async () => {
    const plain = await fixture.client.send(
      new ListObjectsV2Command({ Bucket: 'list', MaxKeys: 1 }),
    );
    assert.equal(plain.Contents?.[0]?.Owner, undefined);
    const owned = await fixture.client.send(
      new ListObjectsV2Command({ Bucket: 'list', MaxKeys: 1, FetchOwner: true }),
    );
    assert.equal(owned.Contents?.[0]?.Owner?.ID, 'opsbox');
  });

  it('url-encodes keys when asked', async () => {
    await fixture.client.send(new PutObjectCommand({ Bucket: 'list', Key: 'z/a b+c', Body: 'x' }));
    const page = await fixture.client.send(
      new ListObjectsV2Command({ Bucket: 'list', Prefix: 'z/', EncodingType: 'url' }),
    );
    // The SDK passes url-encoded keys through as sent.
    assert.deepEqual(
      page.Contents?.map((entry) => entry.Key),
      ['z/a+b%2Bc'],
    );
    assert.equal(page.Prefix, 'z/');
    assert.equal(page.EncodingType, 'url');
  });
});

process.on('exit', () => {
  if (process.exitCode) passed = false;
});
