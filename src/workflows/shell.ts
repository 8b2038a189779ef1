import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import { UserError } from '../core/errors.js';
import { launch } from './launcher.js';

/** Default time between SIGTERM and SIGKILL when a step is stopped; OPSBOX_KILL_GRACE_MS overrides it. */
export const DEFAULT_KILL_GRACE_MS = 5_000;

/** A line longer than this is split, so output without newlines cannot grow memory. */
const MAX_LINE_CHARS = 64 * 1024;

export interface ShellCommand {
  command: string;
  args: string[];
  extension: string;
}

/**
 * Maps `shell:` to a command line the way GitHub's runner does: no shell
 * means `bash -e` without pipefail, `bash` adds `--noprofile --norc` and
 * pipefail, and a custom shell is a command with `{0}` for the script path.
 */
export function resolveShell(shell: string | undefined): (script: string) => ShellCommand {
  const custom = (template: string, extension: string) => (script: string) => {
    const [command, ...args] = template.split(/\s+/).map((part) => part.replace('{0}', script));
    return { command: command!, args, extension };
  };
  switch (shell?.trim()) {
    case undefined:
    case '':
      return custom('bash -e {0}', '.sh');
    case 'bash':
      return custom('bash --noprofile --norc -eo pipefail {0}', '.sh');
    case 'sh':
      return custom('sh -e {0}', '.sh');
    case 'node':
      return (script) => ({ command: process.execPath, args: [script], extension: '.cjs' });
    case 'python':
      return custom('python3 {0}', '.py');
    default:
      if (!shell!.includes('{0}')) {
        throw new UserError(
          'invalid',
          `Unknown shell "${shell}": use bash, sh, node, python, or a command with {0} for the script path.`,
        );
      }
      return custom(shell!, '');
  }
}

export interface ShellOptions {
  script: string;
  shell?: string;
  /** File name for the script, without extension. */
  scriptPath: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  killGraceMs: number;
  onLine(text: string): void;
}

export interface ShellResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs a script in its own process group. When the signal aborts (timeout or
 * cancel), the whole group gets SIGTERM and, after the grace period, SIGKILL,
 * so children that ignore SIGTERM die too. When the script exits, anything it
 * left running in the background is killed as well, as GitHub's runner does.
 */
export async function runShell(options: ShellOptions): Promise<ShellResult> {
  const toCommand = resolveShell(options.shell);
  const probe = toCommand(options.scriptPath);
  const file = options.scriptPath + probe.extension;
  await writeFile(file, options.script, { mode: 0o700 });
  const { command, args } = toCommand(file);

  const streams = { 1: new LineSplitter(options.onLine), 2: new LineSplitter(options.onLine) };
  const launched = launch({
    command,
    args,
    cwd: options.cwd,
    env: options.env,
    onOutput: (chunk, fd) => streams[fd].push(chunk),
  });
  let killTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    launched.signal('SIGTERM');
    killTimer = setTimeout(() => launched.signal('SIGKILL'), options.killGraceMs);
  };
  if (options.signal.aborted) stop();
  else options.signal.addEventListener('abort', stop, { once: true });
  try {
    return await launched.result;
  } finally {
    clearTimeout(killTimer);
    options.signal.removeEventListener('abort', stop);
    streams[1].flush();
    streams[2].flush();
  }
}

/** Splits a byte stream into UTF-8 lines, cutting lines longer than MAX_LINE_CHARS. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    const received = this.partial + this.decoder.write(chunk);
    let start = 0;
    let newline = received.indexOf('\n');
    while (newline >= 0) {
      this.onLine(received.slice(start, newline).replace(/\r$/, ''));
      start = newline + 1;
      newline = received.indexOf('\n', start);
    }
    let text = received.slice(start);
    while (text.length > MAX_LINE_CHARS) {
      this.onLine(text.slice(0, MAX_LINE_CHARS));
      text = text.slice(MAX_LINE_CHARS);
    }
    this.partial = text;
  }

  flush(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.onLine(rest);
  }
}

export function killGraceMs(env = process.env): number {
  const value = Number(env.OPSBOX_KILL_GRACE_MS);
  return Number.isFinite(value) && value >= 0 ? value : DEFAULT_KILL_GRACE_MS;
}

/** Returns the path, without extension, of a step's script inside a run's temp folder. */
export function scriptPathFor(
  tempDir: string,
  jobIndex: number,
  stepNumber: number,
  attempt: number,
): string {
  return path.join(tempDir, `job${jobIndex}-step${stepNumber}-try${attempt}`);
}
