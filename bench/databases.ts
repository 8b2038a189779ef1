/**
 * Speed of `opsbox db` against the tools users compare it with, measured in
 * the same run so machine noise cancels out:
 *   1. execute --file (process start included) vs `sqlite3 db < file`;
 *   2. export vs `sqlite3 db .dump`;
 *   3. the HTTP query API vs a bare node:http + better-sqlite3 server, both
 *      answering a primary-key SELECT on Chinook to 50 concurrent clients.
 * Usage: npm run build && node dist/bench/databases.js [--seconds 20] [--runs 5]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import autocannon from 'autocannon';

import { BIN, ROOT, SHARED_DATA, compare, line, peakMemoryMiB, timeCommand } from './common.js';

const args = process.argv.slice(2);
const SECONDS = Number(args[args.indexOf('--seconds') + 1] || 20);
const RUNS = Number(args[args.indexOf('--runs') + 1] || 5);
const SCRIPTS = {
  chinook: path.join(SHARED_DATA, 'chinook', 'Chinook_Sqlite.sql'),
  northwind: path.join(SHARED_DATA, 'northwind', 'northwind.sql'),
};

const work = mkdtempSync(path.join(tmpdir(), 'opsbox-bench-db-'));
let counter = 0;

function opsbox(dataDir: string, ...rest: string[]): number {
  return timeCommand(process.execPath, [BIN, '--data-dir', dataDir, ...rest]);
}

function benchExecute(): void {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    const result = compare(
      RUNS,
      () => {
        const dataDir = path.join(work, `exec-${counter++}`);
        opsbox(dataDir, 'db', 'create', name);
        return opsbox(dataDir, 'db', 'execute', name, '--file', script);
      },
      () =>
        timeCommand('sqlite3', [path.join(work, `ref-${counter++}.db`)], {
          input: readFileSync(script),
        }),
    );
    line(
      `execute --file ${name}: opsbox / sqlite3 (goal <= 1.1)`,
      `${result.ratio.toFixed(2)}x  (${result.candidate.toFixed(0)} ms vs ${result.baseline.toFixed(0)} ms)`,
    );
  }
}

function benchExport(): void {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    const dataDir = path.join(work, `export-${name}`);
    opsbox(dataDir, 'db', 'import', name, script);
    const file = path.join(dataDir, 'databases', `${name}.sqlite`);
    const result = compare(
      RUNS,
      () =>
        opsbox(dataDir, 'db', 'export', name, '--output', path.join(work, `${name}-export.sql`)),
      () => timeCommand('sqlite3', [file, '.dump']),
    );
    line(
      `export ${name}: opsbox / sqlite3 .dump (goal <= 1.5)`,
      `${result.ratio.toFixed(2)}x  (${result.candidate.toFixed(0)} ms vs ${result.baseline.toFixed(0)} ms)`,
    );
  }
}

/** The baseline: node:http and better-sqlite3 with nothing else, in the same process. */
const BARE_SERVER = `
const http = require('node:http');
const Database = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'better-sqlite3'))});
const db = new Database(process.argv[2], { readonly: true });
const select = db.prepare('SELECT * FROM Track WHERE TrackId = ?');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString());
    const rows = select.all(...body.params);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ success: true, errors: [], messages: [], result: [{ results: rows, success: true, meta: {} }] }));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  stream: 'stdout' | 'stderr',
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    child[stream]!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = pattern.exec(text);
      if (match) resolve(match);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${text}`)));
  });
}

async function load(url: string, token: string | undefined): Promise<autocannon.Result> {
  let id = 0;
  return autocannon({
    url,
    connections: 50,
    duration: SECONDS,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({
            sql: 'SELECT * FROM Track WHERE TrackId = ?',
            params: [(id++ % 3503) + 1],
          }),
        }),
      },
    ],
  });
}

/** Sum of the peak memory of a process and its direct children (opsbox's query worker). */
function treePeakMiB(pid: number): number {
  const children = spawnSync('pgrep', ['-P', String(pid)])
    .stdout.toString()
    .split('\n')
    .filter(Boolean)
    .map(Number);
  return [pid, ...children].reduce((sum, child) => sum + peakMemoryMiB(child), 0);
}

async function benchHttp(): Promise<void> {
  const dataDir = path.join(work, 'http');
  opsbox(dataDir, 'db', 'import', 'chinook', SCRIPTS.chinook);
  const token = spawnSync(process.execPath, [
    BIN,
    '--data-dir',
    dataDir,
    'token',
    'create',
    'bench',
  ])
    .stdout.toString()
    .trim();

  const server = spawn(
    process.execPath,
    [BIN, '--data-dir', dataDir, 'serve', '--port', '0', '--s3-port', '0'],
    { env: { ...process.env, OPSBOX_LOG_LEVEL: 'warn' } },
  );
  const [, port] = await waitForLine(
    server,
    /API listening on http:\/\/127\.0\.0\.1:(\d+)/,
    'stderr',
  );
  const opsboxResult = await load(
    `http://127.0.0.1:${port}/client/v4/accounts/local/d1/database/chinook/query`,
    token,
  );
  const opsboxMemory = treePeakMiB(server.pid!);
  server.kill('SIGTERM');

  const bareFile = path.join(dataDir, 'databases', 'chinook.sqlite');
  writeFileSync(path.join(work, 'bare.cjs'), BARE_SERVER);
  const bare = spawn(process.execPath, [path.join(work, 'bare.cjs'), bareFile]);
  const [, barePort] = await waitForLine(bare, /^(\d+)\n/, 'stdout');
  const bareResult = await load(`http://127.0.0.1:${barePort}/`, undefined);
  const bareMemory = peakMemoryMiB(bare.pid!);
  bare.kill('SIGTERM');

  for (const [name, result] of [
    ['opsbox', opsboxResult],
    ['bare node:http', bareResult],
  ] as const) {
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${name}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  }
  const ratio = opsboxResult.requests.average / bareResult.requests.average;
  line(
    'HTTP query, 50 clients: opsbox / bare req/s (goal >= 0.8)',
    `${ratio.toFixed(2)}x  (${opsboxResult.requests.average.toFixed(0)} vs ${bareResult.requests.average.toFixed(0)} req/s)`,
  );
  line(
    '  opsbox latency p50 / p99',
    `${opsboxResult.latency.p50} ms / ${opsboxResult.latency.p99} ms`,
  );
  line('  bare latency p50 / p99', `${bareResult.latency.p50} ms / ${bareResult.latency.p99} ms`);
  line(
    '  peak memory opsbox (server + query worker) / bare',
    `${opsboxMemory.toFixed(0)} MiB / ${bareMemory.toFixed(0)} MiB`,
  );
}

try {
  const only = args.find((arg) => ['execute', 'export', 'http'].includes(arg));
  if (!only || only === 'execute') benchExecute();
  if (!only || only === 'export') benchExport();
  if (!only || only === 'http') await benchHttp();
} finally {
  rmSync(work, { recursive: true, force: true });
}
