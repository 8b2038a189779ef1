import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { FastifyInstance } from 'fastify';

import { Context } from '../../src/core/context.js';
import { TokenService } from '../../src/core/tokens.js';
import { D1_LIMITS } from '../../src/databases/limits.js';
import { buildApp } from '../../src/server/app.js';
import { prepareDemo } from '../../src/server/demo.js';
import { runCli, tempDir } from '../helpers/cli.js';

const temp = tempDir('db-api');
const context = new Context({ dataDir: path.join(temp.dir, 'data') });
let app: FastifyInstance;
let base: string;
let token: string;

async function call(method: string, url: string, body?: unknown, auth = token) {
  const response = await fetch(base + url, {
    method,
    headers: {
      authorization: `Bearer ${auth}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

async function callJson(method: string, url: string, body?: unknown) {
  const { status, text } = await call(method, url, body);
  return { status, json: JSON.parse(text) };
}

const D1 = '/client/v4/accounts/local/d1/database';

before(async () => {
  await prepareDemo(context);
  token = (await new TokenService(context).create('tests')).token;
  app = await buildApp(context);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as { port: number };
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await app.close();
  context.close();
});

describe('auth', () => {
  test('requests without a valid token get 401', async () => {
    const missing = await fetch(base + D1);
    assert.equal(missing.status, 401);
    const body = (await missing.json()) as { success: boolean; errors: { code: number }[] };
    assert.equal(body.success, false);
    assert.equal(body.errors[0].code, 10000);
    const wrong = await call('GET', D1, undefined, 'obx_wrong');
    assert.equal(wrong.status, 401);
  });

  test('health needs no token and reveals nothing', async () => {
    const response = await fetch(`${base}/health`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true });
  });

  test('revoked token stops working', async () => {
    const tokens = new TokenService(context);
    const extra = (await tokens.create('short-lived')).token;
    assert.equal((await call('GET', D1, undefined, extra)).status, 200);
    await tokens.revoke('short-lived');
    assert.equal((await call('GET', D1, undefined, extra)).status, 401);
  });
});

describe('errors', () => {
  test('errors carry a numeric code and a type', async () => {
    const route = await callJson('GET', '/client/v4/nope');
    assert.equal(route.status, 404);
    assert.deepEqual(route.json.errors, [
      { code: 7000, message: 'No route for GET /client/v4/nope.', type: 'ROUTE_NOT_FOUND' },
    ]);

    const missing = await callJson('GET', `${D1}/no-such-db`);
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json.errors, [
      {
        code: 8004,
        message:
          'Database "no-such-db" not found. List databases with `opsbox db list`, or create it with `opsbox db create no-such-db`.',
        type: 'DATABASE_NOT_FOUND',
      },
    ]);

    const response = await fetch(`${base}${D1}/chinook/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"sql": ',
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { errors: { code: number; type: string }[] };
    assert.equal(body.errors[0]!.code, 8003);
    assert.equal(body.errors[0]!.type, 'FST_ERR_CTP_INVALID_JSON_BODY');
  });
});

