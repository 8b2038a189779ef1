/**
 * Entry of the step launcher: a small child process that spawns step
 * processes for its parent. Forking costs time in proportion to the forking
 * process's memory, so a 45 MB helper started shells more than twice as fast as
 * a 300 MB process in a measurement on the development machine, and it does
 * so off the server's event loop.
 *
 * It imports only node built-ins to stay small. When its parent goes away
 * (even by kill -9, which closes the IPC channel), it kills every step
 * process group it started and exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';

import type { LauncherReply, LauncherRequest } from './launcher.js';

/** Output messages sent but not yet written to the channel, before step output is paused. */
const PAUSE_AT = 256;
const RESUME_AT = 64;

const children = new Map<number, ChildProcess>();
let inFlight = 0;
let paused = false;

function send(message: LauncherReply): void {
  inFlight++;
  process.send!(message, undefined, undefined, () => {
    inFlight--;
    if (paused && inFlight <= RESUME_AT) setPaused(false);
  });
  if (!paused && inFlight >= PAUSE_AT) setPaused(true);
}

/** Pauses or resumes every step's output, so a step printing without end waits for the parent instead of filling memory. */
function setPaused(value: boolean): void {
  paused = value;
  for (const child of children.values()) {
    for (const stream of [child.stdout, child.stderr]) {
      if (value) stream?.pause();
      else stream?.resume();
    }
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function start(request: Extract<LauncherRequest, { t: 'spawn' }>): void {
  const child = spawn(request.command, request.args, {
    cwd: request.cwd,
    env: request.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.set(request.id, child);
  let open = 2;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const finish = () => {
    if (!exit || open > 0) return;
    children.delete(request.id);
    send({ t: 'exit', id: request.id, code: exit.code, signal: exit.signal });
  };
  child.stdout.on('data', (data: Buffer) => send({ t: 'out', id: request.id, fd: 1, data }));
  child.stderr.on('data', (data: Buffer) => send({ t: 'out', id: request.id, fd: 2, data }));
  if (paused) {
    child.stdout.pause();
    child.stderr.pause();
  }
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('close', () => {
      open--;
      finish();
    });
  }
  child.on('spawn', () => send({ t: 'spawned', id: request.id, pid: child.pid! }));
  child.on('error', (error: NodeJS.ErrnoException) => {
    children.delete(request.id);
    send({ t: 'error', id: request.id, code: error.code ?? 'UNKNOWN', message: error.message });
  });
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    // Background children still hold the pipes open; end them with the step.
    killGroup(child.pid, 'SIGKILL');
    finish();
  });
}

process.on('message', (request: LauncherRequest) => {
  if (request.t === 'spawn') start(request);
  else killGroup(children.get(request.id)?.pid, request.signal);
});

process.on('disconnect', () => {
  for (const child of children.values()) killGroup(child.pid, 'SIGKILL');
  process.exit(0);
});
