import type { PgMigration } from '../core/postgres-state.js';
import type { Migration } from '../core/state.js';

export const WORKFLOWS_MIGRATIONS: Migration[] = [
  {
    area: 'workflows',
    version: 1,
    description: 'workflow runs, jobs, steps, schedule fires and settings',
    sql: `
    CREATE TABLE workflow_settings (
      workflow TEXT PRIMARY KEY,
      enabled INTEGER NOT NULL,
      updated_at TEXT NOT NULL
    );
    CREATE TABLE workflow_runs (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      workflow TEXT NOT NULL,
      workflow_name TEXT NOT NULL,
      number INTEGER NOT NULL,
      file TEXT NOT NULL,
      event TEXT NOT NULL,
      status TEXT NOT NULL,
      inputs TEXT NOT NULL,
      outputs TEXT,
      summary TEXT,
      error TEXT,
      concurrency_group TEXT,
      schedule_key TEXT,
      planned_at TEXT,
      owner TEXT,
      cancel_requested INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      started_at TEXT,
      finished_at TEXT,
      UNIQUE (workflow, number)
    );
    CREATE INDEX workflow_runs_by_status ON workflow_runs (status);
    CREATE TABLE workflow_jobs (
      run_id INTEGER NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
      key TEXT NOT NULL,
      job_id TEXT NOT NULL,
      status TEXT NOT NULL,
      matrix TEXT,
      outputs TEXT,
      error TEXT,
      started_at TEXT,
      finished_at TEXT,
      PRIMARY KEY (run_id, key)
    );
    CREATE TABLE workflow_steps (
      run_id INTEGER NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
      job_key TEXT NOT NULL,
      number INTEGER NOT NULL,
      step_id TEXT,
      name TEXT NOT NULL,
      status TEXT NOT NULL,
      outcome TEXT,
      outputs TEXT,
      attempts INTEGER NOT NULL DEFAULT 0,
      exit_code INTEGER,
      error TEXT,
      started_at TEXT,
      finished_at TEXT,
      PRIMARY KEY (run_id, job_key, number)
    );
    CREATE TABLE schedule_fires (
      schedule_key TEXT NOT NULL,
      planned_at TEXT NOT NULL,
      workflow TEXT NOT NULL,
      status TEXT NOT NULL,
      reason TEXT,
      run_id INTEGER,
      created_at TEXT NOT NULL,
      PRIMARY KEY (schedule_key, planned_at)
    );
    CREATE INDEX schedule_fires_by_workflow ON schedule_fires (workflow, planned_at);
    `,
  },
];

/**
 * The same tables on PostgreSQL, with the columns a shared store needs: the
 * sealed payload a worker executes a queued run from, the heartbeat that
 * separates a live run from one whose process died, and the log lines, which
 * live in the store because the worker may be on another machine.
 */
export const WORKFLOWS_PG_MIGRATIONS: PgMigration[] = [
  {
    area: 'workflows',
    version: 1,
    description: 'workflow runs, jobs, steps, logs, schedule fires and settings',
    sql: `
    CREATE TABLE workflow_settings (
      workflow text PRIMARY KEY,
      enabled integer NOT NULL,
      updated_at text NOT NULL
    );
    CREATE TABLE workflow_runs (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      workflow text NOT NULL,
      workflow_name text NOT NULL,
      number integer NOT NULL,
      file text NOT NULL,
      event text NOT NULL,
      status text NOT NULL,
      inputs text NOT NULL,
      outputs text,
      summary text,
      error text,
      concurrency_group text,
      schedule_key text,
      planned_at text,
      owner text,
      cancel_requested integer NOT NULL DEFAULT 0,
      created_at text NOT NULL,
      started_at text,
      finished_at text,
      payload text,
      labels text NOT NULL DEFAULT '[]',
      heartbeat_at timestamptz,
      UNIQUE (workflow, number)
    );
    CREATE INDEX workflow_runs_by_status ON workflow_runs (status);
    CREATE INDEX workflow_runs_by_group ON workflow_runs (concurrency_group, status);
    CREATE TABLE workflow_jobs (
      run_id integer NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
      key text NOT NULL,
      job_id text NOT NULL,
      status text NOT NULL,
      matrix text,
      outputs text,
      error text,
      started_at text,
      finished_at text,
      position integer GENERATED ALWAYS AS IDENTITY,
      PRIMARY KEY (run_id, key)
    );
    CREATE TABLE workflow_steps (
      run_id integer NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
      job_key text NOT NULL,
      number integer NOT NULL,
      step_id text,
      name text NOT NULL,
      status text NOT NULL,
      outcome text,
      outputs text,
      attempts integer NOT NULL DEFAULT 0,
      exit_code integer,
      error text,
      started_at text,
      finished_at text,
      position integer GENERATED ALWAYS AS IDENTITY,
      PRIMARY KEY (run_id, job_key, number)
    );
    CREATE TABLE workflow_log_lines (
      run_id integer NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      line text NOT NULL,
      PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE schedule_fires (
      schedule_key text NOT NULL,
      planned_at text NOT NULL,
      workflow text NOT NULL,
      status text NOT NULL,
      reason text,
      run_id integer,
      created_at text NOT NULL,
      PRIMARY KEY (schedule_key, planned_at)
    );
    CREATE INDEX schedule_fires_by_workflow ON schedule_fires (workflow, planned_at);
    CREATE TABLE run_queues (
      name text PRIMARY KEY,
      labels text NOT NULL
    );
    `,
  },
];
