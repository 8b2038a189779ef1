import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

import { StorageService } from '../../src/storage/service.js';
import { resolveLocation } from '../../src/storage/locations.js';
import { syncLocations } from '../../src/storage/sync.js';
import { runCliAsync, tempDir } from '../helpers/cli.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type RunningAzurite } from './azurite.js';
import { startFixture, type S3Fixture } from './helpers.js';

let local: S3Fixture;
let remote: S3Fixture;
let azurite: RunningAzurite;
let azureContainer: ContainerClient;
let passed = true;

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

async function text(client: S3Client, bucket: string, key: string): Promise<string> {
  const get = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return get.Body!.transformToString();
}

async function remoteKeys(prefix = ''): Promise<string[]> {
  const page = await remote.client.send(
    new ListObjectsV2Command({ Bucket: 'remote', Prefix: prefix }),
  );
  return (page.Contents ?? []).map((entry) => entry.Key!);
}

async function azureKeys(prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const blob of azureContainer.listBlobsFlat({ prefix })) keys.push(blob.name);
  return keys;
}

/** Runs the same S3 calls against a bucket whatever its backend. `where` lists the backend's own keys. */
async function exerciseBucket(
  bucket: string,
  where: () => Promise<string[]>,
  storedPrefix: string,
): Promise<void> {
  const client = local.client;
  const put = await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: 'docs/a b+c.txt',
      Body: 'first',
      ContentType: 'text/plain',
      Metadata: { 'x-team': 'ops' },
    }),
  );
  assert.equal(put.ETag, `"${md5(Buffer.from('first'))}"`);
  assert.equal(await text(client, bucket, 'docs/a b+c.txt'), 'first');
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'docs/a b+c.txt' }));
  assert.equal(head.ContentType, 'text/plain');
  assert.deepEqual(head.Metadata, { 'x-team': 'ops' });
  assert.equal(head.ContentLength, 5);

  const range = await client.send(
    new GetObjectCommand({ Bucket: bucket, Key: 'docs/a b+c.txt', Range: 'bytes=1-3' }),
  );
  assert.equal(await range.Body!.transformToString(), 'irs');
  assert.equal(range.ContentRange, 'bytes 1-3/5');

  const big = randomBytes(11 * 1024 * 1024);
  const upload = await new Upload({
    client,
    params: { Bucket: bucket, Key: 'big.bin', Body: Readable.from([big]) },
    partSize: 5 * 1024 * 1024,
  }).done();
  const bigGet = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
  assert.equal(md5(Buffer.from(await bigGet.Body!.transformToByteArray())), md5(big));
  // A remote S3 service computes its own ETag for the upload; what matters is
  // that the endpoint reports one ETag for the object everywhere.
  assert.equal(bigGet.ETag, upload.ETag);
  const bigListed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'big' }));
  assert.equal(bigListed.Contents?.[0]?.ETag, upload.ETag);

  await client.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: 'docs/copy.txt',
      CopySource: `${bucket}/${encodeURIComponent('docs/a b+c.txt')}`,
    }),
  );
  await assert.rejects(
    client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'docs/copy.txt', Body: 'x', IfNoneMatch: '*' }),
    ),
    (error: unknown) => error instanceof S3ServiceException && error.name === 'PreconditionFailed',
  );

  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
  assert.deepEqual(
    listed.Contents?.map((entry) => entry.Key),
    ['big.bin'],
  );
  assert.deepEqual(
    listed.CommonPrefixes?.map((entry) => entry.Prefix),
    ['docs/'],
  );
  assert.deepEqual((await where()).sort(), [
    `${storedPrefix}big.bin`,
    `${storedPrefix}docs/a b+c.txt`,
    `${storedPrefix}docs/copy.txt`,
  ]);

  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'docs/copy.txt' }));
  await assert.rejects(
    client.send(new GetObjectCommand({ Bucket: bucket, Key: 'docs/copy.txt' })),
    (error: unknown) => error instanceof S3ServiceException && error.name === 'NoSuchKey',
  );
  assert.deepEqual((await where()).sort(), [
    `${storedPrefix}big.bin`,
    `${storedPrefix}docs/a b+c.txt`,
  ]);
}

