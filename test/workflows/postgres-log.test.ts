import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { PostgresState } from '../../src/core/postgres-state.js';
import { ALL_PG_MIGRATIONS } from '../../src/core/migrations.js';
import { Masker } from '../../src/secrets/masker.js';
import { PostgresRunStore } from '../../src/workflows/store-postgres.js';
import { tempDir } from '../helpers/cli.js';
import { startCluster, type TestCluster } from '../postgres/cluster.js';

describe('run logs in the PostgreSQL store', () => {
  const temp = tempDir('postgres-log');
  let cluster: TestCluster;
  let state: PostgresState;
  let passed = false;

  before(async () => {
    cluster = await startCluster(temp.dir, 'pg');
    state = new PostgresState(cluster.url(), ALL_PG_MIGRATIONS);
  });

  after(async () => {
    await state?.end().catch(() => undefined);
    await cluster?.stop();
    temp.cleanup(passed);
  });

  it('keeps lines written while the server restarts', async () => {
    const store = new PostgresRunStore(state);
    const run = await store.createRun({
      workflow: 'w',
      workflowName: 'w',
      file: '/w.yml',
      event: 'workflow_dispatch',
      inputs: {},
    });
    const log = await store.openLog(run.id, new Masker(['hunter2']), 1 << 20);
    log.write('before 1');
    log.write('before 2');
    // The test cluster commits asynchronously: wait for its WAL writer before the immediate stop.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await cluster.stop();
    log.write('during 1, password hunter2');
    log.write('during 2');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await cluster.start();
    log.write('after 1');
    await log.close();
    const { lines, offset } = await store.readLog(run.id, 0);
    assert.deepEqual(
      lines.map((line) => line.text),
      ['before 1', 'before 2', 'during 1, password ***', 'during 2', 'after 1'],
    );
    assert.equal(offset, 5);
    passed = true;
  });
});
