import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Context } from '../../src/core/context.js';
import { SecretStore } from '../../src/secrets/store.js';
import { startCluster, type TestCluster } from '../postgres/cluster.js';
import { tempDir } from '../helpers/cli.js';
import { output, runYaml } from './helpers.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe('built-in actions', () => {
  const temp = tempDir('actions');
  let context: Context;
  let server: Server;
  let base: string;
  let cluster: TestCluster;
  const received: Received[] = [];
  let passed = false;

  before(async () => {
    context = new Context({ dataDir: path.join(temp.dir, 'data') });
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          method: request.method!,
          url: request.url!,
          headers: request.headers,
          body: Buffer.concat(chunks).toString(),
        });
        const status = request.url === '/broken' ? 500 : 200;
        response.writeHead(status, { 'content-type': 'application/json', 'x-test': 'yes' });
        response.end(JSON.stringify({ ok: status === 200, path: request.url }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    cluster = await startCluster(temp.dir, 'pg');
  });

  after(async () => {
    await cluster?.stop();
    await new Promise((resolve) => server.close(resolve));
    context.close();
    temp.cleanup(passed);
  });

  it('http/request sends the request and returns status, headers and body', async () => {
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  a:
    steps:
      - id: call
        uses: http/request
        with:
          url: ${base}/items?id=7
          method: post
          headers: '{"x-api-key": "k1"}'
          body: hello
      - run: echo '\${{ steps.call.outputs.status }} \${{ fromJSON(steps.call.outputs.headers).x-test }} \${{ fromJSON(steps.call.outputs.body).path }}'
`,
    );
    assert.equal(result.run.status, 'success', result.log.join('\n'));
    assert.equal(received[0]!.method, 'POST');
    assert.equal(received[0]!.url, '/items?id=7');
    assert.equal(received[0]!.headers['x-api-key'], 'k1');
    assert.equal(received[0]!.body, 'hello');
    assert.deepEqual(output(result, 'a'), [
      `POST ${base}/items?id=7 -> 200 OK (32 characters)`,
      '200 yes /items?id=7',
    ]);
  });

  it('http/request fails on an error status unless told not to', async () => {
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  a:
    steps:
      - uses: http/request
        with:
          url: ${base}/broken
  b:
    steps:
      - id: call
        uses: http/request
        with:
          url: ${base}/broken
          fail-on-error: false
      - run: echo "status \${{ steps.call.outputs.status }}"
`,
    );
    assert.deepEqual(
      result.jobs.map((job) => [job.key, job.status]),
      [
        ['a', 'failure'],
        ['b', 'success'],
      ],
    );
    assert.equal(
      result.steps[0]!.error,
      `GET ${base}/broken returned 500 Internal Server Error; set fail-on-error: false to continue anyway.`,
    );
    assert.deepEqual(output(result, 'b').slice(-1), ['status 500']);
  });

  it('notify/webhook posts the message as JSON', async () => {
    received.length = 0;
    new SecretStore(context).set('HOOK_URL', `${base}/hooks/T1`);
    const result = await runYaml(
      context,
      `on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - uses: notify/webhook\n        with:\n          url: \${{ secrets.HOOK_URL }}\n          message: "backup of \${{ github.workflow }} done"\n`,
      { name: 'notify' },
    );
    assert.equal(result.run.status, 'success', result.log.join('\n'));
    assert.equal(received[0]!.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(received[0]!.body), {
      text: 'backup of notify done',
      content: 'backup of notify done',
    });
  });

  it('pg/dump and pg/doctor run on a real PostgreSQL 15 cluster', async () => {
    await cluster.psql(
      'CREATE TABLE accounts (id int PRIMARY KEY, name text); INSERT INTO accounts VALUES (1, $$ada$$), (2, $$grace$$);',
    );
    new SecretStore(context).set('PG_URL', cluster.url());
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  a:
    steps:
      - id: dump
        uses: pg/dump
        with:
          url: \${{ secrets.PG_URL }}
          output: dumps/app.sql
          format: plain
      - run: echo "\${{ steps.dump.outputs.tables }} table(s), path \${{ steps.dump.outputs.path }}"
      - id: doctor
        uses: pg/doctor
        with:
          url: \${{ secrets.PG_URL }}
          checks: maintenance.wraparound,activity.blocked
      - run: echo "doctor \${{ steps.doctor.outputs.status }}"
`,
    );
    assert.equal(result.run.status, 'success', result.log.join('\n'));
    const dumpPath = path.join(context.dataDir.root, 'workspace', 'dumps', 'app.sql');
    const lines = output(result, 'a');
    assert.ok(lines.includes(`1 table(s), path ${dumpPath}`), lines.join('\n'));
    assert.match(
      readFileSync(dumpPath, 'utf8'),
      /COPY public\.accounts \(id, name\) FROM stdin;\n1\tada\n2\tgrace\n\\\.\n/,
    );
    assert.ok(!result.log.join('\n').includes('test-superuser-secret'));
    assert.equal(lines[lines.length - 1], 'doctor ok');
    assert.match(
      result.run.summary!,
      /^### PostgreSQL doctor: ok\n\nServer 15\.\d+ .*, database postgres\.\n\n\| check \| status \|\n\| --- \| --- \|\n(\| [^|]+ \| ok \|\n){2}$/,
    );
    passed = true;
  });
});
