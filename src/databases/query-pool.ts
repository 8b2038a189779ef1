import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { Logger } from '../core/logger.js';
import { UserError, type ErrorKind } from '../core/errors.js';
import type { QueryStatement } from './execute.js';
import { D1_ERROR_CODE, D1_LIMITS } from './limits.js';
import type { WorkerReply, WorkerRequest } from './query-worker.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./query-worker.js', import.meta.url));
/** A database's worker exits after this long without queries. */
const IDLE_MS = 60_000;
/** Queued queries sent to a worker in one message, to save round trips under load. */
const MAX_BATCH = 64;

interface Pending {
  request: WorkerRequest;
  /** Receives the statement results as JSON text. */
  resolve(json: string): void;
  reject(error: unknown): void;
}

/**
 * One worker process per database with queries queued in front of it. Queries
 * on one database run one at a time, in order; different databases run in
 * parallel. Each query gets the time limit from the moment it starts.
 */
class DatabaseWorker {
  private worker: ChildProcess;
  private queue: Pending[] = [];
  private inFlight: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    private readonly onExit: () => void,
  ) {
    this.worker = this.spawn();
  }

  run(request: WorkerRequest): Promise<string> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.dispatch();
    });
  }

  stop(): void {
    clearTimeout(this.timer);
    clearTimeout(this.idleTimer);
    for (const pending of [...this.inFlight, ...this.queue])
      pending.reject(
        new UserError(
          'unavailable',
          'D1_ERROR: the database was closed while the query waited. Retry it.',
        ),
      );
    this.inFlight = [];
    this.queue = [];
    this.worker.kill('SIGKILL');
  }

  private spawn(): ChildProcess {
    // V8 serialization passes the JSON text through without escaping it again.
    const worker = fork(WORKER_SCRIPT, [this.file], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    worker.on('message', (reply: WorkerReply) => this.receive(reply));
    worker.on('exit', (code, signal) => {
      if (worker !== this.worker || signal === 'SIGKILL') return;
      this.logger.error(
        { file: this.file, code, signal },
        'database worker exited unexpectedly; restarting it',
      );
      this.failInFlight(new Error(`database worker exited with ${signal ?? code}`));
    });
    worker.unref();
    (worker.channel as { unref?(): void } | undefined)?.unref?.();
    return worker;
  }

  private dispatch(): void {
    if (this.inFlight.length > 0 || this.queue.length === 0) return;
    clearTimeout(this.idleTimer);
    this.inFlight = this.queue.splice(0, MAX_BATCH);
    this.worker.send(this.inFlight.map((pending) => pending.request));
    this.armTimer();
  }

  private receive(reply: WorkerReply): void {
    const pending = this.inFlight.shift();
    clearTimeout(this.timer);
    if (pending) {
      if (reply.ok) pending.resolve(reply.json);
      else
        pending.reject(
          reply.error.kind === 'bug'
            ? new Error(reply.error.message)
            : new UserError(reply.error.kind as ErrorKind, d1Message(reply.error.message), {
                code: String(D1_ERROR_CODE),
              }),
        );
    }
    if (this.inFlight.length > 0) this.armTimer();
    else if (this.queue.length > 0) this.dispatch();
    else this.idleTimer = setTimeout(() => this.onExit(), IDLE_MS).unref();
  }

  /** Starts the time limit of the query now running, the first in flight. */
  private armTimer(): void {
    this.timer = setTimeout(() => this.timeOut(), D1_LIMITS.queryTimeoutMs);
  }

  private timeOut(): void {
    const [current, ...notStarted] = this.inFlight;
    this.logger.warn(
      { file: this.file, limitMs: D1_LIMITS.queryTimeoutMs },
      'query exceeded the time limit; restarting the database worker',
    );
    this.worker.kill('SIGKILL');
    this.worker = this.spawn();
    this.inFlight = [];
    this.queue.unshift(...notStarted);
    current?.reject(
      new UserError(
        'timeout',
        `D1_ERROR: query exceeded the time limit of ${D1_LIMITS.queryTimeoutMs} ms and was cancelled; nothing it did was kept. Add an index or narrow the query.`,
        { code: String(D1_ERROR_CODE) },
      ),
    );
    this.dispatch();
  }

  private failInFlight(error: unknown): void {
    clearTimeout(this.timer);
    for (const pending of this.inFlight) pending.reject(error);
    this.inFlight = [];
    this.worker = this.spawn();
    this.dispatch();
  }
}

function d1Message(message: string): string {
  return message.startsWith('D1_') ? message : `D1_ERROR: ${message}`;
}

export class QueryPool {
  private readonly workers = new Map<string, DatabaseWorker>();
  private nextId = 1;

  constructor(private readonly logger: Logger) {}

  /** Runs statements on a database and returns their D1 results as JSON text. */
  run(file: string, statements: QueryStatement[], rowMode: 'object' | 'array'): Promise<string> {
    return this.workerFor(file).run({ id: this.nextId++, statements, rowMode });
  }

  /** Stops the worker of a database, such as before it is deleted. */
  close(file: string): void {
    const worker = this.workers.get(file);
    this.workers.delete(file);
    worker?.stop();
  }

  closeAll(): void {
    for (const file of [...this.workers.keys()]) this.close(file);
  }

  private workerFor(file: string): DatabaseWorker {
    let worker = this.workers.get(file);
    if (!worker) {
      worker = new DatabaseWorker(file, this.logger, () => void this.close(file));
      this.workers.set(file, worker);
    }
    return worker;
  }
}
