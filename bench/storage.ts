/**
 * S3 endpoint benchmark: PUT and GET of 1 KiB, 1 MiB and 100 MiB objects
 * through the AWS SDK v3 (default settings, so CRC32 checksums on uploads)
 * against three servers, each in its own process on loopback:
 *
 * - opsbox: `opsbox serve` with SigV4, checksums, fsync and rename;
 * - s3rver 3.7.1 (npm), a common S3 test server: goal, opsbox at 3x its
 *   throughput or more on 1 MiB objects;
 * - a bare node:http server that streams each request body to a file and
 *   each file back, with no auth, hashing or fsync: goal, opsbox at 60% of
 *   its throughput or more on 100 MiB objects.
 *
 * Prints MiB/s and operations per second per server, the server's CPU time
 * per operation (read from /proc, so Linux only), the ratios and each
 * server's peak memory. The client shares the machine with the servers, so
 * on a small machine it can limit the rate of 1 KiB objects. The CPU time
 * per operation still compares the servers there.
 * Run with `npm run build && node dist/bench/storage.js`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { BIN, line, peakMemoryMiB } from './common.js';

const MIB = 1024 * 1024;
const SIZES = [
  { label: '1 KiB', bytes: 1024, count: Number(process.env.BENCH_SMALL ?? 1000), parallel: 8 },
  { label: '1 MiB', bytes: MIB, count: Number(process.env.BENCH_MEDIUM ?? 200), parallel: 8 },
  { label: '100 MiB', bytes: 100 * MIB, count: Number(process.env.BENCH_LARGE ?? 4), parallel: 1 },
];

interface Server {
  name: string;
  child: ChildProcess;
  client: S3Client;
}

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

/** Spawns a server process and waits until it prints `marker`. */
function start(
  command: string,
  args: string[],
  marker: string,
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(marker)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}: ${output}`)));
  });
}

function client(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
}

async function startOpsbox(dir: string): Promise<Server> {
  const dataDir = path.join(dir, 'opsbox');
  const created = spawn(
    process.execPath,
    [BIN, '--data-dir', dataDir, 'storage', 'key', 'create', 'bench', '--json'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  created.stdout!.on('data', (chunk) => (output += chunk));
  await new Promise((resolve) => created.once('close', resolve));
  const key = JSON.parse(output);
  const [apiPort, s3Port] = [await freePort(), await freePort()];
  const child = await start(
    process.execPath,
    [BIN, '--data-dir', dataDir, 'serve', '--port', String(apiPort), '--s3-port', String(s3Port)],
    'S3 endpoint listening',
    { OPSBOX_LOG_LEVEL: 'warn' },
  );
  return {
    name: 'opsbox',
    child,
    client: client(`http://127.0.0.1:${s3Port}`, key.accessKeyId, key.secretAccessKey),
  };
}

async function startS3rver(dir: string): Promise<Server> {
  const port = await freePort();
  const child = await start(
    process.execPath,
    [fileURLToPath(import.meta.url), '--s3rver', String(port), path.join(dir, 's3rver')],
    'ready',
  );
  return { name: 's3rver', child, client: client(`http://127.0.0.1:${port}`, 'S3RVER', 'S3RVER') };
}

async function startBare(dir: string): Promise<Server> {
  const port = await freePort();
  const child = await start(
    process.execPath,
    [fileURLToPath(import.meta.url), '--bare', String(port), path.join(dir, 'bare')],
    'ready',
  );
  return {
    name: 'bare node:http',
    child,
    client: client(`http://127.0.0.1:${port}`, 'bare', 'bare'),
  };
}

/** CPU time (user + system) a process has used so far, in milliseconds, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Runs `count` operations with at most `parallel` at once; returns MiB/s. */
async function throughput(
  count: number,
  parallel: number,
  bytes: number,
  operation: (index: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let index = next++; index < count; index = next++) await operation(index);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return (count * bytes) / MIB / seconds;
}

interface Measured {
  put: number;
  get: number;
  /** Server CPU milliseconds per PUT and per GET. */
  putCpu: number;
  getCpu: number;
}

