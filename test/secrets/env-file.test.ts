import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseEnvFile } from '../../src/secrets/env-file.js';

describe('parseEnvFile', () => {
  it('reads names, quotes and comments', () => {
    const text = [
      '# production',
      '',
      'api_token=abc123',
      'export PG_URL="postgres://u:p@127.0.0.1/db"  # primary',
      "SINGLE='a \\n b'",
      'DOUBLE="a\\nb"',
      'HASHED=pa#ss # trailing comment',
      'SPACED = value with spaces  ',
      'PEM="-----BEGIN KEY-----',
      'abc',
      '-----END KEY-----"',
      'API_TOKEN=replaced',
    ].join('\r\n');
    assert.deepEqual(parseEnvFile(text, 'prod.env'), {
      API_TOKEN: 'replaced',
      PG_URL: 'postgres://u:p@127.0.0.1/db',
      SINGLE: 'a \\n b',
      DOUBLE: 'a\nb',
      HASHED: 'pa#ss',
      SPACED: 'value with spaces',
      PEM: '-----BEGIN KEY-----\nabc\n-----END KEY-----',
    });
  });

  it('rejects malformed lines with file and line', () => {
    const cases: [string, string][] = [
      ['A=1\nB 2\nC=3', 'prod.env:2: Expected NAME=VALUE, but the line has no "="'],
      ['A=1\n=2', 'prod.env:2: Missing the secret name before "="'],
      [
        'A=1\n\nMIIE/x+y=abc',
        'prod.env:3: Invalid secret name before "=": use letters, digits and underscores, not starting with a digit',
      ],
      [
        'GITHUB_TOKEN=abc',
        'prod.env:1: Invalid secret name "GITHUB_TOKEN": names starting with GITHUB_ are reserved. Pick another name',
      ],
      ['A=\nB=2', 'prod.env:1: Empty value for A; give a value or remove the line'],
      ['A= # nothing', 'prod.env:1: Empty value for A; give a value or remove the line'],
      [
        'A=1\nKEY="-----BEGIN\nabc\nB=2',
        'prod.env:2: Missing the closing " quote of the value of KEY',
      ],
      [
        "KEY='abc'def",
        "prod.env:1: Unexpected text after the closing ' quote of KEY; put the whole value inside the quotes",
      ],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseEnvFile(text, 'prod.env'),
        { name: 'UserError', kind: 'invalid', message: `${message}. No secret was stored.` },
        JSON.stringify(text),
      );
    }
  });

  it('keeps values out of its messages', () => {
    assert.throws(
      () => parseEnvFile('TOKEN hunter2-secret', 'prod.env'),
      (error: Error) => !error.message.includes('hunter2'),
    );
  });
});
