import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { Context } from '../../src/core/context.js';
import { WorkflowEngine } from '../../src/workflows/engine.js';
import { Scheduler } from '../../src/workflows/scheduler.js';
import { tempDir } from '../helpers/cli.js';

interface Clock {
  now: Date;
}

/** Creates a data directory with one workflow file, and a scheduler with its engine on a fake clock. */
function setup(root: string, name: string, yaml: string, start: string) {
  const dataDir = path.join(root, name);
  mkdirSync(path.join(dataDir, 'workflows'), { recursive: true });
  writeFileSync(path.join(dataDir, 'workflows', `${name}.yml`), yaml);
  const context = new Context({ dataDir });
  const engine = new WorkflowEngine(context);
  const clock: Clock = { now: new Date(start) };
  const scheduler = new Scheduler(context, engine, { now: () => clock.now, graceMs: 60_000 });
  return { context, engine, clock, scheduler, dataDir };
}

async function tickAt(target: ReturnType<typeof setup>, at: string): Promise<void> {
  target.clock.now = new Date(at);
  await target.scheduler.tick();
  await Promise.all(
    (await target.engine.store.listRuns({ limit: 1000 })).map((run) => target.engine.wait(run.id)),
  );
}

const fires = async (target: ReturnType<typeof setup>) =>
  (await target.engine.store.fires())
    .reverse()
    .map((fire) => `${fire.plannedAt} ${fire.status}${fire.reason ? ` (${fire.reason})` : ''}`);

const workflow = (cron: string, extra = '') =>
  `on:\n  schedule:\n    - cron: "${cron}"\n${extra}jobs:\n  a:\n    steps:\n      - run: echo "fired for \${{ github.event.schedule }}"\n`;

