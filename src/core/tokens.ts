import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

import { UserError } from './errors.js';
import type { Migration, StateDb } from './state.js';

export const TOKEN_MIGRATIONS: Migration[] = [
  {
    area: 'core',
    version: 1,
    description: 'API tokens',
    sql: `CREATE TABLE api_tokens (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      sha256 TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL,
      last_used_at TEXT
    )`,
  },
];

export interface TokenInfo {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

const TOKEN_PREFIX = 'obx_';
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * API bearer tokens. Only a SHA-256 of each token is stored: a token is 32
 * random bytes, so a fast hash is enough and the plain value is shown once.
 */
export class TokenService {
  constructor(private readonly db: StateDb) {}

  create(name: string): { token: string; info: TokenInfo } {
    if (!NAME_PATTERN.test(name)) {
      throw new UserError(
        'invalid',
        `Invalid token name "${name}": use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
      );
    }
    if (this.db.prepare('SELECT 1 FROM api_tokens WHERE name = ?').get(name)) {
      throw new UserError(
        'conflict',
        `A token named "${name}" already exists. Revoke it with \`opsbox token revoke ${name}\` or pick another name.`,
      );
    }
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const info: TokenInfo = {
      id: randomUUID(),
      name,
      createdAt: new Date().toISOString(),
      lastUsedAt: null,
    };
    this.db
      .prepare('INSERT INTO api_tokens (id, name, sha256, created_at) VALUES (?, ?, ?, ?)')
      .run(info.id, name, hashToken(token), info.createdAt);
    return { token, info };
  }

  list(): TokenInfo[] {
    const rows = this.db
      .prepare(
        'SELECT id, name, created_at, last_used_at FROM api_tokens ORDER BY created_at, name',
      )
      .all() as TokenRow[];
    return rows.map(toInfo);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM api_tokens').get() as { n: number }).n;
  }

  /** Revokes a token by name or id. */
  revoke(nameOrId: string): TokenInfo {
    const row = this.db
      .prepare('SELECT id, name, created_at, last_used_at FROM api_tokens WHERE name = ? OR id = ?')
      .get(nameOrId, nameOrId) as TokenRow | undefined;
    if (!row) {
      throw new UserError(
        'not_found',
        `Token "${nameOrId}" not found. List tokens with \`opsbox token list\`.`,
      );
    }
    this.db.prepare('DELETE FROM api_tokens WHERE id = ?').run(row.id);
    return toInfo(row);
  }

  /** Returns the SHA-256 of every token with its id, for a verifier's cache. */
  hashes(): Map<string, string> {
    const rows = this.db.prepare('SELECT id, sha256 FROM api_tokens').all() as {
      id: string;
      sha256: string;
    }[];
    return new Map(rows.map((row) => [row.sha256, row.id]));
  }

  /** Returns the token's id when the presented value matches a stored hash. */
  verify(presented: string): string | undefined {
    const digest = hashToken(presented);
    const row = this.db
      .prepare('SELECT id, sha256 FROM api_tokens WHERE sha256 = ?')
      .get(digest) as { id: string; sha256: string } | undefined;
    if (!row || !timingSafeEqual(Buffer.from(row.sha256), Buffer.from(digest))) return undefined;
    return row.id;
  }
}

interface TokenRow {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

function toInfo(row: TokenRow): TokenInfo {
  return { id: row.id, name: row.name, createdAt: row.created_at, lastUsedAt: row.last_used_at };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Verifies tokens from an in-memory copy of the hashes, reloaded whenever the
 * state store changed: data_version moves on writes by other connections
 * (`opsbox token revoke` in another process) and total_changes() on writes by
 * this one. Both are read in one cheap query instead of a lookup per request.
 */
export class CachedTokenVerifier {
  private hashes = new Map<string, string>();
  private version = '';
  private readonly changes;

  constructor(private readonly db: StateDb) {
    this.changes = db
      .prepare("SELECT (SELECT data_version FROM pragma_data_version()) || ':' || total_changes()")
      .pluck();
  }

  verify(presented: string): string | undefined {
    const version = String(this.changes.get());
    if (version !== this.version) {
      this.hashes = new TokenService(this.db).hashes();
      this.version = version;
    }
    return this.hashes.get(hashToken(presented));
  }
}
