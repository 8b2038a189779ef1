import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { UserError } from '../core/errors.js';

export type LauncherRequest =
  | { t: 'spawn'; id: number; command: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv }
  | { t: 'signal'; id: number; signal: NodeJS.Signals };

export type LauncherReply =
  | { t: 'spawned'; id: number; pid: number }
  | { t: 'out'; id: number; fd: 1 | 2; data: Uint8Array }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'error'; id: number; code: string; message: string };

export interface LaunchRequest {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Receives stdout (1) and stderr (2) chunks, in the order they were read. */
  onOutput(chunk: Buffer, fd: 1 | 2): void;
}

export interface LaunchedProcess {
  /** Settles when the process exited and its output was delivered. */
  result: Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal to the process's whole group. */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts a step process in a new process group, through the launcher helper
 * unless OPSBOX_STEP_LAUNCHER=direct. Spawn failures become UserErrors that
 * name the missing or unusable command.
 */
export function launch(request: LaunchRequest): LaunchedProcess {
  if (process.env.OPSBOX_STEP_LAUNCHER === 'direct') return launchDirect(request);
  return helper().launch(request);
}

function spawnError(command: string, code: string, message: string): Error {
  if (code === 'ENOENT')
    return new UserError(
      'unavailable',
      `Cannot run the step: "${command}" was not found on PATH. Install it or pick another shell.`,
    );
  if (code === 'EACCES')
    return new UserError('permission', `Cannot run the step with "${command}": ${message}.`);
  return new Error(`Cannot run the step with "${command}": ${message}`);
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Spawns from this process: simpler, but each fork copies this process's page tables. */
function launchDirect(request: LaunchRequest): LaunchedProcess {
  const child = spawn(request.command, request.args, {
    cwd: request.cwd,
    env: request.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => request.onOutput(chunk, 1));
  child.stderr.on('data', (chunk: Buffer) => request.onOutput(chunk, 2));
  const result = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      let open = 2;
      let exit: { exitCode: number | null; signal: NodeJS.Signals | null } | undefined;
      const finish = () => {
        if (exit && open === 0) resolve(exit);
      };
      for (const stream of [child.stdout, child.stderr]) {
        stream.on('close', () => {
          open--;
          finish();
        });
      }
      child.on('error', (error: NodeJS.ErrnoException) =>
        reject(spawnError(request.command, error.code ?? 'UNKNOWN', error.message)),
      );
      child.on('exit', (code, signal) => {
        exit = { exitCode: code, signal };
        // Background children still hold the pipes open; end them with the step.
        signalGroup(child.pid, 'SIGKILL');
        finish();
      });
    },
  );
  return { result, signal: (signal) => signalGroup(child.pid, signal) };
}

interface Pending {
  request: LaunchRequest;
  pid?: number;
  resolve(value: { exitCode: number | null; signal: NodeJS.Signals | null }): void;
  reject(error: Error): void;
}

/** The connection to one launcher helper process, restarted when it dies. */
class LauncherHelper {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  launch(request: LaunchRequest): LaunchedProcess {
    const child = this.connect();
    const id = this.nextId++;
    const result = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        this.pending.set(id, { request, resolve, reject });
      },
    );
    this.setRef(true);
    child.send({
      t: 'spawn',
      id,
      command: request.command,
      args: request.args,
      cwd: request.cwd,
      env: request.env,
    } satisfies LauncherRequest);
    return {
      result,
      signal: (signal) => {
        if (this.child?.connected)
          this.child.send({ t: 'signal', id, signal } satisfies LauncherRequest);
        else signalGroup(this.pending.get(id)?.pid, signal);
      },
    };
  }

  private connect(): ChildProcess {
    if (this.child?.connected) return this.child;
    const entry = fileURLToPath(new URL('./launcher-process.js', import.meta.url));
    const child = fork(entry, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
    });
    child.on('message', (reply: LauncherReply) => this.receive(reply));
    child.on('exit', () => this.helperExited(child));
    // A failed fork (EAGAIN, ENOMEM) fails the pending steps like a helper that died.
    child.on('error', () => this.helperExited(child));
    this.child = child;
    return child;
  }

  private receive(reply: LauncherReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    switch (reply.t) {
      case 'spawned':
        pending.pid = reply.pid;
        break;
      case 'out':
        pending.request.onOutput(
          Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength),
          reply.fd,
        );
        break;
      case 'exit':
        this.settle(reply.id);
        pending.resolve({ exitCode: reply.code, signal: reply.signal });
        break;
      case 'error':
        this.settle(reply.id);
        pending.reject(spawnError(pending.request.command, reply.code, reply.message));
        break;
    }
  }

  private settle(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.setRef(false);
  }

  /** Fails every step of a helper that died and kills their process groups, which it can no longer reach. */
  private helperExited(child: ChildProcess): void {
    if (this.child !== child) return;
    this.child = undefined;
    for (const [id, pending] of this.pending) {
      signalGroup(pending.pid, 'SIGKILL');
      this.pending.delete(id);
      pending.reject(
        new Error('The step launcher process stopped unexpectedly; the step was killed.'),
      );
    }
  }

  /** Keeps this process alive while steps run, and lets it exit when the helper is idle. */
  private setRef(active: boolean): void {
    const child = this.child as
      (ChildProcess & { channel?: { ref(): void; unref(): void } }) | undefined;
    if (!child) return;
    if (active) {
      child.ref();
      child.channel?.ref();
    } else {
      child.unref();
      child.channel?.unref();
    }
  }
}

// NOTE: one helper. On the 2-core machine this was measured on, two or three
// helpers gave no steady gain over one while other processes loaded the cores.
let shared: LauncherHelper | undefined;

function helper(): LauncherHelper {
  shared ??= new LauncherHelper();
  return shared;
}
