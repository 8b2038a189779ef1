import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

import type { DataDir } from '../core/data-dir.js';

/** The S3 endpoint of `opsbox serve` with its default host and `--s3-port`. */
export const DEFAULT_S3_ENDPOINT = 'http://127.0.0.1:8788';

/** File in the data directory where a running `opsbox serve` records its S3 endpoint. */
const RECORD_FILE = 's3-endpoint.json';

interface EndpointRecord {
  url: string;
  pid: number;
}

/**
 * Returns the URL a client on this machine uses to reach a server listening
 * on `host`. An unspecified address (0.0.0.0, ::) accepts loopback
 * connections, and a presigned URL must name one concrete host.
 */
export function clientUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `http://127.0.0.1:${port}`;
  if (host === '::') return `http://[::1]:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Records the S3 endpoint of this process in the data directory, so that
 * `opsbox object presign` points at it. Returns a function that removes the
 * record unless another process has replaced it meanwhile.
 */
export function recordS3Endpoint(dataDir: DataDir, url: string): () => void {
  const file = dataDir.path(RECORD_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  const record: EndpointRecord = { url, pid: process.pid };
  // Written aside and renamed, so a reader never sees half a record.
  writeFileSync(temp, JSON.stringify(record) + '\n');
  renameSync(temp, file);
  return () => {
    if (readRecord(file)?.pid === process.pid) rmSync(file, { force: true });
  };
}

/**
 * Returns the S3 endpoint recorded by an `opsbox serve` that is still running
 * on this data directory. A record left by a killed server is ignored.
 * NOTE: when the killed server's process id has been reused by another
 * process, the stale record is still returned.
 */
export function recordedS3Endpoint(dataDir: DataDir): string | undefined {
  const record = readRecord(dataDir.path(RECORD_FILE));
  if (!record || !processExists(record.pid)) return undefined;
  return record.url;
}

function readRecord(file: string): EndpointRecord | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const record = JSON.parse(text) as Partial<EndpointRecord>;
    if (typeof record.url === 'string' && Number.isInteger(record.pid)) {
      return record as EndpointRecord;
    }
  } catch {
    // A file that does not parse is treated like a missing one.
  }
  return undefined;
}

/** Checks with signal 0 whether a process exists. EPERM means it runs as another user. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
