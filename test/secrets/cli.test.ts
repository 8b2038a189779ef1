import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import Database from 'better-sqlite3';

import { BIN, runCli, tempDir } from '../helpers/cli.js';

describe('opsbox secret', () => {
  const temp = tempDir('secrets');
  const dataDir = path.join(temp.dir, 'data');
  let passed = true;
  after(() => temp.cleanup(passed));
  const check = (result: ReturnType<typeof runCli>, code = 0) => {
    if (result.code !== code) passed = false;
    assert.equal(result.code, code, result.stderr);
    return result;
  };

  it('stores a value from stdin without the trailing newline', () => {
    const result = check(
      runCli(['secret', 'set', 'db_password'], { dataDir, input: 'correct horse\n' }),
    );
    assert.equal(result.stderr, 'Stored secret DB_PASSWORD.\n');
    assert.equal(result.stdout, '');
  });

  it('encrypts at rest with a 0600 key file', () => {
    const db = new Database(path.join(dataDir, 'state.db'), { readonly: true });
    const row = db.prepare('SELECT sealed FROM secrets WHERE name = ?').get('DB_PASSWORD') as {
      sealed: string;
    };
    db.close();
    assert.match(row.sealed, /^v1:/);
    assert.ok(!row.sealed.includes('correct horse'));
    assert.equal(statSync(path.join(dataDir, 'secret.key')).mode & 0o777, 0o600);
  });

  it('replaces a value given with --body', () => {
    const result = check(
      runCli(['secret', 'set', 'DB_PASSWORD', '--body', 'battery staple'], { dataDir }),
    );
    assert.equal(result.stderr, 'Updated secret DB_PASSWORD.\n');
  });

  it('stores every line of an env file', () => {
    const file = path.join(temp.dir, 'prod.env');
    writeFileSync(
      file,
      '# production\nAPI_TOKEN=abc123\nexport PG_URL="postgres://u:p@127.0.0.1/db"\n',
    );
    const result = check(runCli(['secret', 'set', '--env-file', file, '--json'], { dataDir }));
    assert.deepEqual(JSON.parse(result.stdout), { stored: ['API_TOKEN', 'PG_URL'] });
  });

  it('rejects an env file with a malformed line', () => {
    const file = path.join(temp.dir, 'broken.env');
    writeFileSync(file, 'FIRST_TOKEN=abc123\nSECOND_TOKEN abc123\nTHIRD_TOKEN=def456\n');
    const result = check(runCli(['secret', 'set', '--env-file', file], { dataDir }), 3);
    assert.equal(
      result.stderr,
      `opsbox: ${file}:2: Expected NAME=VALUE, but the line has no "=". No secret was stored.\n`,
    );
    const list = check(runCli(['secret', 'list', '--json'], { dataDir }));
    const names = (JSON.parse(list.stdout) as { name: string }[]).map((secret) => secret.name);
    assert.deepEqual(names, ['API_TOKEN', 'DB_PASSWORD', 'PG_URL']);
  });

  it('lists names and dates but never values', () => {
    const result = check(runCli(['secret', 'list', '--json'], { dataDir }));
    const secrets = JSON.parse(result.stdout) as {
      name: string;
      createdAt: string;
      updatedAt: string;
    }[];
    assert.deepEqual(
      secrets.map((s) => s.name),
      ['API_TOKEN', 'DB_PASSWORD', 'PG_URL'],
    );
    assert.ok(!result.stdout.includes('abc123'));
    assert.ok(!result.stdout.includes('battery'));
    assert.match(secrets[0]!.createdAt, /^\d{4}-\d\d-\d\dT/);
  });

  it('rejects an invalid name with exit code 3', () => {
    const result = check(runCli(['secret', 'set', '1BAD', '--body', 'x'], { dataDir }), 3);
    assert.equal(
      result.stderr,
      'opsbox: Invalid secret name "1BAD": use letters, digits and underscores, not starting with a digit.\n',
    );
  });

  it('warns that a short value is not masked', () => {
    const result = check(runCli(['secret', 'set', 'PIN', '--body', '7'], { dataDir }));
    assert.equal(
      result.stderr,
      'Stored secret PIN.\n' +
        'Warning: secret PIN is shorter than 4 characters, so workflow runs do not mask it in logs and outputs.\n',
    );
  });

  it('rejects an empty value', () => {
    const result = check(runCli(['secret', 'set', 'EMPTY'], { dataDir, input: '\n' }), 3);
    assert.match(result.stderr, /Secret "EMPTY" has an empty value/);
  });

  it('deletes a secret and reports a missing one', () => {
    check(runCli(['secret', 'delete', 'api_token'], { dataDir }));
    const missing = check(runCli(['secret', 'delete', 'API_TOKEN'], { dataDir }), 4);
    assert.equal(
      missing.stderr,
      'opsbox: Secret "API_TOKEN" not found. List secrets with `opsbox secret list`.\n',
    );
  });

  it('reads a value from a hidden prompt on a terminal', async () => {
    // script(1) gives the CLI a pseudo-terminal, so stdin.isTTY is true as for a person typing.
    const command = `${process.execPath} ${BIN} --data-dir ${dataDir} secret set PROMPTED`;
    const child = spawn('script', ['-qc', command, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let screen = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        screen += chunk.toString();
        // Type only once the prompt is shown, when echo is already off.
        if (screen.includes('Value for PROMPTED: ') && !child.stdin.writableEnded)
          child.stdin.end('hunter2\r');
      });
      child.on('close', resolve);
    });
    assert.equal(code, 0, screen);
    assert.ok(!screen.includes('hunter2'), `the value was echoed: ${screen}`);
    const file = path.join(temp.dir, 'check.yml');
    writeFileSync(
      file,
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: test "${{ secrets.PROMPTED }}" = hunter2\n',
    );
    check(runCli(['workflow', 'run', file], { dataDir }));
  });

  it('fails clearly with a wrong key instead of returning garbage', () => {
    const key = readFileSync(path.join(dataDir, 'secret.key'), 'utf8').trim();
    const wrongKey = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
    const file = path.join(temp.dir, 'wf.yml');
    writeFileSync(
      file,
      'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: echo "${{ secrets.DB_PASSWORD }}"\n',
    );
    const result = check(
      runCli(['workflow', 'run', file], { dataDir, env: { OPSBOX_SECRET_KEY: wrongKey } }),
      8,
    );
    assert.match(
      result.stderr,
      /^opsbox: Cannot decrypt secret [A-Z_]+: it was stored with another secret key\. Set it again with `opsbox secret set [A-Z_]+`, or use the key it was stored with\.\n$/,
    );
  });
});
