import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadActions } from '../../src/workflows/action.js';
import { parseWorkflow } from '../../src/workflows/parse.js';
import { WorkflowFileError, type Problem } from '../../src/workflows/problems.js';

const actions = await loadActions();

function problems(yaml: string): Problem[] {
  try {
    parseWorkflow(yaml, '/tmp/wf.yml', actions);
  } catch (error) {
    if (error instanceof WorkflowFileError) return error.problems;
    throw error;
  }
  assert.fail('expected the workflow to be invalid');
}

const one = (yaml: string) => {
  const found = problems(yaml);
  assert.equal(found.length, 1, JSON.stringify(found));
  return `${found[0]!.line}:${found[0]!.column} ${found[0]!.message}`;
};

describe('workflow parser', () => {
  it('loads a valid workflow with defaults', () => {
    const workflow = parseWorkflow(
      'name: Nightly\non:\n  schedule:\n    - cron: "0 3 * * *"\n      timezone: Europe/Berlin\n  workflow_dispatch:\njobs:\n  a:\n    steps:\n      - run: "true"\n',
      '/tmp/nightly.yml',
      actions,
    );
    assert.equal(workflow.id, 'nightly');
    assert.equal(workflow.name, 'Nightly');
    assert.deepEqual(workflow.schedules, [
      { cron: '0 3 * * *', timezone: 'Europe/Berlin', index: 0 },
    ]);
    assert.equal(workflow.definition.on.workflow_dispatch, null);
  });

  it('accepts the string and list forms of on', () => {
    assert.equal(
      parseWorkflow(
        'on: workflow_dispatch\njobs:\n  a:\n    steps: [{run: "true"}]\n',
        '/tmp/a.yml',
        actions,
      ).definition.on.workflow_dispatch,
      null,
    );
    assert.equal(
      parseWorkflow(
        'on: [workflow_dispatch]\njobs:\n  a:\n    steps: [{run: "true"}]\n',
        '/tmp/a.yml',
        actions,
      ).definition.on.workflow_dispatch,
      null,
    );
  });

  it('reports an unknown key at its line and column', () => {
    assert.equal(
      one(
        'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: echo\n        shel: bash\n',
      ),
      '6:9 unknown key "shel" in jobs.a.steps[0]',
    );
  });

  it('reports a wrong type', () => {
    assert.equal(
      one(
        'on: workflow_dispatch\njobs:\n  a:\n    timeout-minutes: soon\n    steps: [{run: "true"}]\n',
      ),
      '4:22 jobs.a.timeout-minutes: Invalid input: expected number, received string',
    );
  });

  it('reports a missing key at its parent', () => {
    assert.equal(
      one('jobs:\n  a:\n    steps: [{run: "true"}]\n'),
      '1:1 missing key "on" at the top level',
    );
  });

  it('reports a cron that never fires', () => {
    assert.equal(
      one('on:\n  schedule:\n    - cron: "0 0 30 2 *"\njobs:\n  a:\n    steps: [{run: "true"}]\n'),
      '3:13 cron "0 0 30 2 *" never fires (no date matches it); fix the day and month fields',
    );
  });

  it('reports an invalid cron field and count', () => {
    assert.equal(
      one('on:\n  schedule:\n    - cron: "61 * * * *"\njobs:\n  a:\n    steps: [{run: "true"}]\n'),
      '3:13 invalid cron "61 * * * *": Invalid value for minute: 61',
    );
    assert.equal(
      one('on:\n  schedule:\n    - cron: "* * * *"\njobs:\n  a:\n    steps: [{run: "true"}]\n'),
      '3:13 invalid cron "* * * *": expected 5 fields (minute hour day-of-month month day-of-week), got 4',
    );
  });

  it('reports an unknown time zone', () => {
    assert.equal(
      one(
        'on:\n  schedule:\n    - cron: "0 0 * * *"\n      timezone: Mars/Olympus\njobs:\n  a:\n    steps: [{run: "true"}]\n',
      ),
      '4:17 unknown time zone "Mars/Olympus"; use an IANA name such as Europe/Berlin or America/New_York',
    );
  });

  it('reports needs that name no job', () => {
    assert.equal(
      one('on: workflow_dispatch\njobs:\n  a:\n    needs: [b]\n    steps: [{run: "true"}]\n'),
      '4:13 job "a" needs "b", which is not a job in this workflow (jobs: a)',
    );
  });

  it('reports a cycle in needs', () => {
    assert.equal(
      one(
        'on: workflow_dispatch\njobs:\n  a:\n    needs: c\n    steps: [{run: "true"}]\n  b:\n    needs: a\n    steps: [{run: "true"}]\n  c:\n    needs: b\n    steps: [{run: "true"}]\n',
      ),
      '4:12 jobs form a cycle through needs: a -> c -> b -> a',
    );
  });

  it('reports an expression that does not parse, at the expression', () => {
    assert.equal(
      one('on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: echo ${{ inputs.x == }}\n'),
      "5:32 invalid expression: Unexpected end of expression: '=='",
    );
    assert.equal(
      one(
        'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - if: foo.bar\n        run: echo\n',
      ),
      "5:13 invalid expression: Unrecognized named-value: 'foo'",
    );
  });

  it('reports an unknown action and an unknown action input', () => {
    assert.equal(
      one('on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n'),
      '5:15 unknown action "actions/checkout@v4"; built-in actions are ' +
        [...actions.keys()].join(', ') +
        ' (see `opsbox action list`)',
    );
    assert.equal(
      one(
        'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - uses: http/request\n        with:\n          url: http://127.0.0.1/\n          verb: GET\n',
      ),
      '8:11 action http/request has no input "verb"; its inputs are url, method, headers, body, timeout-seconds, fail-on-error',
    );
  });

  it('reports a step with both run and uses', () => {
    assert.equal(
      one(
        'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: echo\n        uses: http/request\n',
      ),
      '5:9 a step needs exactly one of `run` or `uses`',
    );
  });

  it('reports YAML syntax errors with their position', () => {
    const found = problems('on: workflow_dispatch\njobs:\n  a:\n    steps: [\n');
    assert.equal(found[0]!.line, 5);
    assert.match(found[0]!.message, /flow sequence|Missing/i);
  });

  it('reports a duplicate key', () => {
    const found = problems(
      'on: workflow_dispatch\non: workflow_dispatch\njobs:\n  a:\n    steps: [{run: "true"}]\n',
    );
    assert.equal(found[0]!.line, 2);
    assert.match(found[0]!.message, /unique/);
  });

  it('reports every problem at once, sorted by line', () => {
    const found = problems(
      'on: workflow_dispatch\njobs:\n  a:\n    needs: x\n    steps:\n      - uses: nope\n  b:\n    steps:\n      - run: ${{ ) }}\n',
    );
    assert.deepEqual(
      found.map((problem) => problem.line),
      [4, 6, 9],
    );
  });

  it('checks dispatch input defaults against their type', () => {
    assert.equal(
      one(
        'on:\n  workflow_dispatch:\n    inputs:\n      env:\n        type: choice\n        options: [dev, prod]\n        default: qa\njobs:\n  a:\n    steps: [{run: "true"}]\n',
      ),
      '7:18 default "qa" of input "env" is not one of its options (dev, prod)',
    );
  });

  it('formats the message with file, line and column', () => {
    try {
      parseWorkflow('on: push\njobs:\n  a:\n    steps: [{run: "true"}]\n', '/tmp/wf.yml', actions);
      assert.fail('expected an error');
    } catch (error) {
      assert.ok(error instanceof WorkflowFileError);
      assert.equal(error.message, 'Invalid workflow /tmp/wf.yml:1:5: unknown key "push" in on');
      assert.equal(error.exitCode, 3);
    }
  });
});
