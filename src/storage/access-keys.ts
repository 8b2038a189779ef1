import { randomBytes, randomInt } from 'node:crypto';

import type { Statement } from 'better-sqlite3';

import type { Context } from '../core/context.js';
import { SecretBox } from '../core/crypto.js';
import { UserError } from '../core/errors.js';
import { checkBucketName } from './names.js';

export interface AccessKeyInfo {
  accessKeyId: string;
  name: string;
  /** Buckets the key may use, or null for every bucket. */
  buckets: string[] | null;
  readOnly: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

interface AccessKeyRow {
  access_key_id: string;
  name: string;
  secret: string;
  buckets: string | null;
  read_only: number;
  created_at: string;
  last_used_at: string | null;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** Minimum time between two writes of a key's last_used_at, so reads do not write on every request. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * S3 access keys. SigV4 signs with the secret itself, so the server must be
 * able to read it back: the secret is sealed with SecretBox (AES-256-GCM)
 * rather than hashed, and shown to the user only when created.
 */
export class AccessKeyService {
  private readonly box: SecretBox;
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly context: Context) {
    this.box = SecretBox.open(context.dataDir);
  }

  /** Prepares each SQL text once: the endpoint looks a key up on every request. */
  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.context.state.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  create(
    name: string | undefined,
    options: { buckets?: string[]; readOnly?: boolean } = {},
  ): { info: AccessKeyInfo; secretAccessKey: string } {
    const accessKeyId =
      'OBX' + Array.from({ length: 17 }, () => ID_ALPHABET[randomInt(ID_ALPHABET.length)]).join('');
    const keyName = name ?? `key-${accessKeyId.slice(3, 11).toLowerCase()}`;
    if (!NAME_PATTERN.test(keyName)) {
      throw new UserError(
        'invalid',
        `Invalid key name "${keyName}": use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
      );
    }
    for (const bucket of options.buckets ?? []) checkBucketName(bucket);
    if (
      this.context.state.prepare('SELECT 1 FROM storage_access_keys WHERE name = ?').get(keyName)
    ) {
      throw new UserError(
        'conflict',
        `An access key named "${keyName}" already exists. Revoke it with \`opsbox storage key revoke ${keyName}\` or pick another name.`,
      );
    }
    const secretAccessKey = randomBytes(30).toString('base64');
    const info: AccessKeyInfo = {
      accessKeyId,
      name: keyName,
      buckets:
        options.buckets && options.buckets.length > 0 ? [...new Set(options.buckets)].sort() : null,
      readOnly: options.readOnly ?? false,
      createdAt: new Date().toISOString(),
      lastUsedAt: null,
    };
    this.context.state
      .prepare(
        'INSERT INTO storage_access_keys (access_key_id, name, secret, buckets, read_only, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(
        accessKeyId,
        keyName,
        this.box.encrypt(secretAccessKey, sealContext(accessKeyId)),
        info.buckets ? JSON.stringify(info.buckets) : null,
        info.readOnly ? 1 : 0,
        info.createdAt,
      );
    return { info, secretAccessKey };
  }

  list(): AccessKeyInfo[] {
    const rows = this.context.state
      .prepare('SELECT * FROM storage_access_keys ORDER BY created_at, name')
      .all() as AccessKeyRow[];
    return rows.map(toInfo);
  }

  revoke(idOrName: string): AccessKeyInfo {
    const row = this.context.state
      .prepare('SELECT * FROM storage_access_keys WHERE access_key_id = ? OR name = ?')
      .get(idOrName, idOrName) as AccessKeyRow | undefined;
    if (!row)
      throw new UserError(
        'not_found',
        `No access key has the id or name "${idOrName}". List keys with \`opsbox storage key list\`.`,
      );
    this.context.state
      .prepare('DELETE FROM storage_access_keys WHERE access_key_id = ?')
      .run(row.access_key_id);
    return toInfo(row);
  }

  /** Returns a key and its secret, or undefined for an unknown id. */
  lookup(accessKeyId: string): { info: AccessKeyInfo; secretAccessKey: string } | undefined {
    const row = this.statement('SELECT * FROM storage_access_keys WHERE access_key_id = ?').get(
      accessKeyId,
    ) as AccessKeyRow | undefined;
    if (!row) return undefined;
    return {
      info: toInfo(row),
      secretAccessKey: this.box.decrypt(row.secret, sealContext(accessKeyId)).toString('utf8'),
    };
  }

  touch(info: AccessKeyInfo, now = new Date()): void {
    if (info.lastUsedAt && now.getTime() - Date.parse(info.lastUsedAt) < TOUCH_INTERVAL_MS) return;
    this.context.state
      .prepare('UPDATE storage_access_keys SET last_used_at = ? WHERE access_key_id = ?')
      .run(now.toISOString(), info.accessKeyId);
  }
}

/** Returns whether a key may read (or, with `write`, change) a bucket. An undefined `bucket` means the account level. */
export function keyAllows(
  info: AccessKeyInfo,
  bucket: string | undefined,
  write: boolean,
): boolean {
  if (write && info.readOnly) return false;
  if (bucket === undefined) return info.buckets === null || !write;
  return info.buckets === null || info.buckets.includes(bucket);
}

function sealContext(accessKeyId: string): string {
  return `storage-access-key:${accessKeyId}`;
}

function toInfo(row: AccessKeyRow): AccessKeyInfo {
  return {
    accessKeyId: row.access_key_id,
    name: row.name,
    buckets: row.buckets ? (JSON.parse(row.buckets) as string[]) : null,
    readOnly: row.read_only === 1,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}
