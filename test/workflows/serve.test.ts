import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { runCli, tempDir } from '../helpers/cli.js';
import { processGone, startServe, waitFor, type Server } from './processes.js';

describe('workflows in opsbox serve', () => {
  const temp = tempDir('workflow-serve');
  const dataDir = path.join(temp.dir, 'data');
  const pidFile = path.join(temp.dir, 'step.pid');
  const servers: ChildProcess[] = [];
  let passed = false;
  after(() => {
    for (const child of servers) if (child.exitCode === null) child.kill('SIGKILL');
    if (existsSync(pidFile)) {
      try {
        process.kill(-Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // The step's process group is already gone.
      }
    }
    temp.cleanup(passed);
  });

  mkdirSync(path.join(dataDir, 'workflows'), { recursive: true });
  writeFileSync(
    path.join(dataDir, 'workflows', 'quick.yml'),
    'on:\n  workflow_dispatch:\n    inputs:\n      name: {required: true}\njobs:\n  a:\n    steps:\n      - run: echo "hello ${{ inputs.name }}"\n',
  );
  writeFileSync(
    path.join(dataDir, 'workflows', 'slow.yml'),
    `on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: |\n          echo $$ > "${pidFile}"\n          echo "slow step started"\n          sleep 30\n`,
  );
  writeFileSync(
    path.join(dataDir, 'workflows', 'broken.yml'),
    'on:\n  schedule:\n    - cron: "0 0 30 2 *"\njobs:\n  a:\n    steps: [{run: "true"}]\n',
  );
  const token = JSON.parse(runCli(['token', 'create', 'test', '--json'], { dataDir }).stdout)
    .token as string;
  const headers = { authorization: `Bearer ${token}` };
  let server: Server;
  const api = async (method: string, route: string, body?: unknown) => {
    const init =
      body === undefined
        ? { method, headers }
        : {
            method,
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          };
    const response = await fetch(server.url + route, init);
    return {
      status: response.status,
      body: (await response.json()) as {
        success: boolean;
        result: any;
        errors: { code: number; message: string; type?: string }[];
      },
    };
  };
  const runStatus = async (id: number) =>
    (await api('GET', `/workflows/runs/${id}`)).body.result.status as string;
  let quickRun: number;

  it('lists workflows, with a broken one, and keeps serving', async () => {
    server = await startServe(dataDir);
    servers.push(server.child);
    const { status, body } = await api('GET', '/workflows');
    assert.equal(status, 200);
    assert.deepEqual(
      body.result.map((w: { id: string }) => w.id),
      ['broken', 'quick', 'slow'],
    );
    assert.equal(
      body.result[0].error,
      `Invalid workflow ${path.join(dataDir, 'workflows', 'broken.yml')}:3:13: cron "0 0 30 2 *" never fires (no date matches it); fix the day and month fields`,
    );
    const unauthorized = await fetch(server.url + '/workflows');
    assert.equal(unauthorized.status, 401);
  });

  it('dispatches a run, shows it and returns its log', async () => {
    const dispatched = await api('POST', '/workflows/quick/dispatches', {
      inputs: { name: 'api' },
    });
    assert.equal(dispatched.status, 201);
    assert.equal(dispatched.body.result.event, 'workflow_dispatch');
    quickRun = dispatched.body.result.id;
    await waitFor(
      async () => ((await runStatus(quickRun)) === 'success' ? true : undefined),
      'the quick run',
    );
    const run = (await api('GET', `/workflows/runs/${quickRun}`)).body.result;
    assert.deepEqual(run.inputs, { name: 'api' });
    assert.deepEqual(
      run.jobs.map((job: { key: string; status: string; steps: unknown[] }) => [
        job.key,
        job.status,
        job.steps.length,
      ]),
      [['a', 'success', 1]],
    );
    const log = await (
      await fetch(`${server.url}/workflows/runs/${quickRun}/logs`, { headers })
    ).text();
    assert.equal(
      log,
      'a | Job a started.\na | Run echo "hello ${{ inputs.name }}"\na | hello api\na | Job a finished: success.\nRun finished: success.\n',
    );
    const listed = await api('GET', '/workflows/runs?workflow=quick');
    assert.deepEqual(
      listed.body.result.map((r: { id: number }) => r.id),
      [quickRun],
    );
  });

  it('rejects bad dispatches with the error envelope', async () => {
    const missing = await api('POST', '/workflows/quick/dispatches', {});
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.body.errors, [
      {
        code: 8003,
        message: 'Missing required input "name" for workflow quick; pass --input name=VALUE.',
        type: 'INPUT_INVALID',
      },
    ]);
    const unknown = await api('POST', '/workflows/nope/dispatches', {});
    assert.equal(unknown.status, 404);
    const traversal = await api('POST', '/workflows/..%2Fsecret/dispatches', {});
    assert.equal(traversal.status, 400);
  });

  it('streams a live log and cancels a run', async () => {
    const { body } = await api('POST', '/workflows/slow/dispatches', {});
    const id = body.result.id as number;
    const response = await fetch(`${server.url}/workflows/runs/${id}/logs?follow=true`, {
      headers,
    });
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('slow step started')) {
      const { value, done } = await reader.read();
      assert.equal(done, false, `the stream ended early: ${text}`);
      text += Buffer.from(value!).toString();
    }
    const cancelled = await api('POST', `/workflows/runs/${id}/cancel`);
    assert.equal(cancelled.status, 202);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value!).toString();
    }
    assert.ok(
      text.endsWith(
        'a | The step was cancelled; its processes were stopped.\na | Job a finished: cancelled.\nRun finished: cancelled.\n',
      ),
      text,
    );
    assert.equal(await runStatus(id), 'cancelled');
  });

  it('marks a run interrupted by a killed server and keeps finished runs', async () => {
    const { body } = await api('POST', '/workflows/slow/dispatches', {});
    const id = body.result.id as number;
    await waitFor(
      async () => ((await runStatus(id)) === 'running' && existsSync(pidFile) ? true : undefined),
      'the slow step',
    );
    server.child.kill('SIGKILL');
    await new Promise((resolve) => server.child.once('exit', resolve));
    // When its parent's IPC channel closes, the launcher helper kills the step's process group.
    const stepPid = Number(readFileSync(pidFile, 'utf8'));
    await waitFor(
      async () => (processGone(stepPid) ? true : undefined),
      'the step process to be killed',
      5_000,
    );

    // The killed run's temp folder contains its rendered script until the next start removes it.
    const runFolder = path.join(dataDir, 'tmp', `run-${id}`);
    assert.equal(existsSync(runFolder), true);
    server = await startServe(dataDir);
    servers.push(server.child);
    assert.equal(existsSync(runFolder), false);
    const run = (await api('GET', `/workflows/runs/${id}`)).body.result;
    assert.equal(run.status, 'interrupted');
    assert.equal(run.error, 'The process running this run stopped before it finished.');
    assert.equal(await runStatus(quickRun), 'success');
  });

  it('stops on SIGTERM while a client follows a running log', async () => {
    const { body } = await api('POST', '/workflows/slow/dispatches', {});
    const response = await fetch(
      `${server.url}/workflows/runs/${body.result.id}/logs?follow=true`,
      {
        headers,
      },
    );
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('slow step started'))
      text += Buffer.from((await reader.read()).value!).toString();
    const stopping = Date.now();
    server.child.kill('SIGTERM');
    const code = await new Promise((resolve) => server.child.once('exit', resolve));
    assert.equal(code, 0);
    // The step's grace time is 5 s; the open stream must not hold the server for the run's 30 s.
    assert.ok(Date.now() - stopping < 15_000, `serve took ${Date.now() - stopping} ms to stop`);
    await reader.cancel().catch(() => undefined);
    passed = true;
  });
});