describe('databases', () => {
  test('create, list, get and delete in the Cloudflare envelope', async () => {
    const created = await callJson('POST', D1, { name: 'api-made' });
    assert.equal(created.status, 200);
    assert.deepEqual(Object.keys(created.json).sort(), ['errors', 'messages', 'result', 'success']);
    assert.equal(created.json.result.name, 'api-made');
    const uuid = created.json.result.uuid;

    const listed = await callJson('GET', D1);
    assert.deepEqual(
      listed.json.result.map((d: { name: string }) => d.name),
      ['api-made', 'chinook'],
    );
    assert.equal(listed.json.result_info.total_count, 2);

    const got = await callJson('GET', `${D1}/chinook`);
    assert.equal(got.json.result.num_tables, 11);
    assert.equal(got.json.result.file_size > 800_000, true);

    assert.equal((await callJson('DELETE', `${D1}/${uuid}`)).json.success, true);
    const gone = await callJson('GET', `${D1}/${uuid}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.json.success, false);
  });

  test('list pages and rejects out-of-range paging', async () => {
    const page = await callJson('GET', `${D1}?page=2&per_page=10`);
    assert.equal(page.status, 200);
    assert.deepEqual(page.json.result, []);
    assert.deepEqual(page.json.result_info, {
      page: 2,
      per_page: 10,
      count: 0,
      total_count: 1,
    });

    const cases: [string, string][] = [
      ['per_page=0', 'Invalid per_page "0": use a whole number from 10 to 10000.'],
      ['per_page=10001', 'Invalid per_page "10001": use a whole number from 10 to 10000.'],
      ['per_page=ten', 'Invalid per_page "ten": use a whole number from 10 to 10000.'],
      ['page=-1', 'Invalid page "-1": use a whole number of 1 or more.'],
      ['page=0', 'Invalid page "0": use a whole number of 1 or more.'],
      ['page=1.5', 'Invalid page "1.5": use a whole number of 1 or more.'],
    ];
    for (const [query, message] of cases) {
      const result = await callJson('GET', `${D1}?${query}`);
      assert.equal(result.status, 400, query);
      assert.equal(result.json.success, false, query);
      assert.deepEqual(result.json.errors, [{ code: 7400, message }], query);
      assert.equal(result.json.result, null, query);
    }
  });

  test('invalid name is rejected', async () => {
    const result = await callJson('POST', D1, { name: '../etc' });
    assert.equal(result.status, 400);
    assert.match(result.json.errors[0].message, /Invalid database name "\.\.\/etc"/);
  });
});

describe('query', () => {
  test('query returns rows as objects with meta', async () => {
    const { status, json } = await callJson('POST', `${D1}/chinook/query`, {
      sql: 'SELECT TrackId, Name FROM Track WHERE TrackId = ?',
      params: [1],
    });
    assert.equal(status, 200);
    assert.equal(json.success, true);
    assert.deepEqual(json.result[0].results, [
      { TrackId: 1, Name: 'For Those About To Rock (We Salute You)' },
    ]);
    assert.equal(json.result[0].meta.rows_read, 1);
    assert.equal(json.result[0].meta.changed_db, false);
  });

  test('raw returns columns and rows', async () => {
    const { json } = await callJson('POST', `${D1}/chinook/raw`, {
      sql: 'SELECT GenreId, Name FROM Genre ORDER BY GenreId LIMIT 2',
    });
    assert.deepEqual(json.result[0].results, {
      columns: ['GenreId', 'Name'],
      rows: [
        [1, 'Rock'],
        [2, 'Jazz'],
      ],
    });
  });

  test('batch is one transaction', async () => {
    await callJson('POST', `${D1}/chinook/query`, {
      sql: 'CREATE TABLE audit(n INTEGER NOT NULL)',
    });
    const failed = await callJson('POST', `${D1}/chinook/query`, {
      batch: [
        { sql: 'INSERT INTO audit VALUES (?)', params: [1] },
        { sql: 'INSERT INTO audit VALUES (NULL)' },
      ],
    });
    assert.equal(failed.status, 400);
    assert.match(
      failed.json.errors[0].message,
      /^D1_ERROR: .*NOT NULL constraint failed: audit\.n/,
    );
    const count = await callJson('POST', `${D1}/chinook/query`, {
      sql: 'SELECT count(*) AS n FROM audit',
    });
    assert.equal(count.json.result[0].results[0].n, 0);

    const okBatch = await callJson('POST', `${D1}/chinook/query`, {
      batch: [
        { sql: 'INSERT INTO audit VALUES (?)', params: [1] },
        { sql: 'INSERT INTO audit VALUES (?)', params: [2] },
      ],
    });
    assert.equal(okBatch.json.result.length, 2);
    assert.equal(okBatch.json.result[1].meta.last_row_id, 2);
  });

  test('several statements in one sql string', async () => {
    const { json } = await callJson('POST', `${D1}/chinook/query`, {
      sql: 'SELECT 1 AS a; SELECT 2 AS b',
    });
    assert.deepEqual(
      json.result.map((r: { results: unknown[] }) => r.results),
      [[{ a: 1 }], [{ b: 2 }]],
    );
  });

  test('big integers, BLOBs, NULL and empty strings', async () => {
    const { text } = await call('POST', `${D1}/chinook/query`, {
      sql: "SELECT 9223372036854775807 AS big, x'0001ff' AS blob, NULL AS none, '' AS empty",
    });
    assert.match(text, /"big":9223372036854775807,/);
    const json = JSON.parse(text);
    assert.deepEqual(json.result[0].results[0].blob, [0, 1, 255]);
    assert.equal(json.result[0].results[0].none, null);
    assert.equal(json.result[0].results[0].empty, '');
  });

  test('BLOB and boolean parameters', async () => {
    const { json } = await callJson('POST', `${D1}/chinook/query`, {
      sql: 'SELECT hex(?) AS h, ? AS t',
      params: [[1, 2, 255], true],
    });
    assert.deepEqual(json.result[0].results, [{ h: '0102FF', t: 1 }]);
  });

  test('ATTACH and VACUUM INTO are rejected', async () => {
    for (const sql of [
      'ATTACH DATABASE ? AS other',
      '/* hidden */ ATTACH ? AS other',
      "VACUUM INTO '/tmp/opsbox-escape.db'",
    ]) {
      const params = sql.includes('?') ? [path.join(temp.dir, 'data', 'state.db')] : undefined;
      const { status, json } = await callJson('POST', `${D1}/chinook/query`, { sql, params });
      assert.equal(status, 400, sql);
      assert.match(
        json.errors[0].message,
        /not authorized: ATTACH, DETACH and VACUUM are not allowed/,
        sql,
      );
    }
    const batch = await callJson('POST', `${D1}/chinook/query`, {
      batch: [{ sql: '-- x\nDETACH other' }],
    });
    assert.equal(batch.status, 400);
  });

  test('RETURNING reports its changes', async () => {
    await callJson('POST', `${D1}/chinook/query`, {
      sql: 'CREATE TABLE returned(id INTEGER PRIMARY KEY, n TEXT)',
    });
    const { json } = await callJson('POST', `${D1}/chinook/query`, {
      sql: 'INSERT INTO returned(n) VALUES (?), (?) RETURNING id',
      params: ['a', 'b'],
    });
    assert.deepEqual(json.result[0].results, [{ id: 1 }, { id: 2 }]);
    assert.equal(json.result[0].meta.changes, 2);
    assert.equal(json.result[0].meta.last_row_id, 2);
    assert.equal(json.result[0].meta.changed_db, true);
  });

  test('transaction statements are rejected', async () => {
    const { status, json } = await callJson('POST', `${D1}/chinook/query`, {
      sql: 'BEGIN TRANSACTION',
    });
    assert.equal(status, 400);
    assert.match(json.errors[0].message, /transaction control statements/);
  });
});

describe('limits', () => {
  test('statement length', async () => {
    const sql = `SELECT '${'x'.repeat(D1_LIMITS.statementBytes)}'`;
    const { status, json } = await callJson('POST', `${D1}/chinook/query`, { sql });
    assert.equal(status, 413);
    assert.equal(json.errors[0].code, 7500);
    assert.match(
      json.errors[0].message,
      /^D1_ERROR: statement too long: 100009 bytes, the limit is 100000/,
    );
  });

  test('bound parameters', async () => {
    const params = Array.from({ length: 101 }, (_, i) => i);
    const { status, json } = await callJson('POST', `${D1}/chinook/query`, {
      sql: `SELECT ${params.map(() => '?').join(',')}`,
      params,
    });
    assert.equal(status, 413);
    assert.match(
      json.errors[0].message,
      /too many SQL variables: 101 bound parameters, the limit is 100/,
    );
  });

  test('value size', async () => {
    const { status, json } = await callJson('POST', `${D1}/chinook/query`, {
      sql: 'SELECT ?',
      params: ['y'.repeat(D1_LIMITS.valueBytes + 1)],
    });
    assert.equal(status, 413);
    assert.match(json.errors[0].message, /string or blob too big: parameter 1 has 2000001 bytes/);
  });

  test('a slow query times out without blocking other databases', async () => {
    const saved = D1_LIMITS.queryTimeoutMs;
    D1_LIMITS.queryTimeoutMs = 3000;
    try {
      await callJson('POST', D1, { name: 'other' });
      // Start the other database's query process before the race.
      await callJson('POST', `${D1}/other/query`, { sql: 'SELECT 1' });
      let slowSettled = false;
      // A recursive CTE that runs far longer than the limit.
      const slow = callJson('POST', `${D1}/chinook/query`, {
        sql: 'WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c',
      }).finally(() => (slowSettled = true));
      const quick = await callJson('POST', `${D1}/other/query`, { sql: 'SELECT 42 AS answer' });
      assert.deepEqual(quick.json.result[0].results, [{ answer: 42 }]);
      assert.equal(slowSettled, false, 'the other database answered while the slow query ran');

      const timedOut = await slow;
      assert.equal(timedOut.status, 504);
      assert.match(timedOut.json.errors[0].message, /query exceeded the time limit of 3000 ms/);
      const after = await callJson('POST', `${D1}/chinook/query`, {
        sql: 'SELECT count(*) AS n FROM Track',
      });
      assert.equal(after.json.result[0].results[0].n, 3503);
    } finally {
      D1_LIMITS.queryTimeoutMs = saved;
    }
  });
});

describe('serve', () => {
  test('refuses a non-loopback address without tokens', () => {
    const result = runCli(['serve', '--host', '0.0.0.0', '--port', '0'], {
      dataDir: path.join(temp.dir, 'empty'),
    });
    assert.equal(result.code, 8);
    assert.match(
      result.stderr,
      /Refusing to listen on 0\.0\.0\.0, a non-loopback address, while no API token exists/,
    );
  });
});
