import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Context } from '../../src/core/context.js';
import { SecretStore } from '../../src/secrets/store.js';
import { tempDir } from '../helpers/cli.js';
import { output, runYaml } from './helpers.js';

/**
 * Waits up to two seconds for a process to end. A killed child whose parent
 * died too stays a zombie until init reaps it, which counts as ended.
 */
async function processState(pid: number): Promise<string> {
  for (let i = 0; i < 20; i++) {
    let state: string;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.charAt(0);
    } catch {
      return 'gone';
    }
    if (state === 'Z') return 'gone';
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return 'running';
}

describe('workflow runner', () => {
  const temp = tempDir('runner');
  let context: Context;
  let passed = false;
  before(() => {
    context = new Context({ dataDir: path.join(temp.dir, 'data') });
  });
  after(() => {
    context.close();
    temp.cleanup(passed);
  });

  it('passes outputs, env and summaries between steps and jobs', async () => {
    const result = await runYaml(
      context,
      `on:
  workflow_dispatch:
    inputs:
      who: {default: world}
      loud: {type: boolean, default: false}
env:
  GREETING: hello
jobs:
  first:
    outputs:
      word: \${{ steps.say.outputs.word }}
      story: \${{ steps.say.outputs.story }}
    steps:
      - id: say
        run: |
          echo "$GREETING \${{ inputs.who }} \${{ inputs.loud }}"
          echo "word=bird" >> "$GITHUB_OUTPUT"
          { echo "story<<END"; echo "line one"; echo "line two"; echo "END"; } >> "$GITHUB_OUTPUT"
          echo "FROM_ENV_FILE=yes" >> "$GITHUB_ENV"
          echo "### Done" >> "$GITHUB_STEP_SUMMARY"
      - run: echo "env file says $FROM_ENV_FILE, opsbox output is $(basename "$OPSBOX_OUTPUT")"
  second:
    needs: first
    steps:
      - run: echo '\${{ needs.first.outputs.word }} / \${{ needs.first.result }} / \${{ toJSON(needs.first.outputs.story) }}'
`,
      { inputs: { who: 'team' } },
    );
    assert.equal(result.run.status, 'success');
    assert.deepEqual(output(result, 'first'), [
      'hello team false',
      'env file says yes, opsbox output is job0-step2-try1.output',
    ]);
    assert.deepEqual(output(result, 'second'), ['bird / success / "line one\\nline two"']);
    assert.deepEqual(result.run.outputs, {
      first: { word: 'bird', story: 'line one\nline two' },
      second: {},
    });
    assert.equal(result.run.summary, '### Done\n');
    assert.deepEqual(result.run.inputs, { who: 'team', loud: false });
    assert.deepEqual(result.steps[0]!.outputs, { word: 'bird', story: 'line one\nline two' });
  });

  it('runs bash -e without pipefail by default and with it for shell: bash', async () => {
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  default:
    steps:
      - run: |
          false | true
          echo "after the pipe"
  bash:
    steps:
      - shell: bash
        run: |
          false | true
          echo "never printed"
  errexit:
    steps:
      - run: |
          false
          echo "never printed"
`,
    );
    assert.deepEqual(output(result, 'default'), ['after the pipe']);
    assert.deepEqual(output(result, 'bash'), ['Error: The process exited with code 1.']);
    assert.deepEqual(output(result, 'errexit'), ['Error: The process exited with code 1.']);
    assert.deepEqual(
      result.jobs.map((job) => [job.key, job.status]),
      [
        ['default', 'success'],
        ['bash', 'failure'],
        ['errexit', 'failure'],
      ],
    );
    assert.equal(result.run.status, 'failure');
  });

  it('runs sh, node and python steps', async () => {
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  shells:
    steps:
      - shell: sh
        run: echo "sh says $((6 * 7))"
      - shell: node
        run: console.log('node says', 6 * 7)
      - shell: python
        run: print('python says', 6 * 7)
      - shell: perl {0}
        run: print "custom\\n";
`,
    );
    assert.deepEqual(output(result, 'shells'), [
      'sh says 42',
      'node says 42',
      'python says 42',
      'custom',
    ]);
  });

  it('applies defaults, working-directory and GITHUB_PATH', async () => {
    const result = await runYaml(
      context,
      `on: workflow_dispatch
defaults:
  run:
    shell: sh
jobs:
  a:
    defaults:
      run:
        working-directory: sub
    steps:
      - working-directory: .
        run: mkdir -p sub/bin && printf '#!/bin/sh\\necho tool ran\\n' > sub/bin/tool && chmod +x sub/bin/tool
      - run: |
          echo "in $(basename "$PWD") with $(readlink /proc/$$/exe | xargs basename)"
          echo "$PWD/bin" >> "$GITHUB_PATH"
      - run: tool
`,
    );
    assert.equal(result.run.status, 'success', result.log.join('\n'));
    assert.deepEqual(output(result, 'a'), ['in sub with dash', 'tool ran']);
  });

  it('expands a matrix given as a fromJSON expression', async () => {
    const result = await runYaml(
      context,
      `on:
  workflow_dispatch:
    inputs:
      targets: {default: '["eu", "us"]'}
jobs:
  deploy:
    strategy:
      matrix:
        region: \${{ fromJSON(inputs.targets) }}
    steps:
      - run: echo "deploy \${{ matrix.region }}"
`,
    );
    assert.deepEqual(
      result.jobs.map((job) => job.key),
      ['deploy (eu)', 'deploy (us)'],
    );
    assert.deepEqual(output(result, 'deploy (us)'), ['deploy us']);
  });

  it('fails a step whose output block has no closing delimiter', async () => {
    const result = await runYaml(
      context,
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: printf "x<<EOF\\nvalue\\n" >> "$GITHUB_OUTPUT"\n',
    );
    assert.equal(result.run.status, 'failure');
    assert.deepEqual(output(result, 'a'), [
      'Error: Invalid $GITHUB_OUTPUT: the value of "x" has no closing delimiter "EOF" on a line of its own.',
    ]);
  });

  it('applies if, status functions and continue-on-error', async () => {
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  a:
    steps:
      - id: broken
        run: exit 4
        continue-on-error: true
      - run: echo "outcome \${{ steps.broken.outcome }} conclusion \${{ steps.broken.conclusion }}"
      - run: exit 1
      - run: echo "skipped after a failure"
      - if: failure()
        run: echo "failure() ran"
      - if: always()
        run: echo "always() ran"
      - if: \${{ success() }}
        run: echo "success() is false now"
  b:
    needs: a
    steps:
      - run: echo "needs a failed job, so skipped"
  c:
    needs: a
    if: failure()
    steps:
      - run: echo "c runs on failure"
  d:
    needs: b
    if: always()
    steps:
      - run: echo "d sees \${{ needs.b.result }}"
`,
    );
    assert.deepEqual(output(result, 'a'), [
      'Error: The process exited with code 4.',
      'The step failed; continuing because of continue-on-error.',
      'outcome failure conclusion success',
      'Error: The process exited with code 1.',
      'failure() ran',
      'always() ran',
    ]);
    assert.deepEqual(
      result.steps.filter((step) => step.jobKey === 'a').map((step) => step.status),
      ['failure', 'success', 'failure', 'skipped', 'success', 'success', 'skipped'],
    );
    assert.deepEqual(
      result.jobs.map((job) => [job.key, job.status]),
      [
        ['a', 'failure'],
        ['b', 'skipped'],
        ['c', 'success'],
        ['d', 'success'],
      ],
    );
    assert.deepEqual(output(result, 'd'), ['d sees skipped']);
  });

  it('expands a matrix with include and exclude', async () => {
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  test:
    strategy:
      matrix:
        os: [linux, mac]
        node: [18, 20]
        exclude:
          - os: mac
            node: 18
        include:
          - os: linux
            experimental: true
          - os: windows
            node: 20
      max-parallel: 1
    steps:
      - run: echo "\${{ matrix.os }}-\${{ matrix.node }}-\${{ matrix.experimental }} \${{ strategy.job-index }}/\${{ strategy.job-total }}"
`,
    );
    assert.deepEqual(
      result.jobs.map((job) => job.key),
      ['test (linux, 18, true)', 'test (linux, 20, true)', 'test (mac, 20)', 'test (windows, 20)'],
    );
    for (let i = 1; i < result.jobs.length; i++) {
      assert.ok(
        Date.parse(result.jobs[i]!.startedAt!) >= Date.parse(result.jobs[i - 1]!.finishedAt!),
        'max-parallel: 1 ran two jobs at once',
      );
    }
    assert.deepEqual(output(result, 'test (linux, 18, true)'), ['linux-18-true 0/4']);
    assert.deepEqual(output(result, 'test (mac, 20)'), ['mac-20- 2/4']);
  });

  it('fails a job whose matrix does not evaluate and waits for the others', async () => {
    const result = await runYaml(
      context,
      "on: workflow_dispatch\njobs:\n  slow:\n    steps:\n      - run: sleep 0.5; echo slow done\n  bad:\n    strategy:\n      matrix:\n        x: ${{ fromJSON('not json') }}\n    steps:\n      - run: echo never\n",
      { name: 'bad-matrix' },
    );
    assert.equal(result.run.status, 'failure');
    assert.deepEqual(
      result.jobs.map((job) => [job.key, job.status]),
      [
        ['slow', 'success'],
        ['bad', 'failure'],
      ],
    );
    const file = path.join(context.dataDir.root, 'files', 'bad-matrix.yml');
    assert.equal(
      result.jobs.find((job) => job.key === 'bad')!.error,
      `Expression failed at ${file}:9:12: Error parsing JSON when evaluating fromJson`,
    );
    assert.deepEqual(output(result, 'slow'), ['slow done']);
  });

  it('cancels the other matrix jobs under fail-fast', async () => {
    const started = Date.now();
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  test:
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: if [ "\${{ matrix.n }}" = 1 ]; then exit 1; else sleep 30; fi
`,
    );
    assert.ok(Date.now() - started < 10_000, 'fail-fast did not stop the sleeping job');
    assert.deepEqual(
      result.jobs.map((job) => [job.key, job.status]),
      [
        ['test (1)', 'failure'],
        ['test (2)', 'cancelled'],
      ],
    );
    assert.equal(result.run.status, 'failure');
  });

  it('retries a failing step with backoff', async () => {
    const counter = path.join(temp.dir, 'attempts');
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  a:
    steps:
      - retry: {attempts: 3, backoff: fixed, delay-seconds: 0.05}
        run: |
          echo x >> "${counter}"
          [ "$(wc -l < "${counter}")" -ge 3 ]
`,
    );
    assert.equal(result.run.status, 'success');
    assert.equal(result.steps[0]!.attempts, 3);
    assert.deepEqual(output(result, 'a'), [
      'Error: The process exited with code 1.',
      'Attempt 1 of 3 failed; retrying in 0.05s.',
      'Error: The process exited with code 1.',
      'Attempt 2 of 3 failed; retrying in 0.05s.',
    ]);
  });

  it('retries with exponential backoff', async () => {
    const result = await runYaml(
      context,
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - retry: {attempts: 3, delay-seconds: 0.05}\n        run: exit 1\n',
    );
    assert.equal(result.run.status, 'failure');
    assert.equal(result.steps[0]!.attempts, 3);
    assert.deepEqual(
      output(result, 'a').filter((line) => line.startsWith('Attempt')),
      ['Attempt 1 of 3 failed; retrying in 0.05s.', 'Attempt 2 of 3 failed; retrying in 0.1s.'],
    );
  });

  it('step timeout kills a process group ignoring SIGTERM', async () => {
    const pidFile = path.join(temp.dir, 'child.pid');
    const started = Date.now();
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  a:
    steps:
      - timeout-minutes: 0.01
        run: |
          trap '' TERM
          bash -c "trap '' TERM; sleep 60" &
          echo $! > "${pidFile}"
          sleep 60
      - if: always()
        run: echo "cleanup step ran"
`,
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 5_000, `the step ran ${elapsed} ms`);
    assert.equal(result.steps[0]!.status, 'failure');
    assert.equal(
      result.steps[0]!.error,
      'The step timed out after 0.01 minutes; its processes were stopped.',
    );
    assert.deepEqual(output(result, 'a'), [
      'The step timed out after 0.01 minutes; its processes were stopped.',
      'cleanup step ran',
    ]);
    const child = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(await processState(child), 'gone');
  });

  it('fails a job at its timeout', async () => {
    const result = await runYaml(
      context,
      'on: workflow_dispatch\njobs:\n  a:\n    timeout-minutes: 0.01\n    steps:\n      - run: sleep 30\n',
    );
    assert.equal(result.jobs[0]!.status, 'failure');
    assert.equal(result.jobs[0]!.error, 'The job timed out after 0.01 minutes.');
  });

  it('masks secrets in logs, outputs and summary', async () => {
    new SecretStore(context).set('API_TOKEN', 'tok-3f9a8b7c6d');
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  a:
    outputs:
      leaked: \${{ steps.s.outputs.value }}
      fine: \${{ steps.s.outputs.other }}
    steps:
      - id: s
        env:
          TOKEN: \${{ secrets.API_TOKEN }}
        run: |
          echo "plain $TOKEN"
          echo "base64 $(printf 'user:%s' "$TOKEN" | base64)"
          echo "hex $(printf '%s' "$TOKEN" | od -An -tx1 | tr -d ' \\n')"
          echo "value=$TOKEN" >> "$GITHUB_OUTPUT"
          echo "other=ok" >> "$GITHUB_OUTPUT"
          echo "summary $TOKEN" >> "$GITHUB_STEP_SUMMARY"
          exit 1
`,
    );
    const text = readFileSync(
      path.join(context.dataDir.root, 'runs', `${result.run.id}.log`),
      'utf8',
    );
    assert.ok(!text.includes('tok-3f9a8b7c6d'));
    assert.ok(!text.includes(Buffer.from('tok-3f9a8b7c6d').toString('hex')));
    assert.deepEqual(output(result, 'a').slice(0, 3), [
      'plain ***',
      'base64 dXNlcjp***A==',
      'hex ***',
    ]);
    assert.deepEqual(result.steps[0]!.outputs, { value: '***', other: 'ok' });
    assert.equal(result.run.summary, 'summary ***\n');
  });

  it('withholds a job output that carries a secret', async () => {
    new SecretStore(context).set('API_TOKEN', 'tok-3f9a8b7c6d');
    const result = await runYaml(
      context,
      `on: workflow_dispatch
jobs:
  a:
    outputs:
      leaked: \${{ steps.s.outputs.value }}
      fine: ok
    steps:
      - id: s
        run: echo "value=\${{ secrets.API_TOKEN }}" >> "$GITHUB_OUTPUT"
`,
    );
    assert.deepEqual(result.jobs[0]!.outputs, { fine: 'ok' });
    assert.deepEqual(output(result, 'a'), [
      'Warning: output "leaked" of job a was withheld because it contains a secret.',
    ]);
  });

  it('masks a secret passed as an input in the run record', async () => {
    new SecretStore(context).set('API_TOKEN', 'tok-3f9a8b7c6d');
    const result = await runYaml(
      context,
      'on:\n  workflow_dispatch:\n    inputs:\n      token: {}\njobs:\n  a:\n    steps:\n      - name: use ${{ inputs.token }}\n        run: test "${{ inputs.token }}" = tok-3f9a8b7c6d\n',
      { inputs: { token: 'tok-3f9a8b7c6d' } },
    );
    assert.equal(result.run.status, 'success');
    assert.deepEqual(result.run.inputs, { token: '***' });
    assert.equal(result.steps[0]!.name, 'use ***');
  });

  it('fails with the file position when a secret is not set', async () => {
    const result = await runYaml(
      context,
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: echo start\n      - run: echo "${{ secrets.NOT_THERE }}"\n',
      { name: 'unset-secret' },
    );
    assert.equal(result.run.status, 'failure');
    const file = path.join(context.dataDir.root, 'files', 'unset-secret.yml');
    assert.equal(
      result.steps[1]!.error,
      `Secret NOT_THERE is not set (used at ${file}:6:14). Set it with \`opsbox secret set NOT_THERE\`.`,
    );
  });

  it('reads an unset secret as empty in a condition', async () => {
    const result = await runYaml(
      context,
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - if: secrets.NOT_THERE != \'\'\n        run: echo "${{ secrets.NOT_THERE }}"\n      - run: echo done\n',
    );
    assert.equal(result.run.status, 'success');
    assert.deepEqual(
      result.steps.map((step) => step.status),
      ['skipped', 'success'],
    );
  });

  it('truncates a huge log with a note and keeps memory flat', async () => {
    const before = process.memoryUsage().rss;
    const result = await runYaml(
      context,
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: head -c 50000000 /dev/zero | tr "\\0" "x" | fold -w 100\n',
      {
        settings: { logMaxBytes: 100_000 },
      },
    );
    assert.equal(result.run.status, 'success');
    const size = statSync(path.join(context.dataDir.root, 'runs', `${result.run.id}.log`)).size;
    assert.ok(size < 102_000, `log is ${size} bytes`);
    assert.ok(
      result.log.includes(
        'a | Log truncated: it reached the limit of 100000 bytes (OPSBOX_RUN_LOG_MAX_BYTES); later lines are dropped.',
      ),
    );
    assert.match(result.log[result.log.length - 1]!, /^\d+ more log lines were dropped\.$/);
    assert.ok(
      process.memoryUsage().rss - before < 100 * 1024 * 1024,
      'memory grew by the size of the output',
    );
  });

  it('rejects bad dispatch inputs with one line', async () => {
    const yaml =
      'on:\n  workflow_dispatch:\n    inputs:\n      level: {type: choice, options: [low, high], required: true}\n      count: {type: number}\njobs:\n  a:\n    steps: [{run: "true"}]\n';
    await assert.rejects(runYaml(context, yaml, { name: 'inputs' }), {
      message: 'Missing required input "level" for workflow inputs; pass --input level=VALUE.',
    });
    await assert.rejects(runYaml(context, yaml, { name: 'inputs', inputs: { level: 'mid' } }), {
      message: 'Invalid input "level" for workflow inputs: "mid" is not one of low, high.',
    });
    await assert.rejects(
      runYaml(context, yaml, { name: 'inputs', inputs: { level: 'low', count: 'many' } }),
      { message: 'Invalid input "count" for workflow inputs: "many" is not a number.' },
    );
    await assert.rejects(
      runYaml(context, yaml, { name: 'inputs', inputs: { level: 'low', extra: '1' } }),
      { message: 'Unknown input "extra" for workflow inputs: its inputs are level, count.' },
    );
    passed = true;
  });
});
