import { createHash, randomBytes, randomUUID } from 'node:crypto';

import type { Statement } from 'better-sqlite3';

import type { Context } from './context.js';
import { UserError } from './errors.js';
import type { PgMigration } from './postgres-state.js';
import { queryState } from './state-query.js';
import type { Migration } from './state.js';

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

export const TOKEN_PG_MIGRATIONS: PgMigration[] = [
  {
    area: 'core',
    version: 1,
    description: 'API tokens',
    sql: `CREATE TABLE api_tokens (
      id text PRIMARY KEY,
      name text NOT NULL UNIQUE,
      sha256 text NOT NULL UNIQUE,
      created_at text NOT NULL,
      last_used_at text
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
 * API bearer tokens, kept in the state store (PostgreSQL when
 * OPSBOX_DATABASE_URL is set, so that every server accepts them). Only a
 * SHA-256 of each token is stored: a token is 32 random bytes, so a fast
 * hash is enough and the plain value is shown once.
 */
export class TokenService {
  constructor(private readonly context: Context) {}

  async create(name: string): Promise<{ token: string; info: TokenInfo }> {
    if (!NAME_PATTERN.test(name)) {
      throw new UserError(
        'invalid',
        `Invalid token name "${name}": use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
      );
    }
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const info: TokenInfo = {
      id: randomUUID(),
      name,
      createdAt: new Date().toISOString(),
      lastUsedAt: null,
    };
    // ON CONFLICT on the name alone, so that a taken name is reported, never a hash collision.
    const inserted = await queryState(
      this.context,
      `INSERT INTO api_tokens (id, name, sha256, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING RETURNING id`,
      [info.id, name, hashToken(token), info.createdAt],
    );
    if (inserted.length === 0) {
      throw new UserError(
        'conflict',
        `A token named "${name}" already exists. Revoke it with \`opsbox token revoke ${name}\` or pick another name.`,
      );
    }
    return { token, info };
  }

  async list(): Promise<TokenInfo[]> {
    const rows = await queryState<TokenRow>(
      this.context,
      'SELECT id, name, created_at, last_used_at FROM api_tokens ORDER BY created_at, name',
    );
    return rows.map(toInfo);
  }

  async count(): Promise<number> {
    const [row] = await queryState<{ n: number | string }>(
      this.context,
      'SELECT count(*) AS n FROM api_tokens',
    );
    return Number(row!.n);
  }

  /** Revokes a token by name or id. */
  async revoke(nameOrId: string): Promise<TokenInfo> {
    const [row] = await queryState<TokenRow>(
      this.context,
      'DELETE FROM api_tokens WHERE name = $1 OR id = $1 RETURNING id, name, created_at, last_used_at',
      [nameOrId],
    );
    if (!row) {
      throw new UserError(
        'not_found',
        `Token "${nameOrId}" not found. List tokens with \`opsbox token list\`.`,
      );
    }
    return toInfo(row);
  }

  /** Returns the SHA-256 of every token with its id, for a verifier's cache. */
  async hashes(): Promise<Map<string, string>> {
    const rows = await queryState<{ id: string; sha256: string }>(
      this.context,
      'SELECT id, sha256 FROM api_tokens',
    );
    return new Map(rows.map((row) => [row.sha256, row.id]));
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

/** How long the PostgreSQL verifier trusts its copy of the hashes; a revoke elsewhere takes effect within this time. */
const SHARED_CACHE_MS = 1000;

/**
 * Verifies tokens from an in-memory copy of the hashes, so a request costs
 * no lookup. On SQLite the copy is reloaded whenever the state store
 * changed: data_version moves on writes by other connections (`opsbox token
 * revoke` in another process) and total_changes() on writes by this one,
 * both read in one cheap query. On PostgreSQL, shared by several servers,
 * the copy is reloaded once it is a second old.
 */
export class CachedTokenVerifier {
  private hashes = new Map<string, string>();
  private version = '';
  private loadedAt = 0;
  private readonly changes?: Statement;

  constructor(private readonly context: Context) {
    if (!context.postgres)
      this.changes = context.state
        .prepare(
          "SELECT (SELECT data_version FROM pragma_data_version()) || ':' || total_changes()",
        )
        .pluck();
  }

  async verify(presented: string): Promise<string | undefined> {
    if (this.changes) {
      const version = String(this.changes.get());
      if (version !== this.version) {
        this.hashes = await new TokenService(this.context).hashes();
        this.version = version;
      }
    } else if (Date.now() - this.loadedAt > SHARED_CACHE_MS) {
      this.hashes = await new TokenService(this.context).hashes();
      this.loadedAt = Date.now();
    }
    return this.hashes.get(hashToken(presented));
  }
}