describe('scheduler', () => {
  const temp = tempDir('scheduler');
  const contexts: Context[] = [];
  let passed = false;
  after(() => {
    for (const context of contexts) context.close();
    temp.cleanup(passed);
  });

  it('moves a fixed time in the spring-forward gap to the first valid instant', async () => {
    const target = setup(
      temp.dir,
      'gap',
      workflow('30 2 * * *', '      timezone: America/New_York\n'),
      '2026-03-07T12:00:00Z',
    );
    contexts.push(target.context);
    await target.scheduler.tick();
    await tickAt(target, '2026-03-08T07:00:05Z');
    await tickAt(target, '2026-03-09T06:30:05Z');
    assert.deepEqual(await fires(target), [
      '2026-03-08T07:00:00.000Z started',
      '2026-03-09T06:30:00.000Z started',
    ]);
    const runs = await target.engine.store.listRuns();
    assert.deepEqual(
      runs.map((run) => [run.event, run.status, run.plannedAt]),
      [
        ['schedule', 'success', '2026-03-09T06:30:00.000Z'],
        ['schedule', 'success', '2026-03-08T07:00:00.000Z'],
      ],
    );
  });

  it('fires a fixed time in the repeated fall-back hour once', async () => {
    const target = setup(
      temp.dir,
      'repeat',
      workflow('30 1 * * *', '      timezone: America/New_York\n'),
      '2026-10-31T12:00:00Z',
    );
    contexts.push(target.context);
    await target.scheduler.tick();
    await tickAt(target, '2026-11-01T05:30:10Z');
    await tickAt(target, '2026-11-01T06:30:10Z');
    await tickAt(target, '2026-11-01T12:00:00Z');
    assert.deepEqual(await fires(target), ['2026-11-01T05:30:00.000Z started']);
  });

  it('follows elapsed time for a wildcard hour across DST', async () => {
    const target = setup(
      temp.dir,
      'hourly',
      workflow('30 * * * *', '      timezone: America/New_York\n'),
      '2026-11-01T04:00:00Z',
    );
    contexts.push(target.context);
    await target.scheduler.tick();
    for (const at of [
      '2026-11-01T04:30:01Z',
      '2026-11-01T05:30:01Z',
      '2026-11-01T06:30:01Z',
      '2026-11-01T07:30:01Z',
    ])
      await tickAt(target, at);
    assert.deepEqual(await fires(target), [
      '2026-11-01T04:30:00.000Z started',
      '2026-11-01T05:30:00.000Z started',
      '2026-11-01T06:30:00.000Z started',
      '2026-11-01T07:30:00.000Z started',
    ]);
  });

  it('starts each fire once with two schedulers on one store', async () => {
    const first = setup(temp.dir, 'shared', workflow('*/5 * * * *'), '2026-06-01T10:01:00Z');
    const second = new Context({ dataDir: first.dataDir });
    contexts.push(first.context, second);
    const secondEngine = new WorkflowEngine(second);
    const secondScheduler = new Scheduler(second, secondEngine, { now: () => first.clock.now });
    await Promise.all([first.scheduler.tick(), secondScheduler.tick()]);
    first.clock.now = new Date('2026-06-01T10:05:01Z');
    await Promise.all([first.scheduler.tick(), secondScheduler.tick()]);
    const runs = await first.engine.store.listRuns();
    await Promise.all(runs.map((run) => first.engine.wait(run.id) ?? secondEngine.wait(run.id)));
    assert.equal(runs.length, 1);
    assert.deepEqual(await fires(first), ['2026-06-01T10:05:00.000Z started']);
  });

  it('skips fires missed while down by default and records them', async () => {
    const target = setup(temp.dir, 'missed-skip', workflow('0 * * * *'), '2026-06-01T00:10:00Z');
    contexts.push(target.context);
    await target.scheduler.tick();
    await tickAt(target, '2026-06-01T03:30:00Z');
    const reason = 'missed: opsbox was not running at the planned time (missed-runs: skip)';
    assert.deepEqual(await fires(target), [
      `2026-06-01T01:00:00.000Z skipped (${reason})`,
      `2026-06-01T02:00:00.000Z skipped (${reason})`,
      `2026-06-01T03:00:00.000Z skipped (${reason})`,
    ]);
    assert.equal((await target.engine.store.listRuns()).length, 0);
  });

  it('runs the latest missed fire once with missed-runs: run-once', async () => {
    const target = setup(
      temp.dir,
      'missed-once',
      workflow('0 * * * *', 'missed-runs: run-once\n'),
      '2026-06-01T00:10:00Z',
    );
    contexts.push(target.context);
    await target.scheduler.tick();
    await tickAt(target, '2026-06-01T02:30:00Z');
    assert.deepEqual(await fires(target), [
      '2026-06-01T01:00:00.000Z skipped (missed: opsbox was not running at the planned time (missed-runs: run-once))',
      '2026-06-01T02:00:00.000Z started (missed while opsbox was not running; started once (missed-runs: run-once))',
    ]);
    assert.equal((await target.engine.store.listRuns())[0]!.status, 'success');
  });

  it('resumes from the last recorded fire after a restart', async () => {
    const target = setup(
      temp.dir,
      'restart',
      workflow('0 * * * *', 'missed-runs: run-once\n'),
      '2026-06-01T00:10:00Z',
    );
    contexts.push(target.context);
    await target.scheduler.tick();
    await tickAt(target, '2026-06-01T01:00:02Z');
    const restarted = new Scheduler(target.context, target.engine, { now: () => target.clock.now });
    target.clock.now = new Date('2026-06-01T04:00:10Z');
    await restarted.tick();
    await Promise.all(
      (await target.engine.store.listRuns()).map((run) => target.engine.wait(run.id)),
    );
    assert.deepEqual(
      (await fires(target)).map((fire) => fire.split(' (')[0]),
      [
        '2026-06-01T01:00:00.000Z started',
        '2026-06-01T02:00:00.000Z skipped',
        '2026-06-01T03:00:00.000Z skipped',
        '2026-06-01T04:00:00.000Z started',
      ],
    );
  });

  it('records fires of a disabled workflow as skipped', async () => {
    const target = setup(temp.dir, 'disabled', workflow('*/10 * * * *'), '2026-06-01T00:01:00Z');
    contexts.push(target.context);
    await target.engine.store.setEnabled('disabled', false);
    await target.scheduler.tick();
    await tickAt(target, '2026-06-01T00:10:01Z');
    assert.deepEqual(await fires(target), [
      '2026-06-01T00:10:00.000Z skipped (the workflow is disabled)',
    ]);
  });

  it('keeps scheduling the valid workflows next to a broken file', async () => {
    const target = setup(temp.dir, 'broken', workflow('*/10 * * * *'), '2026-06-01T00:01:00Z');
    contexts.push(target.context);
    writeFileSync(
      path.join(target.dataDir, 'workflows', 'bad.yml'),
      'on:\n  schedule:\n    - cron: "0 0 30 2 *"\njobs: {}\n',
    );
    await target.scheduler.tick();
    await tickAt(target, '2026-06-01T00:10:01Z');
    assert.deepEqual(await fires(target), ['2026-06-01T00:10:00.000Z started']);
    passed = true;
  });
});