describe('S3 and Azure backends', () => {
  const azuriteDir = tempDir('azurite');
  before(async () => {
    remote = await startFixture('s3-remote');
    local = await startFixture('s3-local');
    await remote.client.send(new CreateBucketCommand({ Bucket: 'remote' }));
    azurite = await startAzurite(azuriteDir.dir);
    azureContainer = new ContainerClient(
      `${azurite.endpoint}/blobs`,
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    );
    await azureContainer.create();
  });
  after(async () => {
    await local.close(passed);
    await remote.close(passed);
    await azurite.stop();
    azuriteDir.cleanup(passed);
  });

  it('fronts a bucket on another S3 service', async () => {
    const storage = new StorageService(local.context);
    await storage.createRemoteBucket('mirror', {
      backend: 's3',
      endpoint: remote.server.url,
      region: 'us-east-1',
      bucket: 'remote',
      prefix: 'mirror/',
      accessKeyId: remote.accessKeyId,
      secretAccessKey: remote.secretAccessKey,
      forcePathStyle: true,
    });
    await exerciseBucket('mirror', () => remoteKeys('mirror/'), 'mirror/');
  });

  it('fronts a container on Azure Blob', async () => {
    const storage = new StorageService(local.context);
    await storage.createRemoteBucket('blobs', {
      backend: 'azure',
      endpoint: azurite.endpoint,
      accountName: AZURITE_ACCOUNT,
      accountKey: AZURITE_KEY,
      container: 'blobs',
      prefix: 'p/',
    });
    await exerciseBucket('blobs', () => azureKeys('p/'), 'p/');
  });

  it('rejects a remote bucket with wrong credentials and keeps nothing', async () => {
    const storage = new StorageService(local.context);
    await assert.rejects(
      storage.createRemoteBucket('broken', {
        backend: 's3',
        endpoint: remote.server.url,
        region: 'us-east-1',
        bucket: 'remote',
        prefix: '',
        accessKeyId: remote.accessKeyId,
        secretAccessKey: 'wrong',
        forcePathStyle: true,
      }),
      /SignatureDoesNotMatch \(HTTP 403\)/,
    );
    assert.equal(storage.buckets.find('broken'), undefined);
  });

  it('creates remote buckets from the CLI with the secret on stdin', async () => {
    const result = await runCliAsync(
      [
        'bucket',
        'create',
        'viacli',
        '--backend',
        's3',
        '--endpoint',
        remote.server.url,
        '--remote-bucket',
        'remote',
        '--prefix',
        'cli/',
        '--access-key-id',
        remote.accessKeyId,
        '--secret-stdin',
        '--json',
      ],
      { dataDir: local.dir, input: remote.secretAccessKey + '\n' },
    );
    assert.equal(result.code, 0, result.stderr);
    const created = JSON.parse(result.stdout);
    assert.equal(created.backend, 's3');
    assert.equal(created.config.bucket, 'remote');
    assert.ok(!result.stdout.includes(remote.secretAccessKey), 'the secret is not printed');
    assert.equal(created.config.sealedSecretAccessKey, undefined);
  });
});

