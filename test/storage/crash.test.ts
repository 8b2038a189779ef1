import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';

import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { BIN, runCli, tempDir } from '../helpers/cli.js';

const temp = tempDir('storage-crash');
let passed = false;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts `opsbox serve` as its own process, so the test can kill -9 it. */
async function serve(): Promise<{ child: ChildProcess; url: string }> {
  const [apiPort, s3Port] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [BIN, '--data-dir', temp.dir, 'serve', '--port', String(apiPort), '--s3-port', String(s3Port)],
    {
      env: { ...process.env, OPSBOX_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('S3 endpoint listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`opsbox serve exited with ${code}: ${output}`)));
  });
  return { child, url: `http://127.0.0.1:${s3Port}` };
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Peak resident memory of a process in MiB, from /proc (Linux). */
function peakRssMib(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

describe('crash safety and memory', () => {
  let running: { child: ChildProcess; url: string } | undefined;
  after(async () => {
    if (running) await killHard(running.child);
    temp.cleanup(passed);
  });

  it('keeps the old object when the server is killed mid-upload', async () => {
    const key = JSON.parse(
      runCli(['storage', 'key', 'create', 'crash', '--json'], { dataDir: temp.dir }).stdout,
    );
    running = await serve();
    const client = () =>
      new S3Client({
        endpoint: running!.url,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
        maxAttempts: 1,
      });
    const first = client();
    await first.send(new CreateBucketCommand({ Bucket: 'safe' }));
    const original = Buffer.alloc(3 * 1024 * 1024, 'o');
    await first.send(new PutObjectCommand({ Bucket: 'safe', Key: 'report.bin', Body: original }));

    // The replacement streams in slowly; the server dies after 2 MiB of it.
    const chunk = Buffer.alloc(256 * 1024, 'n');
    let sent = 0;
    const slow = new Readable({
      read() {
        if (sent >= 2 * 1024 * 1024) {
          void killHard(running!.child);
          return;
        }
        sent += chunk.length;
        setTimeout(() => this.push(chunk), 5);
      },
    });
    const upload = first.send(
      new PutObjectCommand({
        Bucket: 'safe',
        Key: 'report.bin',
        Body: slow,
        ContentLength: 3 * 1024 * 1024,
      }),
    );
    await assert.rejects(upload);
    first.destroy();
    const temps = readdirSync(path.join(temp.dir, 'buckets', 'safe', 'tmp'));
    assert.equal(temps.length, 1, 'the killed upload left only its temp file');

    // A version file no key points to, as a crash between rename and commit leaves.
    const orphan = path.join(temp.dir, 'buckets', 'safe', 'objects', 'ff', 'orphan.0');
    mkdirSync(path.dirname(orphan), { recursive: true });
    writeFileSync(orphan, 'left behind');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(orphan, twoHoursAgo, twoHoursAgo);

    running = await serve();
    const second = client();
    const get = await second.send(new GetObjectCommand({ Bucket: 'safe', Key: 'report.bin' }));
    const body = Buffer.from(await get.Body!.transformToByteArray());
    assert.equal(body.length, original.length);
    assert.equal(md5(body), md5(original));
    assert.deepEqual(
      readdirSync(path.join(temp.dir, 'buckets', 'safe', 'tmp')),
      [],
      'serve removes temp files left by a crash',
    );
    for (let attempt = 0; attempt < 50 && existsSync(orphan); attempt++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(existsSync(orphan), false, 'serve removes version files no key points to');
    second.destroy();
  });

  it('streams a 256 MiB object without buffering it', async () => {
    const { accessKeyId, secretAccessKey } = JSON.parse(
      runCli(['storage', 'key', 'create', 'memory', '--json'], { dataDir: temp.dir }).stdout,
    );
    const client = new S3Client({
      endpoint: running!.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
    });
    const size = 256 * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024, 'm');
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= size) return this.push(null);
        produced += block.length;
        this.push(block);
      },
    });
    const before = peakRssMib(running!.child.pid!);
    await client.send(
      new PutObjectCommand({ Bucket: 'safe', Key: 'huge.bin', Body: body, ContentLength: size }),
    );
    const get = await client.send(new GetObjectCommand({ Bucket: 'safe', Key: 'huge.bin' }));
    let received = 0;
    for await (const piece of get.Body as Readable) received += (piece as Buffer).length;
    assert.equal(received, size);
    const growth = peakRssMib(running!.child.pid!) - before;
    assert.ok(
      growth < 64,
      `the server's peak memory grew by ${growth.toFixed(1)} MiB for a 256 MiB object`,
    );
    client.destroy();
    passed = true;
  });
});
