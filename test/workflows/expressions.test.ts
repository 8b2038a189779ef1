import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  ExpressionScope,
  ExpressionSyntaxError,
  parseCondition,
  parseTemplate,
  referencedSecrets,
} from '../../src/workflows/expressions.js';

const contexts = {
  inputs: { name: 'Ada', count: 3, flag: true, list: '["a","b"]' },
  steps: { 'build-app': { outputs: { version: '1.2.3' }, outcome: 'success' } },
  env: { STAGE: 'prod' },
  matrix: { os: 'linux' },
};

function render(text: string, status = { failed: false, cancelled: false }): unknown {
  return new ExpressionScope(contexts, status).render(parseTemplate(text));
}

function test(condition: string, status = { failed: false, cancelled: false }): boolean {
  return new ExpressionScope(contexts, status).test(parseCondition(condition));
}

describe('expressions', () => {
  it('reads contexts with hyphens and missing properties', () => {
    assert.equal(render('v${{ steps.build-app.outputs.version }}'), 'v1.2.3');
    assert.equal(render('[${{ steps.nope.outputs.x }}]'), '[]');
    assert.equal(render("${{ inputs['name'] }}"), 'Ada');
  });

  it('compares loosely as GitHub does', () => {
    assert.equal(test("'abc' == 'ABC'"), true);
    assert.equal(test("inputs.count == '3'"), true);
    assert.equal(test('inputs.missing == 0'), true);
    assert.equal(test("inputs.missing == ''"), true);
    assert.equal(test('inputs.flag == 1'), true);
    assert.equal(test("'abc' == 0"), false);
    assert.equal(test('inputs.count > 2 && inputs.count < 4'), true);
  });

  it('calls the built-in functions', () => {
    assert.equal(render("${{ format('{0}-{1} {{x}}', inputs.name, matrix.os) }}"), 'Ada-linux {x}');
    assert.equal(render("${{ join(fromJSON(inputs.list), '+') }}"), 'a+b');
    assert.equal(render("${{ contains(fromJSON(inputs.list), 'b') }}"), 'true');
    assert.equal(
      render("${{ startsWith(env.STAGE, 'PR') }} ${{ endsWith(env.STAGE, 'od') }}"),
      'true true',
    );
    assert.equal(render('${{ toJSON(matrix) }}'), '{\n  "os": "linux"\n}');
  });

  it('keeps the type of a whole-value expression', () => {
    const scope = new ExpressionScope(contexts);
    assert.deepEqual(scope.render(parseTemplate('${{ fromJSON(inputs.list) }}'), false), [
      'a',
      'b',
    ]);
    assert.equal(scope.render(parseTemplate('${{ inputs.count }}'), false), 3);
  });

  it('applies status functions and the implicit success()', () => {
    const failed = { failed: true, cancelled: false };
    assert.equal(test("env.STAGE == 'prod'", failed), false);
    assert.equal(test("failure() && env.STAGE == 'prod'", failed), true);
    assert.equal(test('always()', { failed: false, cancelled: true }), true);
    assert.equal(test('cancelled()', { failed: false, cancelled: true }), true);
    assert.equal(test('${{ success() }}'), true);
  });

  it('lists the secrets an expression reads', () => {
    const [part] = parseTemplate("${{ secrets.pg_url || secrets['Api_Token'] }}");
    assert.ok(part && typeof part !== 'string');
    assert.deepEqual(referencedSecrets(part.expr), ['PG_URL', 'API_TOKEN']);
  });

  it('reports syntax errors with their column', () => {
    assert.throws(
      () => parseTemplate('echo ${{ inputs.name == }}'),
      (error: unknown) => {
        assert.ok(error instanceof ExpressionSyntaxError);
        assert.equal(error.message, "Unexpected end of expression: '=='");
        assert.equal(error.column, 21);
        return true;
      },
    );
    assert.throws(() => parseTemplate('echo ${{ inputs.name'), {
      message: "Unclosed expression: '${{' has no matching '}}'",
    });
    assert.throws(() => parseTemplate('${{ }}'), { message: 'Empty expression ${{ }}' });
  });

  it('does not end an expression at }} inside a string', () => {
    assert.equal(render("${{ format('{0}}}', inputs.name) }}"), 'Ada}');
  });
});
