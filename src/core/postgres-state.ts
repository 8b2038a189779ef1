import type pg from 'pg';

import { UserError, errorMessage } from './errors.js';

/** One schema change of the PostgreSQL state store, applied once, in version order per area. */
export interface PgMigration {
  area: string;
  version: number;
  description: string;
  sql: string;
}

/** The schema that contains opsbox's tables, kept apart from a user's own tables. */
export const STATE_SCHEMA = 'opsbox';

/** A lock id for migrations, so processes starting at once apply each migration once. */
const MIGRATION_LOCK = 0x6f7073626f78;

export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The state store on PostgreSQL, chosen by OPSBOX_DATABASE_URL, which
 * servers and workers on any number of machines share. The embedded SQLite
 * store stays in use for what is not shared: databases, tokens and the
 * object store's files.
 */
export class PostgresState {
  private poolPromise?: Promise<pg.Pool>;
  private migrated?: Promise<void>;

  constructor(
    readonly url: string,
    private readonly migrations: PgMigration[],
  ) {}

  /** Opens the connection pool on first use: the pg module is loaded only by commands that need it. */
  private pool(): Promise<pg.Pool> {
    this.poolPromise ??= import('pg').then(({ default: driver }) => {
      const pool = new driver.Pool({
        connectionString: this.url,
        max: 8,
        application_name: 'opsbox',
        options: `-c search_path=${STATE_SCHEMA}`,
        allowExitOnIdle: true,
      });
      // An idle client losing its connection must not crash the process; the next query reconnects.
      pool.on('error', () => undefined);
      return pool;
    });
    return this.poolPromise;
  }

  /** The address without user or password, for messages. */
  get displayUrl(): string {
    return describeUrl(this.url);
  }

  /** Applies pending migrations once per process, then runs the query. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    await this.ready();
    const pool = await this.pool();
    return pool.query<R>(text, values).catch((error) => {
      throw this.explain(error);
    });
  }

  /** Runs `work` in one transaction on one connection; it is rolled back when `work` throws. */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.ready();
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw this.explain(error);
    } finally {
      client.release();
    }
  }

  ready(): Promise<void> {
    this.migrated ??= this.migrate().catch((error) => {
      this.migrated = undefined;
      throw error;
    });
    return this.migrated;
  }

  async end(): Promise<void> {
    const pool = await this.poolPromise;
    this.poolPromise = undefined;
    await pool?.end();
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await (await this.pool()).connect();
    } catch (error) {
      throw this.explain(error);
    }
  }

  /** Returns the migrations already applied, or none when the schema does not exist yet. */
  private async applied(client: pg.PoolClient): Promise<Set<string>> {
    try {
      const { rows } = await client.query<{ area: string; version: number }>(
        'SELECT area, version FROM migrations',
      );
      return new Set(rows.map((row) => `${row.area}:${row.version}`));
    } catch (error) {
      if ((error as { code?: string }).code === '42P01') return new Set();
      throw error;
    }
  }

  /**
   * Creates or upgrades opsbox's tables. A store that is up to date is only
   * read, so a role that may not create tables works once they exist.
   */
  private async migrate(): Promise<void> {
    const client = await this.connect();
    try {
      const before = await this.applied(client);
      if (this.migrations.every((m) => before.has(`${m.area}:${m.version}`))) return;
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS migrations (
           area text NOT NULL, version integer NOT NULL, description text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (area, version))`,
      );
      const applied = await this.applied(client);
      for (const migration of this.migrations) {
        if (applied.has(`${migration.area}:${migration.version}`)) continue;
        await client.query(migration.sql);
        await client.query(
          'INSERT INTO migrations (area, version, description) VALUES ($1, $2, $3)',
          [migration.area, migration.version, migration.description],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw this.explain(error);
    } finally {
      client.release();
    }
  }

  /** Turns a connection failure into one line that names the server, never the password. */
  private explain(error: unknown): unknown {
    if (error instanceof UserError) return error;
    const code = (error as { code?: string }).code ?? '';
    if (
      /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|ECONNRESET)$/.test(code) ||
      code === '57P03'
    )
      return new UserError(
        'unavailable',
        `Cannot reach the PostgreSQL state store at ${this.displayUrl} (OPSBOX_DATABASE_URL): ${errorMessage(error)}. Start the server or fix the URL.`,
      );
    if (code === '28P01' || code === '28000')
      return new UserError(
        'permission',
        `The PostgreSQL state store at ${this.displayUrl} refused the login (OPSBOX_DATABASE_URL): ${errorMessage(error)}.`,
      );
    if (code === '42501')
      return new UserError(
        'permission',
        `The role in OPSBOX_DATABASE_URL lacks a privilege on the PostgreSQL state store at ${this.displayUrl}: ${errorMessage(error)}. For the first start it needs CREATE on the database (or to own the schemas ${STATE_SCHEMA} and opsbox_queue).`,
      );
    if (code === '3D000')
      return new UserError(
        'not_found',
        `The PostgreSQL state store at ${this.displayUrl} has no such database (OPSBOX_DATABASE_URL): ${errorMessage(error)}. Create it first.`,
      );
    return error;
  }
}

/** Shows a PostgreSQL URL as host:port/database, leaving out the user and password. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return '(an unparsable URL)';
  }
}

/** Checks OPSBOX_DATABASE_URL's form; returns undefined when it is not set. */
export function databaseUrl(env = process.env): string | undefined {
  const url = env.OPSBOX_DATABASE_URL;
  if (!url) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^postgres(ql)?:$/.test(parsed.protocol))
    throw new UserError(
      'usage',
      'Invalid OPSBOX_DATABASE_URL: use postgres://USER:PASSWORD@HOST:PORT/DATABASE.',
    );
  return url;
}
