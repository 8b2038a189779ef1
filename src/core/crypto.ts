import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';

import { LAYOUT, type DataDir } from './data-dir.js';
import { UserError } from './errors.js';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 'v1';

/**
 * AES-256-GCM encryption for values kept at rest (workflow secrets, storage
 * access keys). The key comes from OPSBOX_SECRET_KEY (64 hex digits or 44
 * base64 characters) or from `secret.key` in the data directory, created with
 * mode 0600 on first use. GCM's tag makes a wrong key fail loudly instead of
 * returning garbage.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromKey(key: Buffer): SecretBox {
    if (key.length !== KEY_BYTES)
      throw new UserError(
        'invalid',
        `Invalid secret key: expected ${KEY_BYTES} bytes, got ${key.length}.`,
      );
    return new SecretBox(key);
  }

  /** Loads the key from the environment or the data directory, creating the file when neither exists. */
  static open(dataDir: DataDir, env = process.env): SecretBox {
    if (env.OPSBOX_SECRET_KEY) return SecretBox.fromKey(parseKey(env.OPSBOX_SECRET_KEY));
    const file = dataDir.path(LAYOUT.secretKey);
    if (!existsSync(file)) writeKeyFile(dataDir, file);
    return SecretBox.fromKey(parseKey(readFileSync(file, 'utf8').trim(), file));
  }

  /** Encrypts a value; `context` (such as the secret's name) is bound as associated data. */
  encrypt(plaintext: string | Buffer, context = ''): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `${FORMAT}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  decrypt(sealed: string, context = ''): Buffer {
    const [format, payload] = sealed.split(':', 2);
    if (format !== FORMAT || !payload)
      throw new UserError(
        'invalid',
        `Cannot decrypt a value stored in an unknown format "${format}".`,
      );
    const raw = Buffer.from(payload, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      throw new UserError(
        'permission',
        'Cannot decrypt a stored secret: the secret key is wrong. Set OPSBOX_SECRET_KEY (or secret.key in the data directory) to the key the value was stored with.',
        { code: 'WRONG_SECRET_KEY' },
      );
    }
  }
}

function parseKey(text: string, source = 'OPSBOX_SECRET_KEY'): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new UserError(
      'invalid',
      `Invalid secret key in ${source}: expected 64 hex digits or base64 of 32 bytes.`,
    );
  }
  return key;
}

/** Writes a new key with mode 0600 through a temp file, so a crash never leaves a partial key. */
function writeKeyFile(dataDir: DataDir, file: string): void {
  dataDir.ensure();
  const temp = `${file}.${process.pid}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, randomBytes(KEY_BYTES).toString('hex') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // Another process may have created the key meanwhile; keep theirs.
  if (existsSync(file)) return;
  renameSync(temp, file);
}
