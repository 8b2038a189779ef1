import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { Context } from '../../src/core/context.js';
import { TokenService } from '../../src/core/tokens.js';
import { buildApp } from '../../src/server/app.js';
import { openRunStore } from '../../src/workflows/engine.js';
import { BIN, runCli, tempDir, type CliResult } from '../helpers/cli.js';

/**
 * Runs the CLI with stdout on a pipe whose reader closes it after the first
 * chunk, or at once with `atOnce`, as `| head -1` does.
 */
function runCliClosingStdout(
  args: string[],
  options: { dataDir: string; atOnce?: boolean },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--data-dir', options.dataDir, ...args], {
      env: { ...process.env, OPSBOX_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    if (options.atOnce) child.stdout.destroy();
    else
      child.stdout.once('data', (chunk: Buffer) => {
        stdout = chunk.toString();
        child.stdout.destroy();
      });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('workflow CLI and HTTP edge cases', () => {
  const temp = tempDir('workflow-cli-edges');
  const dataDir = path.join(temp.dir, 'data');
  const context = new Context({ dataDir });
  let passed = true;
  after(() => {
    context.close();
    temp.cleanup(passed);
  });
  const expectCode = (result: CliResult, code: number) => {
    if (result.code !== code) passed = false;
    assert.equal(result.code, code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    return result;
  };
  const file = (name: string, yaml: string) => {
    const full = path.join(temp.dir, name);
    writeFileSync(full, yaml);
    return full;
  };

  // No process executes runs of this data directory, so a run created in the
  // store stays queued, as one waiting for a slot of a busy server does.
  const createRun = (workflow: string) =>
    openRunStore(context).createRun({
      workflow,
      workflowName: workflow,
      file: path.join(temp.dir, `${workflow}.yml`),
      event: 'workflow_dispatch',
      inputs: {},
    });

  it('job timeout names the job limit', () => {
    const slow = file(
      'job-timeout.yml',
      'on: workflow_dispatch\njobs:\n  a:\n    timeout-minutes: 0.01\n    steps:\n      - run: sleep 30\n',
    );
    const result = expectCode(runCli(['workflow', 'run', slow], { dataDir }), 1);
    assert.equal(
      result.stdout,
      "a | Job a started.\na | Run sleep 30\na | The job timed out after 0.01 minutes; the step's processes were stopped.\na | The job timed out after 0.01 minutes.\na | Job a finished: failure.\nRun finished: failure.\n",
    );
    const run = JSON.parse(
      expectCode(runCli(['workflow', 'view', '1', '--json'], { dataDir }), 0).stdout,
    );
    assert.equal(
      run.jobs[0].steps[0].error,
      "The job timed out after 0.01 minutes; the step's processes were stopped.",
    );
  });

  it('step timeout names the step limit', () => {
    const slow = file(
      'step-timeout.yml',
      'on: workflow_dispatch\njobs:\n  a:\n    timeout-minutes: 5\n    steps:\n      - timeout-minutes: 0.01\n        run: sleep 30\n',
    );
    const result = expectCode(runCli(['workflow', 'run', slow], { dataDir }), 1);
    assert.equal(
      result.stdout,
      'a | Job a started.\na | Run sleep 30\na | The step timed out after 0.01 minutes; its processes were stopped.\na | Job a finished: failure.\nRun finished: failure.\n',
    );
  });

  it('closed stdout ends a long log quietly', async () => {
    const loud = file(
      'loud.yml',
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: seq 1 20000\n',
    );
    const run = JSON.parse(
      expectCode(runCli(['workflow', 'run', loud, '--json'], { dataDir }), 0).stdout,
    );
    // About 200 KB of log exceeds a pipe's 64 KiB buffer, so the CLI writes into the closed pipe.
    const result = expectCode(
      await runCliClosingStdout(['workflow', 'logs', String(run.id)], { dataDir }),
      0,
    );
    assert.ok(result.stdout.startsWith('a | Job a started.\n'), result.stdout);
    assert.equal(result.stderr, '');
  });

  it('closed stdout ends a short command quietly', async () => {
    const describeResult = expectCode(
      await runCliClosingStdout(['action', 'describe', 'db/execute'], { dataDir, atOnce: true }),
      0,
    );
    assert.equal(describeResult.stderr, '');
    const runsResult = expectCode(
      await runCliClosingStdout(['workflow', 'runs', '--json'], { dataDir, atOnce: true }),
      0,
    );
    assert.equal(runsResult.stderr, '');
  });

  it('HTTP run list rejects bad filters', async () => {
    const token = (await new TokenService(context).create('edges')).token;
    const app = await buildApp(context);
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as { port: number };
      const get = async (query: string) => {
        const response = await fetch(`http://127.0.0.1:${port}/workflows/runs${query}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return {
          status: response.status,
          body: (await response.json()) as {
            success: boolean;
            result: { id: number }[] | null;
            errors: { code: number; message: string; type: string }[];
          },
        };
      };

      const bogus = await get('?status=bogus');
      assert.equal(bogus.status, 400);
      assert.equal(bogus.body.success, false);
      assert.deepEqual(bogus.body.errors, [
        {
          code: 8003,
          message:
            'Invalid status "bogus": use one of queued, running, success, failure, cancelled, interrupted.',
          type: 'INVALID',
        },
      ]);
      for (const limit of ['0', '-1', 'abc', '1001', '1.5', '']) {
        const { status, body } = await get(`?limit=${limit}`);
        assert.equal(status, 400, `limit=${limit}`);
        assert.deepEqual(body.errors, [
          {
            code: 8003,
            message: `Invalid limit "${limit}": use a number from 1 to 1000.`,
            type: 'INVALID',
          },
        ]);
      }

      const ids = async (query: string) => {
        const { status, body } = await get(query);
        assert.equal(status, 200, query);
        return body.result!.map((run) => run.id);
      };
      assert.deepEqual(await ids(''), [3, 2, 1]);
      assert.deepEqual(await ids('?limit=1'), [3]);
      assert.deepEqual(await ids('?limit=1000'), [3, 2, 1]);
      assert.deepEqual(await ids('?status=failure'), [2, 1]);
      assert.deepEqual(await ids('?status=success&limit=1'), [3]);
    } finally {
      await app.close();
    }
  });

  it('CLI run list rejects the same filters', () => {
    assert.equal(
      expectCode(runCli(['workflow', 'runs', '--limit', '0'], { dataDir }), 2).stderr,
      'opsbox: Invalid --limit "0": use a number from 1 to 1000.\n',
    );
    assert.equal(
      expectCode(runCli(['workflow', 'runs', '--limit', '1001'], { dataDir }), 2).stderr,
      'opsbox: Invalid --limit "1001": use a number from 1 to 1000.\n',
    );
    assert.match(
      expectCode(runCli(['workflow', 'runs', '--status', 'bogus'], { dataDir }), 2).stderr,
      /^opsbox: option '-s, --status <status>' argument 'bogus' is invalid\. Allowed choices are queued, running, success, failure, cancelled, interrupted\.\n/,
    );
  });

  it('validate counts jobs and schedules', () => {
    const nightly = file(
      'nightly.yml',
      'on:\n  schedule:\n    - cron: "0 3 * * *"\njobs:\n  a:\n    steps: [{run: "true"}]\n  b:\n    steps: [{run: "true"}]\n',
    );
    assert.equal(
      expectCode(runCli(['workflow', 'validate', nightly], { dataDir }), 0).stderr,
      `${nightly}: valid (2 jobs, 1 schedule).\n`,
    );
    const single = file(
      'single.yml',
      'on:\n  schedule:\n    - cron: "0 3 * * *"\n    - cron: "0 4 * * *"\njobs:\n  a:\n    steps: [{run: "true"}]\n',
    );
    assert.equal(
      expectCode(runCli(['workflow', 'validate', single], { dataDir }), 0).stderr,
      `${single}: valid (1 job, 2 schedules).\n`,
    );
  });

  it('runs shows no start time for queued run', async () => {
    const queued = await createRun('later');
    assert.equal(queued.id, 4);
    const cells = (table: string, id: number) =>
      table
        .split('\n')
        .find((line) => line.startsWith(`│ ${id} `))
        ?.split('│')
        .slice(1, -1)
        .map((cell) => cell.trim());

    const table = expectCode(runCli(['workflow', 'runs'], { dataDir }), 0).stdout;
    assert.deepEqual(cells(table, 4), [
      '4',
      'later',
      '#1',
      'workflow_dispatch',
      'queued',
      '-',
      '-',
    ]);
    const started = (await openRunStore(context).getRun(3)).startedAt;
    assert.equal(cells(table, 3)?.[5], started);
  });

  it('logs of unstarted run print a note', async () => {
    const queuedLogs = expectCode(runCli(['workflow', 'logs', '4'], { dataDir }), 0);
    assert.equal(queuedLogs.stdout, '');
    assert.equal(
      queuedLogs.stderr,
      'Run 4 has no log lines: it has not started yet (status queued).\n',
    );

    // The engine finishes a run this way when it is cancelled before it starts.
    const cancelled = await createRun('dropped');
    await openRunStore(context).finishRun(cancelled.id, {
      status: 'cancelled',
      error: 'Cancelled before it started.',
    });
    const id = String(cancelled.id);
    for (const args of [
      ['workflow', 'logs', id],
      ['workflow', 'logs', id, '--follow'],
      ['workflow', 'logs', id, '--json'],
    ]) {
      const logs = expectCode(runCli(args, { dataDir }), 0);
      assert.equal(logs.stdout, '', args.join(' '));
      assert.equal(
        logs.stderr,
        `Run ${id} has no log lines: it never started (status cancelled).\n`,
        args.join(' '),
      );
    }

    const startedLogs = expectCode(runCli(['workflow', 'logs', '2'], { dataDir }), 0);
    assert.equal(startedLogs.stderr, '');
  });

  it('cancel of queued run says it will not start', async () => {
    const result = expectCode(runCli(['workflow', 'cancel', '4'], { dataDir }), 0);
    assert.equal(result.stderr, 'Cancelled run 4 while it was queued; it will not start.\n');
    assert.equal((await openRunStore(context).getRun(4)).cancelRequested, true);
  });

  it('cancel of running run says steps stop', async () => {
    const running = await createRun('busy');
    // Claimed as a process on another host does, so no process here executes it.
    assert.equal(await openRunStore(context).claimRun(running.id, 'elsewhere:1'), true);
    const result = expectCode(runCli(['workflow', 'cancel', String(running.id)], { dataDir }), 0);
    assert.equal(
      result.stderr,
      `Cancel requested for run ${running.id}; its steps are being stopped.\n`,
    );
  });
});
