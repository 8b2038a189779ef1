import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

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

describe('workflow CLI edge cases', () => {
  const temp = tempDir('workflow-cli-edges');
  const dataDir = path.join(temp.dir, 'data');
  let passed = true;
  after(() => temp.cleanup(passed));
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
});
