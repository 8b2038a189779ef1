import PgBoss from 'pg-boss';

import type { PostgresState, Queryable } from './postgres-state.js';

/** The schema pg-boss keeps its tables in. */
const QUEUE_SCHEMA = 'opsbox_queue';

export interface QueuedJob<T> {
  id: string;
  data: T;
}

/**
 * A job queue on the PostgreSQL state store, through pg-boss: delivery with
 * SKIP LOCKED, expiry of jobs whose taker died, and retries. Jobs can be
 * sent and completed inside a state store transaction, so a record and its
 * job are written together or not at all.
 */
export class JobQueue {
  private constructor(private readonly boss: PgBoss) {}

  /** Starts pg-boss (creating or upgrading its schema) and creates the named queues. */
  static async open(state: PostgresState, queues: string[], supervise: boolean): Promise<JobQueue> {
    await state.ready();
    const boss = new PgBoss({
      connectionString: state.url,
      schema: QUEUE_SCHEMA,
      application_name: 'opsbox-queue',
      max: 4,
      supervise,
      schedule: false,
      migrate: true,
    });
    // pg-boss reports maintenance errors as events; without a listener they would crash the process.
    boss.on('error', () => undefined);
    await boss.start();
    const queue = new JobQueue(boss);
    for (const name of queues) await queue.ensure(name);
    return queue;
  }

  /** Creates a queue unless it exists. */
  async ensure(name: string): Promise<void> {
    if (await this.boss.getQueue(name)) return;
    try {
      await this.boss.createQueue(name);
    } catch (error) {
      // Another process created it at the same moment.
      if (!(await this.boss.getQueue(name))) throw error;
    }
  }

  /**
   * Sends a job. With `client`, the job is written in that client's open
   * transaction. `expireInSeconds` is how long a taker may hold the job
   * before it is handed to another.
   */
  async send<T extends object>(
    name: string,
    data: T,
    options: { client?: Queryable; startAfterSeconds?: number; expireInSeconds: number },
  ): Promise<void> {
    await this.boss.send(name, data, {
      db: options.client ? executor(options.client) : undefined,
      startAfter: options.startAfterSeconds,
      expireInSeconds: options.expireInSeconds,
      retryLimit: 5,
      retryDelay: 1,
    });
  }

  async fetch<T>(name: string, count: number): Promise<QueuedJob<T>[]> {
    const jobs = await this.boss.fetch<T>(name, { batchSize: count });
    return jobs.map((job) => ({ id: job.id, data: job.data }));
  }

  async complete(name: string, id: string, client?: Queryable): Promise<void> {
    await this.boss.complete(name, id, { db: client ? executor(client) : undefined });
  }

  /** Stops pg-boss and closes its connections; the state store's pool stays open. */
  async close(): Promise<void> {
    await this.boss.stop({ graceful: false, wait: true, close: true });
  }
}

function executor(client: Queryable): PgBoss.Db {
  return {
    executeSql: (text, values) => client.query(text, values),
  };
}
