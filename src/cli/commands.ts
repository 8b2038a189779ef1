import type { CommandGroupSpec, CommandSpec } from './command.js';

/**
 * A command group whose modules load only when it is invoked: `opsbox db`
 * never pays for the PostgreSQL, S3 or workflow code, which keeps start-up
 * time close to node's own.
 */
export interface LazyCommandGroup {
  name: string;
  summary: string;
  load(): Promise<CommandGroupSpec>;
}

export interface LazyCommand {
  name: string;
  summary: string;
  load(): Promise<CommandSpec>;
}

/** Commands directly under `opsbox`. */
export const TOP_LEVEL_COMMANDS: LazyCommand[] = [
  {
    name: 'serve',
    summary: 'run the HTTP API and background services',
    load: async () => (await import('./serve.js')).serveCommand,
  },
  {
    name: 'worker',
    summary: 'execute queued workflow runs from the PostgreSQL state store',
    load: async () => (await import('./worker.js')).workerCommand,
  },
];

/** Command groups (`opsbox db …`); each capability adds its group here. */
export const COMMAND_GROUPS: LazyCommandGroup[] = [
  {
    name: 'db',
    summary: 'D1-style SQLite databases',
    load: async () => (await import('./db/index.js')).dbCommands,
  },
  {
    name: 'token',
    summary: 'manage API tokens for the HTTP API',
    load: async () => (await import('./token/index.js')).tokenCommands,
  },
  {
    name: 'secret',
    summary: 'encrypted secrets for workflows',
    load: async () => (await import('./secret/index.js')).secretCommands,
  },
  {
    name: 'workflow',
    summary: 'YAML workflows: run, list runs, read logs, cancel, enable and disable schedules',
    load: async () => (await import('./workflow/index.js')).workflowCommands,
  },
  {
    name: 'action',
    summary: 'built-in workflow actions: list and describe',
    load: async () => (await import('./action/index.js')).actionCommands,
  },
  {
    name: 'pg',
    summary:
      'PostgreSQL runbook: doctor, activity, sizes, indexes, replication, users, vacuum, dump/restore, tunnel',
    load: async () => (await import('./pg/index.js')).pgCommands,
  },
  {
    name: 'storage',
    summary: 'S3 access keys and sync between buckets, S3, R2 and Azure',
    load: async () => (await import('./storage/index.js')).storageCommands,
  },
  {
    name: 'bucket',
    summary: 'create, list and delete storage buckets',
    load: async () => (await import('./storage/index.js')).bucketCommands,
  },
  {
    name: 'object',
    summary: 'upload, download, list, delete and presign objects',
    load: async () => (await import('./storage/index.js')).objectCommands,
  },
];
