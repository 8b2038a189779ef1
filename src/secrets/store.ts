import type { Context } from '../core/context.js';
import { UserError } from '../core/errors.js';
import { queryState, sqliteStatement } from '../core/state-query.js';
import { secretBoxFor } from './shared-key.js';

export interface SecretInfo {
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** GitHub's rule for secret names: letters, digits and underscores, not starting with a digit. */
const NAME_PATTERN = /^[A-Z_][A-Z0-9_]{0,127}$/;
const RESERVED_PREFIXES = ['GITHUB_', 'OPSBOX_'];

/** Maximum size of one secret value, as on GitHub (48 KB). */
export const MAX_SECRET_BYTES = 48 * 1024;

/**
 * Checks and normalizes a secret name. Names are case-insensitive and stored
 * in upper case, as `gh secret set` does, because `${{ secrets.x }}` lookups
 * ignore case.
 */
export function normalizeSecretName(name: string): string {
  const upper = name.toUpperCase();
  if (!NAME_PATTERN.test(upper)) {
    throw new UserError(
      'invalid',
      `Invalid secret name "${name}": use letters, digits and underscores, not starting with a digit.`,
    );
  }
  const reserved = RESERVED_PREFIXES.find((prefix) => upper.startsWith(prefix));
  if (reserved) {
    throw new UserError(
      'invalid',
      `Invalid secret name "${name}": names starting with ${reserved} are reserved. Pick another name.`,
    );
  }
  return upper;
}

/**
 * Named secrets kept in the state store (PostgreSQL when OPSBOX_DATABASE_URL
 * is set, so that workers on other machines read them), each sealed with
 * AES-256-GCM. The name is bound to the ciphertext as associated data, so a
 * sealed value copied under another name fails to decrypt instead of leaking.
 */
export class SecretStore {
  constructor(private readonly context: Context) {}

  /** Stores a secret; returns whether it replaced an existing one. */
  async set(name: string, value: string): Promise<{ name: string; replaced: boolean }> {
    const [stored] = await this.store({ [name]: value });
    return stored!;
  }

  /** Stores many secrets in one transaction: either all are stored or none. */
  async setMany(values: Record<string, string>): Promise<string[]> {
    return (await this.store(values)).map((stored) => stored.name);
  }

  private async store(
    values: Record<string, string>,
  ): Promise<{ name: string; replaced: boolean }[]> {
    const now = new Date().toISOString();
    const entries = Object.entries(values).map(([name, value]) => {
      const normalized = normalizeSecretName(name);
      checkValue(normalized, value);
      return [normalized, value] as const;
    });
    const box = await secretBoxFor(this.context);
    const sealed = entries.map(([name, value]) => ({ name, sealed: box.encrypt(value, name) }));
    const upsert = `INSERT INTO secrets (name, sealed, created_at, updated_at) VALUES ($1, $2, $3, $3)
       ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
       RETURNING created_at`;
    const postgres = this.context.postgres;
    if (postgres) {
      return postgres.transaction(async (client) => {
        const stored = [];
        for (const entry of sealed) {
          const { rows } = await client.query<{ created_at: string }>(upsert, [
            entry.name,
            entry.sealed,
            now,
          ]);
          stored.push({ name: entry.name, replaced: rows[0]!.created_at !== now });
        }
        return stored;
      });
    }
    const write = this.context.state.transaction(() =>
      sealed.map((entry) => {
        const [sql, parameters] = sqliteStatement(upsert, [entry.name, entry.sealed, now]);
        const row = this.context.state.prepare(sql).get(...parameters) as { created_at: string };
        return { name: entry.name, replaced: row.created_at !== now };
      }),
    );
    return write();
  }

  async list(): Promise<SecretInfo[]> {
    const rows = await queryState<SecretRow>(
      this.context,
      'SELECT name, created_at, updated_at FROM secrets ORDER BY name',
    );
    return rows.map((row) => ({
      name: row.name,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  async delete(name: string): Promise<SecretInfo> {
    const [row] = await queryState<SecretRow>(
      this.context,
      'DELETE FROM secrets WHERE name = $1 RETURNING name, created_at, updated_at',
      [name.toUpperCase()],
    );
    if (!row) {
      throw new UserError(
        'not_found',
        `Secret "${name}" not found. List secrets with \`opsbox secret list\`.`,
        { code: 'SECRET_NOT_FOUND' },
      );
    }
    return { name: row.name, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  /** Decrypts every secret, for a workflow run's `secrets` context. */
  async readAll(): Promise<Map<string, string>> {
    const rows = await queryState<{ name: string; sealed: string }>(
      this.context,
      'SELECT name, sealed FROM secrets ORDER BY name',
    );
    const values = new Map<string, string>();
    if (rows.length === 0) return values;
    const box = await secretBoxFor(this.context);
    for (const row of rows) {
      try {
        values.set(row.name, box.decrypt(row.sealed, row.name).toString('utf8'));
      } catch (error) {
        throw new UserError(
          'permission',
          `Cannot decrypt secret ${row.name}: it was stored with another secret key. Set it again with \`opsbox secret set ${row.name}\`, or use the key it was stored with.`,
          { code: 'WRONG_SECRET_KEY', cause: error },
        );
      }
    }
    return values;
  }
}

interface SecretRow {
  name: string;
  created_at: string;
  updated_at: string;
}

function checkValue(name: string, value: string): void {
  if (value.length === 0) {
    throw new UserError(
      'invalid',
      `Secret "${name}" has an empty value; pass a value on stdin, at the prompt or with --body.`,
    );
  }
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) {
    throw new UserError(
      'limit',
      `Secret "${name}" is ${Buffer.byteLength(value)} bytes; the limit is ${MAX_SECRET_BYTES} bytes.`,
    );
  }
}
