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
