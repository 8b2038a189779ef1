import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { Context } from '../../src/core/context.js';
import { startS3Server, type RunningS3Server } from '../../src/storage/http/server.js';
import { BIN, runCli, runCliAsync, tempDir } from '../helpers/cli.js';

const temp = tempDir('storage-cli');
const dataDir = path.join(temp.dir, 'data');
let passed = false;

function cli(args: string[], input?: string) {
  return runCli(args, { dataDir, input });
}

function json(args: string[]): any {
  const result = cli([...args, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

describe('storage CLI', () => {
  after(() => temp.cleanup(passed));

  it('creates, lists and deletes buckets', () => {
    assert.equal(json(['bucket', 'create', 'docs']).name, 'docs');
    assert.deepEqual(
      json(['bucket', 'list']).map((bucket: any) => [bucket.name, bucket.backend, bucket.location]),
      [['docs', 'local', 'local disk']],
    );
    const duplicate = cli(['bucket', 'create', 'docs']);
    assert.equal(duplicate.code, 5);
    assert.equal(
      duplicate.stderr,
      'opsbox: The bucket "docs" already exists. List buckets with `opsbox bucket list`.\n',
    );
    const invalid = cli(['bucket', 'create', 'No_Such']);
    assert.equal(invalid.code, 3);
    assert.match(invalid.stderr, /Invalid bucket name "No_Such"/);
  });

  it('puts, lists, gets and deletes objects', () => {
    const file = path.join(temp.dir, 'notes.txt');
    writeFileSync(file, 'meeting notes\n');
    const stored = json([
      'object',
      'put',
      'docs/2024/notes.txt',
      '--file',
      file,
      '--metadata',
      'author=ana',
    ]);
    assert.equal(stored.size, 14);
    assert.equal(stored.contentType, 'text/plain');
    assert.deepEqual(stored.metadata, { author: 'ana' });

    const piped = cli(['object', 'put', 'docs/2024/piped.bin', '--pipe'], 'from stdin');
    assert.equal(piped.code, 0, piped.stderr);

    const listed = json(['object', 'list', 'docs/2024/']);
    assert.deepEqual(
      listed.objects.map((object: any) => [object.key, object.size]),
      [
        ['2024/notes.txt', 14],
        ['2024/piped.bin', 10],
      ],
    );
    const grouped = json(['object', 'list', 'docs', '--delimiter', '/']);
    assert.deepEqual(grouped.commonPrefixes, ['2024/']);

    const printed = cli(['object', 'get', 'docs/2024/piped.bin']);
    assert.equal(printed.stdout, 'from stdin');
    const target = path.join(temp.dir, 'copy.txt');
    assert.equal(
      json(['object', 'get', 'docs/2024/notes.txt', '--file', target]).etag,
      stored.etag,
    );
    assert.equal(readFileSync(target, 'utf8'), 'meeting notes\n');

    const missing = cli(['object', 'get', 'docs/none']);
    assert.equal(missing.code, 4);
    assert.equal(
      missing.stderr,
      'opsbox: The object "none" does not exist in bucket "docs". List keys with `opsbox object list docs`.\n',
    );
    const notEmpty = cli(['bucket', 'delete', 'docs']);
    assert.equal(notEmpty.code, 5);

    assert.deepEqual(json(['object', 'delete', 'docs/2024/piped.bin']), {
      bucket: 'docs',
      key: '2024/piped.bin',
      deleted: true,
    });
    const refused = cli(['bucket', 'delete', 'docs', '--force']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /pass --yes to proceed/);
  });

  it('creates keys whose secret is shown once and stored sealed', () => {
    const created = json(['storage', 'key', 'create', 'deploy', '--bucket', 'docs', '--read-only']);
    assert.match(created.accessKeyId, /^OBX[A-Z2-7]{17}$/);
    assert.equal(created.secretAccessKey.length, 40);
    assert.deepEqual(created.buckets, ['docs']);
    assert.equal(created.readOnly, true);

    const listed = cli(['storage', 'key', 'list', '--json']);
    assert.ok(!listed.stdout.includes(created.secretAccessKey));
    assert.deepEqual(
      JSON.parse(listed.stdout).map((key: any) => key.name),
      ['deploy'],
    );
    const state = readFileSync(path.join(dataDir, 'state.db'));
    assert.ok(
      !state.includes(Buffer.from(created.secretAccessKey)),
      'the secret is not stored in plain text',
    );

    const unknownAction = cli(['storage', 'key', 'rotate']);
    assert.equal(unknownAction.code, 2);
    assert.deepEqual(json(['storage', 'key', 'revoke', 'deploy']).name, 'deploy');
    assert.equal(cli(['storage', 'key', 'revoke', 'deploy']).code, 4);
  });

  it('presigns a URL the endpoint accepts', async () => {
    json(['storage', 'key', 'create', 'writer']);
    const context = new Context({ dataDir });
    let server: RunningS3Server | undefined;
    try {
      server = await startS3Server(context, { host: '127.0.0.1', port: 0 });
      const put = await runCliAsync(
        [
          'object',
          'presign',
          'docs/shared.txt',
          '--method',
          'PUT',
          '--endpoint',
          server.url,
          '--expires',
          '60',
        ],
        { dataDir },
      );
      assert.equal(put.code, 0, put.stderr);
      const upload = await fetch(put.stdout.trim(), { method: 'PUT', body: 'shared via URL' });
      assert.equal(upload.status, 200);
      const get = await runCliAsync(
        ['object', 'presign', 'docs/shared.txt', '--endpoint', server.url, '--json'],
        { dataDir },
      );
      const download = await fetch(JSON.parse(get.stdout).url);
      assert.equal(await download.text(), 'shared via URL');
    } finally {
      await server?.stop();
      context.close();
    }
    const bad = cli(['object', 'presign', 'docs/x', '--expires', '999999']);
    assert.equal(bad.code, 2);
  });

  it('presigns for the running serve endpoint', async () => {
    const server = spawn(
      process.execPath,
      [BIN, '--data-dir', dataDir, 'serve', '--port', '0', '--s3-port', '0'],
      { env: { ...process.env, OPSBOX_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    try {
      const s3Url = await new Promise<string>((resolve, reject) => {
        let output = '';
        server.stderr.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /S3 endpoint listening on (http:\/\/\S+)/.exec(output);
          if (match) resolve(match[1]!);
        });
        server.once('exit', (code) =>
          reject(new Error(`opsbox serve exited with ${code}: ${output}`)),
        );
      });
      const put = await runCliAsync(
        ['object', 'presign', 'docs/served.txt', '--method', 'PUT', '--json'],
        { dataDir },
      );
      assert.equal(put.code, 0, put.stderr);
      assert.equal(put.stderr, '');
      const signed = JSON.parse(put.stdout) as { url: string; endpoint: string };
      assert.equal(signed.endpoint, s3Url);
      assert.ok(signed.url.startsWith(`${s3Url}/docs/served.txt?`), signed.url);
      const upload = await fetch(signed.url, { method: 'PUT', body: 'via serve' });
      assert.equal(upload.status, 200);
    } finally {
      await new Promise<void>((resolve) => {
        if (server.exitCode !== null) return resolve();
        server.once('exit', () => resolve());
        server.kill('SIGTERM');
      });
    }

    const fallback = cli(['object', 'presign', 'docs/served.txt']);
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.ok(fallback.stdout.startsWith('http://127.0.0.1:8788/docs/served.txt?'));
    assert.equal(
      fallback.stderr,
      'No `opsbox serve` is running on this data directory, so the URL points at its default endpoint http://127.0.0.1:8788. Pass --endpoint URL for another server.\n',
    );
  });

  it('rejects a presign endpoint that is no URL', () => {
    const result = cli(['object', 'presign', 'docs/x', '--endpoint', '127.0.0.1:9000']);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      'opsbox: Invalid --endpoint "127.0.0.1:9000": use an http:// or https:// URL such as http://127.0.0.1:8788.\n',
    );
  });

  it('deletes a bucket with its objects when forced', () => {
    assert.equal(json(['bucket', 'delete', 'docs', '--force', '--yes']).name, 'docs');
    assert.deepEqual(json(['bucket', 'list']), []);
    passed = true;
  });
});
