import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { UserError } from '../../src/core/errors.js';
import { parseBastion, redactUrl, resolveTarget, scramVerifier } from '../../src/postgres/index.js';
import { isKnownHost } from '../../src/postgres/tunnel.js';
import { tempDir } from '../helpers/cli.js';

describe('connection target resolution', () => {
  const temp = tempDir('pg-connection');
  after(() => temp.cleanup(true));

  test('URL without port or database', () => {
    const target = resolveTarget({ url: 'postgres://app:pw@db.internal', env: { HOME: temp.dir } });
    assert.equal(target.host, 'db.internal');
    assert.equal(target.port, 5432);
    assert.equal(target.database, 'app');
    assert.equal(target.password, 'pw');
    assert.equal(target.display, 'app@db.internal:5432/app');
  });

  test('URL beats DATABASE_URL beats PG variables', () => {
    const env = {
      DATABASE_URL: 'postgres://env@from-env:6000/envdb',
      PGHOST: 'from-pg',
      PGPORT: '7000',
      PGUSER: 'pguser',
      PGDATABASE: 'pgdb',
      HOME: temp.dir,
    };
    // As in libpq, a parameter missing from the URL falls back to its PG variable.
    assert.equal(
      resolveTarget({ url: 'postgresql://arg@from-arg/argdb', env }).display,
      'arg@from-arg:7000/argdb',
    );
    assert.equal(resolveTarget({ env }).display, 'env@from-env:6000/envdb');
    assert.equal(
      resolveTarget({ env: { ...env, DATABASE_URL: undefined } }).display,
      'pguser@from-pg:7000/pgdb',
    );
  });

  test('sslmode from URL and PGSSLMODE', () => {
    assert.equal(
      resolveTarget({ url: 'postgres://a@h/d?sslmode=verify-full', env: { HOME: temp.dir } })
        .sslmode,
      'verify-full',
    );
    assert.equal(
      resolveTarget({ url: 'postgres://a@h/d', env: { PGSSLMODE: 'require', HOME: temp.dir } })
        .sslmode,
      'require',
    );
    assert.throws(
      () => resolveTarget({ url: 'postgres://a@h/d?sslmode=maybe', env: {} }),
      (error: UserError) =>
        error.kind === 'usage' && /^Invalid sslmode "maybe"/.test(error.message),
    );
  });

  test('password from pgpass file', () => {
    const file = path.join(temp.dir, 'pgpass');
    writeFileSync(
      file,
      [
        '# comment',
        'other:5432:*:app:wrong',
        'db.internal:5432:*:app:pass\\:with\\\\colon',
        '*:*:*:*:fallback',
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    assert.equal(
      resolveTarget({ url: 'postgres://app@db.internal/shop', env: { PGPASSFILE: file } }).password,
      'pass:with\\colon',
    );
    assert.equal(
      resolveTarget({ url: 'postgres://bob@elsewhere/shop', env: { PGPASSFILE: file } }).password,
      'fallback',
    );
    assert.equal(
      resolveTarget({ url: 'postgres://app:inline@db.internal/shop', env: { PGPASSFILE: file } })
        .password,
      'inline',
    );
  });

  test('redactUrl hides the password', () => {
    assert.equal(redactUrl('postgres://app:s3cret@db/shop'), 'postgres://app:***@db/shop');
    assert.equal(redactUrl('postgres://app@db/shop'), 'postgres://app@db/shop');
  });
});

describe('bastion parsing and known_hosts', () => {
  const temp = tempDir('pg-known-hosts');
  after(() => temp.cleanup(true));
  const key = Buffer.from('host key bytes');

  test('parseBastion forms', () => {
    assert.deepEqual(parseBastion('ops@bastion.example.com', {}), {
      user: 'ops',
      host: 'bastion.example.com',
      port: 22,
    });
    assert.deepEqual(parseBastion('ops@10.0.0.1:2222', {}), {
      user: 'ops',
      host: '10.0.0.1',
      port: 2222,
    });
    assert.deepEqual(parseBastion('ops@[::1]:2200', {}), { user: 'ops', host: '::1', port: 2200 });
    assert.deepEqual(parseBastion('bastion', { USER: 'me' }), {
      user: 'me',
      host: 'bastion',
      port: 22,
    });
    assert.throws(() => parseBastion('ops@host:99999', {}), /Invalid --bastion port/);
  });

  test('plain, hashed and revoked entries', () => {
    const file = path.join(temp.dir, 'known_hosts');
    const salt = Buffer.from('0123456789abcdef0123');
    const hashed = createHmac('sha1', salt).update('[127.0.0.1]:2222').digest('base64');
    writeFileSync(
      file,
      [
        `bastion.example.com,10.0.0.1 ssh-ed25519 ${key.toString('base64')}`,
        `|1|${salt.toString('base64')}|${hashed} ssh-ed25519 ${key.toString('base64')}`,
        `@revoked revoked.example.com ssh-ed25519 ${key.toString('base64')}`,
        `revoked.example.com ssh-ed25519 ${key.toString('base64')}`,
      ].join('\n') + '\n',
    );
    assert.equal(isKnownHost(file, 'bastion.example.com', 22, key), true);
    assert.equal(isKnownHost(file, '10.0.0.1', 22, key), true);
    assert.equal(isKnownHost(file, '127.0.0.1', 2222, key), true);
    assert.equal(isKnownHost(file, '127.0.0.1', 22, key), false);
    assert.equal(isKnownHost(file, 'bastion.example.com', 22, Buffer.from('another key')), false);
    assert.equal(isKnownHost(file, 'revoked.example.com', 22, key), false);
    assert.equal(
      isKnownHost(path.join(temp.dir, 'missing'), 'bastion.example.com', 22, key),
      false,
    );
  });
});

test('SCRAM verifier layout', () => {
  const verifier = scramVerifier('pencil', Buffer.alloc(16, 1), 4096);
  assert.match(
    verifier,
    /^SCRAM-SHA-256\$4096:AQEBAQEBAQEBAQEBAQEBAQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/,
  );
  assert.equal(scramVerifier('pencil', Buffer.alloc(16, 1)), verifier);
  assert.notEqual(scramVerifier('pencil'), scramVerifier('pencil'));
});
