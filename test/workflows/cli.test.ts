import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { runCli, runCliAsync, tempDir, type CliResult } from '../helpers/cli.js';

describe('opsbox workflow and action CLI', () => {
  const temp = tempDir('workflow-cli');
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

  const hello = file(
    'hello.yml',
    'name: Hello\non:\n  workflow_dispatch:\n    inputs:\n      who: {required: true}\njobs:\n  greet:\n    steps:\n      - run: echo "hello ${{ inputs.who }} from $(basename "$PWD")"\n',
  );

  it('validates a good file', () => {
    const result = expectCode(runCli(['workflow', 'validate', hello], { dataDir }), 0);
    assert.equal(result.stderr, `${hello}: valid (1 job, 0 schedules).\n`);
  });

  it('reports a bad file with its line and column and exit code 3', () => {
    const bad = file(
      'bad.yml',
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - uses: db/nope\n',
    );
    const result = expectCode(runCli(['workflow', 'validate', bad], { dataDir }), 3);
    assert.equal(
      result.stderr,
      `opsbox: Invalid workflow ${bad}:5:15: unknown action "db/nope"; built-in actions are db/backup, db/execute, db/export, http/request, notify/webhook, pg/doctor, pg/dump (see \`opsbox action list\`)\n`,
    );
    const json = expectCode(runCli(['workflow', 'validate', bad, '--json'], { dataDir }), 3);
    assert.deepEqual(JSON.parse(json.stdout)[0].problems[0], {
      file: bad,
      line: 5,
      column: 15,
      message:
        'unknown action "db/nope"; built-in actions are db/backup, db/execute, db/export, http/request, notify/webhook, pg/doctor, pg/dump (see `opsbox action list`)',
    });
  });

  it('runs a file in the current directory and streams its log', () => {
    const result = expectCode(
      runCli(['workflow', 'run', hello, '--input', 'who=ops'], { dataDir, cwd: temp.dir }),
      0,
    );
    assert.equal(
      result.stdout,
      `greet | Job greet started.\ngreet | Run echo "hello \${{ inputs.who }} from $(basename "$PWD")"\ngreet | hello ops from ${path.basename(temp.dir)}\ngreet | Job greet finished: success.\nRun finished: success.\n`,
    );
    assert.equal(result.stderr, 'Run 1 (hello #1) finished: success.\n');
  });

  it('rejects a missing required input before creating a run', () => {
    const result = expectCode(runCli(['workflow', 'run', hello], { dataDir }), 3);
    assert.equal(
      result.stderr,
      'opsbox: Missing required input "who" for workflow hello; pass --input who=VALUE.\n',
    );
  });

  it('exits 1 for a failed run and prints JSON with --json', () => {
    const failing = file(
      'failing.yml',
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - id: s\n        run: echo "n=1" >> $GITHUB_OUTPUT; exit 2\n',
    );
    const result = expectCode(runCli(['workflow', 'run', failing, '--json'], { dataDir }), 1);
    const run = JSON.parse(result.stdout);
    assert.equal(run.id, 2);
    assert.equal(run.status, 'failure');
    assert.deepEqual(
      run.jobs.map((job: { key: string; status: string }) => [job.key, job.status]),
      [['a', 'failure']],
    );
    assert.deepEqual(
      run.jobs[0].steps.map((step: { exitCode: number; outputs: unknown }) => [
        step.exitCode,
        step.outputs,
      ]),
      [[2, { n: '1' }]],
    );
  });

  it('lists runs, prints logs and shows a run', () => {
    const runs = JSON.parse(
      expectCode(runCli(['workflow', 'runs', '--json'], { dataDir }), 0).stdout,
    );
    assert.deepEqual(
      runs.map((run: { id: number; workflow: string; status: string }) => [
        run.id,
        run.workflow,
        run.status,
      ]),
      [
        [2, 'failing', 'failure'],
        [1, 'hello', 'success'],
      ],
    );
    const filtered = JSON.parse(
      expectCode(runCli(['workflow', 'runs', 'hello', '--json'], { dataDir }), 0).stdout,
    );
    assert.equal(filtered.length, 1);
    const logs = expectCode(runCli(['workflow', 'logs', '2'], { dataDir }), 0);
    assert.equal(
      logs.stdout,
      'a | Job a started.\na | Run echo "n=1" >> $GITHUB_OUTPUT; exit 2\na | Error: The process exited with code 2.\na | Job a finished: failure.\nRun finished: failure.\n',
    );
    const jsonLogs = expectCode(runCli(['workflow', 'logs', '2', '--json'], { dataDir }), 0)
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.deepEqual(jsonLogs[2], {
      t: jsonLogs[2].t,
      job: 'a',
      step: 1,
      text: 'Error: The process exited with code 2.',
    });
    const view = expectCode(runCli(['workflow', 'view', '1'], { dataDir }), 0);
    assert.match(view.stdout, /^Run 1: Hello #1 \(workflow_dispatch\) success in \d+\.\ds\n/);
  });

  it('reports unknown runs and finished runs clearly', () => {
    assert.equal(
      expectCode(runCli(['workflow', 'logs', '99'], { dataDir }), 4).stderr,
      'opsbox: Run 99 not found. List runs with `opsbox workflow runs`.\n',
    );
    assert.equal(
      expectCode(runCli(['workflow', 'cancel', '1'], { dataDir }), 5).stderr,
      'opsbox: Run 1 already finished with status success; nothing to cancel.\n',
    );
    assert.equal(
      expectCode(runCli(['workflow', 'view', 'abc'], { dataDir }), 2).stderr,
      'opsbox: Invalid run id "abc": use the number shown by `opsbox workflow runs`.\n',
    );
  });

  it('lists installed workflows, with broken ones, and toggles them', () => {
    mkdirSync(path.join(dataDir, 'workflows'), { recursive: true });
    writeFileSync(
      path.join(dataDir, 'workflows', 'nightly.yml'),
      'on:\n  schedule:\n    - cron: "0 3 * * *"\njobs:\n  a:\n    steps: [{run: "true"}]\n',
    );
    writeFileSync(
      path.join(dataDir, 'workflows', 'broken.yml'),
      'on: workflow_dispatch\njobs:\n  a:\n    step: []\n',
    );
    expectCode(runCli(['workflow', 'disable', 'nightly'], { dataDir }), 0);
    const list = JSON.parse(
      expectCode(runCli(['workflow', 'list', '--json'], { dataDir }), 0).stdout,
    );
    assert.deepEqual(
      list.map(
        (entry: { id: string; enabled: boolean; schedules: unknown[]; error: string | null }) => [
          entry.id,
          entry.enabled,
          entry.schedules,
          entry.error?.split(': ').slice(-1)[0] ?? null,
        ],
      ),
      [
        ['broken', true, [], 'unknown key "step" in jobs.a'],
        ['nightly', false, [{ cron: '0 3 * * *', timezone: 'UTC' }], null],
      ],
    );
    expectCode(runCli(['workflow', 'enable', 'nightly'], { dataDir }), 0);
    assert.equal(
      JSON.parse(runCli(['workflow', 'list', '--json'], { dataDir }).stdout)[1].enabled,
      true,
    );
    assert.equal(
      expectCode(runCli(['workflow', 'run', 'missing'], { dataDir }), 4).stderr,
      `opsbox: Workflow "missing" not found: no file missing.yml in ${path.join(dataDir, 'workflows')}, and no such file. List workflows with \`opsbox workflow list\`.\n`,
    );
  });

  it('follows a running log until the run ends', async () => {
    const slow = file(
      'slow.yml',
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: echo first; sleep 1; echo second\n',
    );
    const running = runCliAsync(['workflow', 'run', slow, '--json'], { dataDir });
    let follow: CliResult | undefined;
    for (let i = 0; i < 50 && !follow; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const runs = JSON.parse(
        runCli(['workflow', 'runs', 'slow', '--json'], { dataDir }).stdout,
      ) as { id: number; status: string }[];
      if (runs[0]?.status === 'running')
        follow = await runCliAsync(['workflow', 'logs', String(runs[0].id), '--follow'], {
          dataDir,
        });
    }
    const finished = await running;
    expectCode(finished, 0);
    assert.ok(follow, 'the run never showed as running');
    expectCode(follow, 0);
    assert.ok(
      follow.stdout.endsWith(
        'a | first\na | second\na | Job a finished: success.\nRun finished: success.\n',
      ),
      follow.stdout,
    );
  });

  it('lists schedule fires', () => {
    const fires = expectCode(runCli(['workflow', 'fires', '--json'], { dataDir }), 0);
    assert.deepEqual(JSON.parse(fires.stdout), []);
    assert.equal(
      expectCode(runCli(['workflow', 'fires', '--limit', '0'], { dataDir }), 2).stderr,
      'opsbox: Invalid --limit "0": use a positive number.\n',
    );
  });

  it('lists and describes actions', () => {
    const list = JSON.parse(
      expectCode(runCli(['action', 'list', '--json'], { dataDir }), 0).stdout,
    );
    assert.deepEqual(
      list.map((action: { name: string }) => action.name),
      [
        'db/backup',
        'db/execute',
        'db/export',
        'http/request',
        'notify/webhook',
        'pg/doctor',
        'pg/dump',
      ],
    );
    const described = JSON.parse(
      expectCode(runCli(['action', 'describe', 'pg/dump', '--json'], { dataDir }), 0).stdout,
    );
    assert.deepEqual(Object.keys(described.inputs), ['url', 'output', 'format']);
    assert.deepEqual(described.inputs.format, {
      description: 'custom (for pg_restore), plain (SQL) or tar',
      type: 'string',
      default: 'custom',
    });
    const unknown = expectCode(runCli(['action', 'describe', 'nope'], { dataDir }), 4);
    assert.equal(
      unknown.stderr,
      'opsbox: Unknown action "nope". Known actions: db/backup, db/execute, db/export, http/request, notify/webhook, pg/doctor, pg/dump; run `opsbox action list`.\n',
    );
  });

  it('runs a relative path in the current directory', () => {
    const sub = path.join(temp.dir, 'sub');
    mkdirSync(sub, { recursive: true });
    const result = expectCode(
      runCli(['workflow', 'run', '../hello.yml', '-i', 'who=rel', '--json'], { dataDir, cwd: sub }),
      0,
    );
    assert.equal(JSON.parse(result.stdout).status, 'success');
    const logs = expectCode(
      runCli(['workflow', 'logs', String(JSON.parse(result.stdout).id)], { dataDir }),
      0,
    );
    assert.ok(logs.stdout.includes('greet | hello rel from sub\n'), logs.stdout);
  });
});