describe('sync between locations', () => {
  const azuriteDir = tempDir('azurite-sync');
  const env: Record<string, string> = {};
  let storage: StorageService;

  before(async () => {
    remote = await startFixture('sync-remote');
    local = await startFixture('sync-local');
    await remote.client.send(new CreateBucketCommand({ Bucket: 'remote' }));
    azurite = await startAzurite(azuriteDir.dir);
    azureContainer = new ContainerClient(
      `${azurite.endpoint}/synced`,
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    );
    await azureContainer.create();
    storage = new StorageService(local.context);
    storage.createBucket('source');
    for (let i = 0; i < 5; i++)
      await storage.putObject(
        'source',
        `files/${i}.txt`,
        Readable.from([Buffer.from(`file ${i}`)]),
      );
    Object.assign(env, {
      AWS_ENDPOINT_URL: remote.server.url,
      AWS_ACCESS_KEY_ID: remote.accessKeyId,
      AWS_SECRET_ACCESS_KEY: remote.secretAccessKey,
      AWS_REGION: 'us-east-1',
      R2_ENDPOINT: remote.server.url,
      R2_ACCESS_KEY_ID: remote.accessKeyId,
      R2_SECRET_ACCESS_KEY: remote.secretAccessKey,
      AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${azurite.endpoint};`,
    });
  });
  after(async () => {
    await local.close(passed);
    await remote.close(passed);
    await azurite.stop();
    azuriteDir.cleanup(passed);
  });

  it('copies only new and changed objects to s3://', async () => {
    const source = await resolveLocation(local.context, storage, 'source/files/', env);
    const target = await resolveLocation(local.context, storage, 's3://remote/backup/', env);
    const first = await syncLocations(source, target);
    assert.deepEqual([first.copied, first.skipped, first.deleted], [5, 0, 0]);
    assert.deepEqual(await remoteKeys('backup/'), [
      'backup/0.txt',
      'backup/1.txt',
      'backup/2.txt',
      'backup/3.txt',
      'backup/4.txt',
    ]);

    await storage.putObject(
      'source',
      'files/2.txt',
      Readable.from([Buffer.from('file 2, edited')]),
    );
    await storage.putObject('source', 'files/3.txt', Readable.from([Buffer.from('file 9')]));
    const second = await syncLocations(source, target);
    assert.deepEqual(
      second.entries
        .filter((entry) => entry.action === 'copy')
        .map((entry) => [entry.key, entry.reason]),
      [
        ['2.txt', 'size'],
        ['3.txt', 'checksum'],
      ],
    );
    assert.equal(second.skipped, 3);
    assert.equal(await text(remote.client, 'remote', 'backup/2.txt'), 'file 2, edited');
  });

  it('mirrors deletions only with --delete and changes nothing on a dry run', async () => {
    await storage.deleteObject('source', 'files/4.txt');
    const source = await resolveLocation(local.context, storage, 'source/files/', env);
    const target = await resolveLocation(local.context, storage, 's3://remote/backup/', env);
    const keep = await syncLocations(source, target);
    assert.equal(keep.deleted, 0);
    const dry = await syncLocations(source, target, { delete: true, dryRun: true });
    assert.deepEqual(
      dry.entries.filter((entry) => entry.action === 'delete').map((entry) => entry.key),
      ['4.txt'],
    );
    assert.ok((await remoteKeys('backup/')).includes('backup/4.txt'));
    const mirrored = await syncLocations(source, target, { delete: true });
    assert.equal(mirrored.deleted, 1);
    assert.deepEqual(await remoteKeys('backup/'), [
      'backup/0.txt',
      'backup/1.txt',
      'backup/2.txt',
      'backup/3.txt',
    ]);
  });

  it('resumes after an interruption', async () => {
    const source = await resolveLocation(local.context, storage, 'source/files/', env);
    const target = await resolveLocation(local.context, storage, 'r2://remote/r2copy/', env);
    await assert.rejects(
      syncLocations(source, target, {
        onProgress: (_entry, done) => {
          if (done.objects === 2) throw new Error('interrupted');
        },
      }),
      /interrupted/,
    );
    assert.deepEqual(await remoteKeys('r2copy/'), ['r2copy/0.txt', 'r2copy/1.txt']);
    const resumed = await syncLocations(source, target);
    assert.deepEqual([resumed.copied, resumed.skipped], [2, 2]);
  });

  it('syncs to azure:// and back from the CLI', async () => {
    const toAzure = await runCliAsync(
      ['storage', 'sync', 'source/files/', 'azure://synced/files/', '--json'],
      { dataDir: local.dir, env },
    );
    assert.equal(toAzure.code, 0, toAzure.stderr);
    assert.deepEqual(JSON.parse(toAzure.stdout).copied, 4);
    assert.deepEqual(await azureKeys('files/'), [
      'files/0.txt',
      'files/1.txt',
      'files/2.txt',
      'files/3.txt',
    ]);

    const again = await runCliAsync(
      ['storage', 'sync', 'source/files/', 'azure://synced/files/', '--json'],
      { dataDir: local.dir, env },
    );
    assert.deepEqual([JSON.parse(again.stdout).copied, JSON.parse(again.stdout).skipped], [0, 4]);

    storage.createBucket('restored');
    const back = await runCliAsync(['storage', 'sync', 'azure://synced/files/', 'restored'], {
      dataDir: local.dir,
      env,
    });
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.stderr.trim(), 'Copied 4 objects (32 B), deleted 0, skipped 0 unchanged.');
    assert.equal(await text(local.client, 'restored', '2.txt'), 'file 2, edited');

    const missing = await runCliAsync(['storage', 'sync', 'source', 's3://remote/x'], {
      dataDir: local.dir,
      env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
    });
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr,
      'opsbox: Missing credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment.\n',
    );
  });
});

process.on('exit', () => {
  if (process.exitCode) passed = false;
});