async function measure(
  server: Server,
  body: Buffer,
  size: (typeof SIZES)[number],
): Promise<Measured> {
  const key = (index: number) => `${size.label.replace(' ', '')}/${index % 50}`;
  const pid = server.child.pid!;
  const cpuBefore = cpuMs(pid);
  const put = await throughput(size.count, size.parallel, size.bytes, async (index) => {
    await server.client.send(
      new PutObjectCommand({ Bucket: 'bench', Key: key(index), Body: body }),
    );
  });
  const cpuMiddle = cpuMs(pid);
  const get = await throughput(size.count, size.parallel, size.bytes, async (index) => {
    const response = await server.client.send(
      new GetObjectCommand({ Bucket: 'bench', Key: key(index % Math.min(size.count, 50)) }),
    );
    for await (const _chunk of response.Body as AsyncIterable<Buffer>) {
      // Drain the body; only the time counts.
    }
  });
  const cpuAfter = cpuMs(pid);
  return {
    put,
    get,
    putCpu: (cpuMiddle - cpuBefore) / size.count,
    getCpu: (cpuAfter - cpuMiddle) / size.count,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'opsbox-bench-storage-'));
  const servers = [await startOpsbox(dir), await startS3rver(dir), await startBare(dir)];
  try {
    for (const server of servers)
      await server.client.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const results = new Map<string, Map<string, Measured>>();
    for (const size of SIZES) {
      const body = Buffer.alloc(size.bytes, 7);
      const row = new Map<string, Measured>();
      for (const server of servers) row.set(server.name, await measure(server, body, size));
      results.set(size.label, row);
    }

    for (const size of SIZES) {
      for (const [name, result] of results.get(size.label)!) {
        const ops = (mibPerSecond: number) => ((mibPerSecond * MIB) / size.bytes).toFixed(0);
        line(
          `${size.label} ${name}`,
          `PUT ${result.put.toFixed(1)} MiB/s ${ops(result.put)}/s ${result.putCpu.toFixed(1)} ms CPU | GET ${result.get.toFixed(1)} MiB/s ${ops(result.get)}/s ${result.getCpu.toFixed(1)} ms CPU`,
        );
      }
    }
    line('(per operation: server CPU time in ms; the client is this process)', '');
    const ratio = (size: string, other: string, op: 'put' | 'get') =>
      results.get(size)!.get('opsbox')![op] / results.get(size)!.get(other)![op];
    line(
      '1 MiB opsbox / s3rver (goal >= 3)',
      `PUT ${ratio('1 MiB', 's3rver', 'put').toFixed(2)}x, GET ${ratio('1 MiB', 's3rver', 'get').toFixed(2)}x`,
    );
    line(
      '100 MiB opsbox / bare node:http (goal >= 0.60)',
      `PUT ${ratio('100 MiB', 'bare node:http', 'put').toFixed(2)}, GET ${ratio('100 MiB', 'bare node:http', 'get').toFixed(2)}`,
    );
    for (const server of servers)
      line(`peak memory ${server.name}`, `${peakMemoryMiB(server.child.pid!).toFixed(0)} MiB`);
    line(
      'peak memory of the client (this process)',
      `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
    );
  } finally {
    for (const server of servers) {
      server.client.destroy();
      server.child.kill('SIGTERM');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** s3rver in a child process, so its memory and CPU are its own. */
async function runS3rver(port: number, directory: string): Promise<void> {
  const { default: S3rver } = await import('s3rver' as string);
  mkdirSync(directory, { recursive: true });
  await new S3rver({ port, address: '127.0.0.1', silent: true, directory }).run();
  process.stdout.write('ready\n');
}

/** Serves the baseline: streams PUT bodies to files and files back, with nothing else. */
function runBare(port: number, directory: string): void {
  mkdirSync(directory, { recursive: true });
  const server = createHttpServer(async (req, res) => {
    const file = path.join(directory, encodeURIComponent(req.url!.split('?')[0]!));
    try {
      if (req.method === 'PUT') {
        await pipeline(req, createWriteStream(file));
        res.writeHead(200, { etag: '"0"' }).end();
      } else if (req.method === 'GET') {
        res.writeHead(200);
        await pipeline(createReadStream(file, { highWaterMark: MIB }), res);
      } else {
        // CreateBucket and anything else succeed with an empty response.
        req.resume();
        res.writeHead(200).end();
      }
    } catch {
      res.destroy();
    }
  });
  server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
}

const [mode, port, directory] = process.argv.slice(2);
if (mode === '--s3rver') await runS3rver(Number(port), directory!);
else if (mode === '--bare') runBare(Number(port), directory!);
else await main();
