import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Context } from '../../src/core/context.js';
import { loadWorkflowFile } from '../../src/workflows/catalog.js';
import { WorkflowEngine } from '../../src/workflows/engine.js';
import type { LoadedWorkflow } from '../../src/workflows/parse.js';
import { OWNER, SqliteRunStore } from '../../src/workflows/store.js';
import { tempDir } from '../helpers/cli.js';

describe('run concurrency and cancellation', () => {
  const temp = tempDir('concurrency');
  let context: Context;
  let passed = false;
  before(() => {
    context = new Context({ dataDir: path.join(temp.dir, 'data') });
  });
  after(() => {
    context.close();
    temp.cleanup(passed);
  });

  async function load(name: string, yaml: string): Promise<LoadedWorkflow> {
    const file = path.join(temp.dir, `${name}.yml`);
    writeFileSync(file, yaml);
    return loadWorkflowFile(file);
  }

  const sleeper = (seconds: number, concurrency = '') =>
    `on: workflow_dispatch\n${concurrency}jobs:\n  a:\n    steps:\n      - run: sleep ${seconds}\n`;

  it('concurrency group replaces the older pending run', async () => {
    const workflow = await load(
      'grouped',
      sleeper(0.5, 'concurrency: deploy-${{ github.workflow }}\n'),
    );
    const engine = new WorkflowEngine(context, { killGraceMs: 200 });
    const first = await engine.dispatch(workflow, { event: 'workflow_dispatch' });
    const second = await engine.dispatch(workflow, { event: 'workflow_dispatch' });
    const third = await engine.dispatch(workflow, { event: 'workflow_dispatch' });
    const [one, two, three] = await Promise.all([first.done, second.done, third.done]);
    assert.deepEqual([one.status, two.status, three.status], ['success', 'cancelled', 'success']);
    assert.equal(one.concurrencyGroup, 'deploy-grouped');
    assert.match(
      two.error!,
      /^Cancelled: a newer run of concurrency group "deploy-grouped" replaced it/,
    );
    assert.ok(
      Date.parse(three.startedAt!) >= Date.parse(one.finishedAt!),
      'the pending run started before the running one finished',
    );
  });

  it('cancels the running run with cancel-in-progress', async () => {
    const workflow = await load(
      'preempt',
      sleeper(30, 'concurrency:\n  group: preempt\n  cancel-in-progress: true\n'),
    );
    const engine = new WorkflowEngine(context, { killGraceMs: 200 });
    const first = await engine.dispatch(workflow, { event: 'workflow_dispatch' });
    await sleep(300);
    const quick = await load(
      'preempt',
      sleeper(0, 'concurrency:\n  group: preempt\n  cancel-in-progress: true\n'),
    );
    const second = await engine.dispatch(quick, { event: 'workflow_dispatch' });
    const [one, two] = await Promise.all([first.done, second.done]);
    assert.deepEqual([one.status, two.status], ['cancelled', 'success']);
    assert.deepEqual(
      (await engine.store.steps(one.id)).map((step) => [step.status, step.error]),
      [['cancelled', 'The step was cancelled; its processes were stopped.']],
    );
  });

  it('cancels a run requested through the store, as another process does', async () => {
    const workflow = await load('long', sleeper(30));
    const engine = new WorkflowEngine(context, { killGraceMs: 200, cancelPollMs: 50 });
    const { run, done } = await engine.dispatch(workflow, { event: 'workflow_dispatch' });
    await sleep(300);
    const started = Date.now();
    await new SqliteRunStore(context).requestCancel(run.id);
    const finished = await done;
    assert.equal(finished.status, 'cancelled');
    assert.ok(Date.now() - started < 3000);
    await assert.rejects(engine.cancel(run.id), {
      message: `Run ${run.id} already finished with status cancelled; nothing to cancel.`,
    });
  });

  it('stop interrupts running and queued runs', async () => {
    const workflow = await load('shutdown', sleeper(30));
    const engine = new WorkflowEngine(context, { killGraceMs: 200, maxParallelRuns: 1 });
    const first = await engine.dispatch(workflow, { event: 'workflow_dispatch' });
    const second = await engine.dispatch(workflow, { event: 'workflow_dispatch' });
    await sleep(300);
    await engine.stop();
    const [one, two] = await Promise.all([first.done, second.done]);
    assert.deepEqual(
      [one.status, one.error],
      ['interrupted', 'The process running this run stopped during the run.'],
    );
    assert.deepEqual(
      [two.status, two.error],
      ['interrupted', 'The server stopped before the run started.'],
    );
  });

  it('marks runs of a dead process as interrupted and leaves finished ones alone', async () => {
    const store = new SqliteRunStore(context);
    const orphan = await store.createRun({
      workflow: 'w',
      workflowName: 'w',
      file: '/w.yml',
      event: 'schedule',
      inputs: {},
    });
    await store.claimRun(orphan.id, OWNER);
    await store.saveJob(orphan.id, {
      key: 'a',
      jobId: 'a',
      status: 'running',
      matrix: null,
      outputs: null,
      error: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
    });
    const before = (await store.listRuns({ status: 'success' })).length;
    const marked = await store.markInterrupted((pid) => pid !== process.pid);
    assert.deepEqual(marked, [orphan.id]);
    const interrupted = await store.getRun(orphan.id);
    assert.equal(interrupted.status, 'interrupted');
    assert.equal(interrupted.error, 'The process running this run stopped before it finished.');
    assert.equal((await store.jobs(orphan.id))[0]!.status, 'cancelled');
    assert.equal((await store.listRuns({ status: 'success' })).length, before);
    passed = true;
  });
});
