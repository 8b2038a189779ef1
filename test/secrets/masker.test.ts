import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MASK, Masker, secretVariants } from '../../src/secrets/masker.js';

describe('Masker', () => {
  const secret = 'p@ss w0rd"$x\'';

  it('masks the plain value', () => {
    const masker = new Masker([secret]);
    assert.equal(masker.mask(`password is ${secret}!`), `password is ${MASK}!`);
  });

  it('masks every line of a multi-line value', () => {
    const masker = new Masker(['-----BEGIN KEY-----\n  abcdef123456  \n-----END KEY-----']);
    assert.equal(masker.mask('line: abcdef123456'), `line: ${MASK}`);
    assert.equal(masker.mask('-----END KEY-----'), MASK);
  });

  it('masks base64 at every byte alignment', () => {
    const masker = new Masker(['hunter2-secret']);
    for (const prefix of ['', 'a', 'ab', 'user:', 'xyz:']) {
      const encoded = Buffer.from(`${prefix}hunter2-secret:tail`).toString('base64');
      const masked = masker.mask(encoded);
      assert.ok(
        masked.includes(MASK),
        `base64 of "${prefix}hunter2-secret:tail" was not masked: ${masked}`,
      );
    }
    assert.equal(masker.mask(Buffer.from('hunter2-secret').toString('base64')), MASK);
  });

  it('masks base64 of user:password as basic auth prints it', () => {
    const masker = new Masker(['s3cr3t-pass']);
    const header = `Authorization: Basic ${Buffer.from('admin:s3cr3t-pass').toString('base64')}`;
    assert.ok(masker.mask(header).includes(MASK));
    assert.ok(!masker.mask(header).includes('czNjcjN0LXBhc3'));
  });

  it('masks JSON, URL, XML and shell escapes', () => {
    const masker = new Masker([secret]);
    assert.equal(masker.mask(JSON.stringify({ value: secret })), `{"value":"${MASK}"}`);
    assert.equal(masker.mask(`?q=${encodeURIComponent(secret)}`), `?q=${MASK}`);
    assert.equal(masker.mask(`<v>p@ss w0rd&quot;$x&apos;</v>`), `<v>${MASK}</v>`);
    assert.equal(masker.mask(`echo 'p@ss w0rd"$x'\\'''`), `echo '${MASK}'`);
    assert.equal(masker.mask('echo "p@ss w0rd\\"\\$x\'"'), `echo "${MASK}"`);
  });

  it('masks hex in both cases', () => {
    const masker = new Masker(['token-123']);
    const hex = Buffer.from('token-123').toString('hex');
    assert.equal(masker.mask(`0x${hex}`), `0x${MASK}`);
    assert.equal(masker.mask(hex.toUpperCase()), MASK);
  });

  it('ignores empty and blank values', () => {
    const masker = new Masker(['', '   ', '\n']);
    assert.equal(masker.size, 0);
    assert.equal(masker.mask('nothing to hide'), 'nothing to hide');
  });

  it('masks the longer of two overlapping secrets whole', () => {
    const masker = new Masker(['abcd', 'abcdef']);
    assert.equal(masker.mask('xabcdefx'), `x${MASK}x`);
  });

  it('masks strings inside nested values', () => {
    const masker = new Masker(['topsecret']);
    assert.deepEqual(masker.maskDeep({ a: ['x topsecret', 1], topsecret: true }), {
      a: [`x ${MASK}`, 1],
      [MASK]: true,
    });
  });

  it('does not mask short derived fragments', () => {
    const variants = secretVariants('abcd');
    assert.ok(variants.includes('abcd'));
    assert.ok(variants.every((variant) => variant.length >= 4));
  });

  it('skips values shorter than 4 characters', () => {
    const masker = new Masker(['7', 'ab', ' xyz ']);
    assert.equal(masker.size, 0);
    assert.equal(masker.mask('build 17 of 27 took 7s'), 'build 17 of 27 took 7s');
    assert.deepEqual(secretVariants('7'), []);
  });

  it('masks a 4-character value', () => {
    const masker = new Masker(['1234']);
    assert.equal(masker.mask('pin 1234, build 12'), `pin ${MASK}, build 12`);
  });

  it('skips short lines of a multi-line value', () => {
    const masker = new Masker(['{\n  "token": "k3y-value"\n}']);
    assert.equal(masker.mask('"token": "k3y-value"'), MASK);
    assert.equal(masker.mask('{ok} and {}'), '{ok} and {}');
  });
});
