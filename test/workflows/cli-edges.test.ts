import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { runCli, tempDir, type CliResult } from '../helpers/cli.js';

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
});
