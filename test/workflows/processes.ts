import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { BIN, runCli } from '../helpers/cli.js';

export interface Server {
  child: ChildProcess;
  url: string;
}

/** Starts `opsbox serve` on free loopback ports and waits for its banner. */
export async function startServe(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<Server> {
  const help = runCli(['serve', '--help']).stdout;
  const extra = help.includes('--s3-port') ? ['--s3-port', '0'] : [];
  const child = spawn(
    process.execPath,
    [BIN, '--data-dir', dataDir, 'serve', '--host', '127.0.0.1', '--port', '0', ...extra],
    {
      env: { ...process.env, OPSBOX_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 15_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /API listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return { child, url };
}

export async function waitFor<T>(
  read: () => Promise<T | undefined>,
  description: string,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await sleep(100);
  }
}

/** Returns whether a process has ended; a zombie waiting for init to reap it has ended. */
export function processGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return true;
  }
}
