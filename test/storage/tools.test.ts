import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';

import { startFixture, type S3Fixture } from './helpers.js';

let fixture: S3Fixture;
let passed = true;
let work: string;

interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a real S3 client (awscli, rclone, s3cmd) without blocking the endpoint in this process. */
function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ToolResult> {
  // The CA bundle variable points Go and Python clients at a proxy CA that
  // a plain-HTTP loopback endpoint never needs. rclone fails to start with it.
  const { AWS_CA_BUNDLE: _bundle, ...base } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...base, ...env }, cwd: work });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
      }),
    );
  });
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

async function objectBytes(key: string): Promise<Buffer> {
  const get = await fixture.client.send(new GetObjectCommand({ Bucket: 'tools', Key: key }));
  return Buffer.from(await get.Body!.transformToByteArray());
}

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await fixture.client.send(
    new ListObjectsV2Command({ Bucket: 'tools', Prefix: prefix }),
  );
  return (page.Contents ?? []).map((entry) => entry.Key!);
}

describe('everyday S3 tools against the endpoint', () => {
  const big = randomBytes(20 * 1024 * 1024 + 123);
  before(async () => {
    fixture = await startFixture('s3-tools');
    work = fixture.dir;
    await fixture.client.send(new CreateBucketCommand({ Bucket: 'tools' }));
    mkdirSync(path.join(work, 'site', 'img'), { recursive: true });
    writeFileSync(path.join(work, 'site', 'index.html'), '<h1>hi</h1>');
    writeFileSync(path.join(work, 'site', 'img', 'a b+c.txt'), 'spaces and plus');
    writeFileSync(path.join(work, 'big.bin'), big);
  });
  after(async () => fixture.close(passed));

  it('works with awscli s3 and s3api', async () => {
    const env = {
      AWS_ACCESS_KEY_ID: fixture.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fixture.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_PAGER: '',
    };
    // /usr/bin/aws is Debian's awscli; a pyenv shim earlier on PATH may be another one.
    const aws = (...args: string[]) =>
      run('/usr/bin/aws', ['--endpoint-url', fixture.server.url, ...args], env);

    const copy = await aws('s3', 'cp', '--no-progress', 'big.bin', 's3://tools/aws/big.bin');
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(md5(await objectBytes('aws/big.bin')), md5(big));
    const head = await fixture.client.send(
      new HeadObjectCommand({ Bucket: 'tools', Key: 'aws/big.bin' }),
    );
    assert.match(head.ETag ?? '', /-3"$/, 'awscli uploads 20 MiB in three 8 MiB parts');

    const sync = await aws('s3', 'sync', '--no-progress', 'site', 's3://tools/aws/site');
    assert.equal(sync.code, 0, sync.stderr);
    assert.deepEqual(await keysUnder('aws/site/'), [
      'aws/site/img/a b+c.txt',
      'aws/site/index.html',
    ]);
    const again = await aws('s3', 'sync', '--no-progress', 'site', 's3://tools/aws/site');
    assert.equal(again.stdout, '', 'a second sync copies nothing');

    const listing = await aws('s3', 'ls', '--recursive', 's3://tools/aws/');
    assert.equal(listing.code, 0, listing.stderr);
    assert.deepEqual(
      listing.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/).slice(2).join(' ')),
      [`${big.length} aws/big.bin`, '15 aws/site/img/a b+c.txt', '11 aws/site/index.html'],
    );

    const download = await aws(
      's3',
      'cp',
      '--no-progress',
      's3://tools/aws/big.bin',
      'big-copy.bin',
    );
    assert.equal(download.code, 0, download.stderr);
    assert.equal(md5(readFileSync(path.join(work, 'big-copy.bin'))), md5(big));

    const api = await aws(
      's3api',
      'head-object',
      '--bucket',
      'tools',
      '--key',
      'aws/site/img/a b+c.txt',
    );
    assert.equal(api.code, 0, api.stderr);
    assert.equal(JSON.parse(api.stdout).ContentLength, 15);
    const listed = await aws(
      's3api',
      'list-objects-v2',
      '--bucket',
      'tools',
      '--prefix',
      'aws/',
      '--delimiter',
      '/',
    );
    assert.deepEqual(JSON.parse(listed.stdout).CommonPrefixes, [{ Prefix: 'aws/site/' }]);
    const missing = await aws(
      's3api',
      'get-object',
      '--bucket',
      'tools',
      '--key',
      'aws/none',
      'out.bin',
    );
    assert.equal(missing.code, 254);
    assert.match(missing.stderr, /NoSuchKey/);
  });

  it('works with rclone copy, sync, ls and check', async () => {
    const env = {
      RCLONE_CONFIG: '/dev/null',
      RCLONE_S3_PROVIDER: 'Other',
      RCLONE_S3_ENDPOINT: fixture.server.url,
      RCLONE_S3_ACCESS_KEY_ID: fixture.accessKeyId,
      RCLONE_S3_SECRET_ACCESS_KEY: fixture.secretAccessKey,
      RCLONE_S3_REGION: 'us-east-1',
      // Multipart from 5 MiB, so the 20 MiB file goes in parts.
      RCLONE_S3_UPLOAD_CUTOFF: '5M',
    };
    const rclone = (...args: string[]) => run('rclone', args, env);

    const copy = await rclone('copy', 'site', ':s3:tools/rclone/site');
    assert.equal(copy.code, 0, copy.stderr);
    const bigCopy = await rclone('copy', 'big.bin', ':s3:tools/rclone');
    assert.equal(bigCopy.code, 0, bigCopy.stderr);
    assert.equal(md5(await objectBytes('rclone/big.bin')), md5(big));

    const ls = await rclone('ls', ':s3:tools/rclone');
    assert.deepEqual(
      ls.stdout
        .trim()
        .split('\n')
        .map((line) => line.trim())
        .sort(),
      [`${big.length} big.bin`, '11 site/index.html', '15 site/img/a b+c.txt'].sort(),
    );
    const check = await rclone('check', 'site', ':s3:tools/rclone/site');
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /0 differences found/);

    writeFileSync(path.join(work, 'site', 'index.html'), '<h1>changed</h1>');
    const sync = await rclone('sync', 'site', ':s3:tools/rclone/site');
    assert.equal(sync.code, 0, sync.stderr);
    assert.equal((await objectBytes('rclone/site/index.html')).toString(), '<h1>changed</h1>');
    const recheck = await rclone('check', 'site', ':s3:tools/rclone/site');
    assert.equal(recheck.code, 0, recheck.stderr);
  });

  it('works with s3cmd put, get, ls and sync', async () => {
    const config = path.join(work, 's3cfg');
    const host = new URL(fixture.server.url).host;
    writeFileSync(
      config,
      [
        '[default]',
        `access_key = ${fixture.accessKeyId}`,
        `secret_key = ${fixture.secretAccessKey}`,
        `host_base = ${host}`,
        `host_bucket = ${host}`,
        'use_https = False',
        'signature_v2 = False',
        'bucket_location = us-east-1',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const s3cmd = (...args: string[]) => run('s3cmd', ['-c', config, ...args]);

    const put = await s3cmd('put', 'big.bin', 's3://tools/s3cmd/big.bin');
    assert.equal(put.code, 0, put.stderr);
    assert.equal(md5(await objectBytes('s3cmd/big.bin')), md5(big));
    const get = await s3cmd('get', '--force', 's3://tools/s3cmd/big.bin', 'big-s3cmd.bin');
    assert.equal(get.code, 0, get.stderr);
    assert.equal(md5(readFileSync(path.join(work, 'big-s3cmd.bin'))), md5(big));

    const sync = await s3cmd('sync', 'site/', 's3://tools/s3cmd/site/');
    assert.equal(sync.code, 0, sync.stderr);
    assert.deepEqual(await keysUnder('s3cmd/site/'), [
      's3cmd/site/img/a b+c.txt',
      's3cmd/site/index.html',
    ]);
    const ls = await s3cmd('ls', 's3://tools/s3cmd/site/');
    assert.match(
      ls.stdout,
      /DIR\s+s3:\/\/tools\/s3cmd\/site\/img\/\n.*\s16\s+s3:\/\/tools\/s3cmd\/site\/index.html/,
    );
    const buckets = await s3cmd('ls');
    assert.match(buckets.stdout, /s3:\/\/tools\n$/);
  });
});

process.on('exit', () => {
  if (process.exitCode) passed = false;
});
