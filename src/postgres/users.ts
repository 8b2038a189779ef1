import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

import type pg from 'pg';

import { UserError } from '../core/errors.js';
import { withSession, type ConnectionOptions, type Session } from './connection.js';
import { sqlState, SQLSTATE } from './errors.js';
import { quoteIdent } from './features.js';

export interface RoleInfo {
  name: string;
  login: boolean;
  superuser: boolean;
  create_role: boolean;
  create_db: boolean;
  replication: boolean;
  connection_limit: number;
  valid_until: string | null;
  member_of: string[];
  /** Privileges on each database that allows connections: CONNECT, CREATE, TEMPORARY. */
  databases: { database: string; privileges: string[] }[];
  /**
   * Explicit table privileges per database and schema, such as
   * { database: 'shop', schema: 'public', privilege: 'SELECT', tables: 12 },
   * read from every database the connected role may connect to.
   */
  tables: { database: string; schema: string; privilege: string; tables: number }[];
}

/** Explicit grants only (aclexplode of relacl): owners and superusers have every privilege implicitly. */
const TABLE_GRANTS_SQL = `
  SELECT current_database() AS database, a.grantee AS role, n.nspname AS schema, a.privilege_type AS privilege, count(*)::int AS tables
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL aclexplode(c.relacl) a
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   GROUP BY 1, 2, 3, 4
   ORDER BY 3, 4`;

export interface UsersReport {
  roles: RoleInfo[];
  /** Databases whose table grants could not be read, with the reason. */
  skipped: { database: string; reason: string }[];
}

/**
 * Lists roles (without the built-in pg_* ones) with their attributes,
 * memberships, database privileges, and table grants in each database,
 * which takes one connection per database.
 */
export async function listUsers(options: ConnectionOptions): Promise<UsersReport> {
  return withSession(options, async (session) => {
    const client = session.client;
    const roles = await client.query(`
      SELECT r.oid, r.rolname AS name, r.rolcanlogin AS login, r.rolsuper AS superuser, r.rolcreaterole AS create_role,
             r.rolcreatedb AS create_db, r.rolreplication AS replication, r.rolconnlimit AS connection_limit,
             r.rolvaliduntil::text AS valid_until,
             coalesce((SELECT array_agg(g.rolname::text ORDER BY g.rolname) FROM pg_catalog.pg_auth_members m
                         JOIN pg_catalog.pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '{}'::text[]) AS member_of
        FROM pg_catalog.pg_roles r
       WHERE r.rolname !~ '^pg_'
       ORDER BY r.rolname`);
    const databases = await client.query(`
      SELECT r.oid AS role, d.datname AS database,
             array_remove(ARRAY[
               CASE WHEN pg_catalog.has_database_privilege(r.oid, d.oid, 'CONNECT') THEN 'CONNECT' END,
               CASE WHEN pg_catalog.has_database_privilege(r.oid, d.oid, 'CREATE') THEN 'CREATE' END,
               CASE WHEN pg_catalog.has_database_privilege(r.oid, d.oid, 'TEMPORARY') THEN 'TEMPORARY' END], NULL) AS privileges
        FROM pg_catalog.pg_roles r CROSS JOIN pg_catalog.pg_database d
       WHERE r.rolname !~ '^pg_' AND d.datallowconn
       ORDER BY d.datname`);
    const { grants, skipped } = await readTableGrants(session);
    const roleList = roles.rows.map((role) => ({
      name: role.name,
      login: role.login,
      superuser: role.superuser,
      create_role: role.create_role,
      create_db: role.create_db,
      replication: role.replication,
      connection_limit: role.connection_limit,
      valid_until: role.valid_until,
      member_of: role.member_of,
      databases: databases.rows
        .filter((row) => row.role === role.oid && row.privileges.length > 0)
        .map((row) => ({ database: row.database, privileges: row.privileges })),
      tables: grants
        .filter((row) => row.role === role.oid)
        .map((row) => ({
          database: row.database,
          schema: row.schema,
          privilege: row.privilege,
          tables: row.tables,
        })),
    }));
    return { roles: roleList, skipped };
  });
}

async function readTableGrants(
  session: Session,
): Promise<{ grants: Record<string, any>[]; skipped: UsersReport['skipped'] }> {
  const current = await session.client.query(TABLE_GRANTS_SQL);
  const grants = [...current.rows];
  const skipped: UsersReport['skipped'] = [];
  const others = await session.client.query(`
    SELECT datname, pg_catalog.has_database_privilege(oid, 'CONNECT') AS allowed
      FROM pg_catalog.pg_database WHERE datallowconn AND datname <> current_database() AND datname <> 'template1'
     ORDER BY datname`);
  for (const { datname, allowed } of others.rows) {
    if (!allowed) {
      skipped.push({ database: datname, reason: 'no CONNECT privilege' });
      continue;
    }
    try {
      const client = await session.connectAgain(datname);
      grants.push(...(await client.query(TABLE_GRANTS_SQL)).rows);
      await client.end();
    } catch (error) {
      skipped.push({ database: datname, reason: (error as Error).message });
    }
  }
  return { grants, skipped };
}

export type AccessLevel = 'readonly' | 'readwrite' | 'admin';

export interface CreateUserOptions extends ConnectionOptions {
  name: string;
  access: AccessLevel;
  /** Database to grant on; defaults to the connection's database. */
  database?: string;
  /** Sent to the server only as a SCRAM-SHA-256 verifier, never in clear text. */
  password: string;
}

export interface CreateUserResult {
  name: string;
  access: AccessLevel;
  database: string;
  schemas: string[];
  /** Roles whose future tables the default privileges cover. */
  defaultPrivilegesFor: string[];
}

const TABLE_PRIVILEGES: Record<AccessLevel, string> = {
  readonly: 'SELECT',
  readwrite: 'SELECT, INSERT, UPDATE, DELETE',
  admin: 'ALL PRIVILEGES',
};

const SEQUENCE_PRIVILEGES: Record<AccessLevel, string> = {
  readonly: 'SELECT',
  readwrite: 'USAGE, SELECT, UPDATE',
  admin: 'ALL PRIVILEGES',
};

/**
 * Creates a login role and grants it access to every user schema of one
 * database: existing tables and sequences, and default privileges so that
 * tables created later by a schema owner, the database owner or the
 * connected role are covered too. All of it runs in one transaction.
 */
export async function createUser(options: CreateUserOptions): Promise<CreateUserResult> {
  validateRoleName(options.name);
  if (options.password.length === 0)
    throw new UserError(
      'usage',
      'The password is empty; type one at the prompt or pipe it on stdin.',
      { code: 'PG_PASSWORD_EMPTY' },
    );

  const connection = options.database
    ? { ...options, url: undefined, env: databaseEnv(options) }
    : options;
  return withSession(connection, async (session) => {
    const client = session.client;
    const database = (await client.query('SELECT current_database() AS name')).rows[0]
      .name as string;
    const role = quoteIdent(options.name);
    await client.query('BEGIN');
    try {
      await client.query(
        `CREATE ROLE ${role} LOGIN PASSWORD ${client.escapeLiteral(scramVerifier(options.password))}`,
      );
      await client.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${quoteIdent(database)} TO ${role}`);
      if (options.access === 'admin')
        await client.query(`GRANT CREATE ON DATABASE ${quoteIdent(database)} TO ${role}`);
      const grants = await grantSchemas(client, role, options.access);
      await client.query('COMMIT');
      return { name: options.name, access: options.access, database, ...grants };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw createUserError(error, options.name);
    }
  });
}

async function grantSchemas(
  client: pg.Client,
  role: string,
  access: AccessLevel,
): Promise<{ schemas: string[]; defaultPrivilegesFor: string[] }> {
  // Default privileges apply per creating role, so they are set for the schema
  // owner, the database owner and the connected role, where the connected
  // role may act for them. Built-in roles such as pg_database_owner never
  // create tables themselves and are skipped.
  const { rows } = await client.query(`
    SELECT n.nspname AS schema,
           ARRAY[pg_catalog.pg_get_userbyid(n.nspowner)::text, pg_catalog.pg_get_userbyid(d.datdba)::text, current_user::text] AS owners
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_database d ON d.datname = current_database()
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
       AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
     ORDER BY n.nspname`);
  const creators = new Set<string>();
  for (const { schema, owners } of rows) {
    const name = quoteIdent(schema);
    await client.query(
      `GRANT ${access === 'admin' ? 'USAGE, CREATE' : 'USAGE'} ON SCHEMA ${name} TO ${role}`,
    );
    await client.query(
      `GRANT ${TABLE_PRIVILEGES[access]} ON ALL TABLES IN SCHEMA ${name} TO ${role}`,
    );
    await client.query(
      `GRANT ${SEQUENCE_PRIVILEGES[access]} ON ALL SEQUENCES IN SCHEMA ${name} TO ${role}`,
    );
    for (const owner of new Set<string>(owners)) {
      if (owner.startsWith('pg_')) continue;
      const member = await client.query(`SELECT pg_catalog.pg_has_role($1, 'MEMBER') AS member`, [
        owner,
      ]);
      if (!member.rows[0].member) continue;
      creators.add(owner);
      const forRole = `ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(owner)} IN SCHEMA ${name}`;
      await client.query(`${forRole} GRANT ${TABLE_PRIVILEGES[access]} ON TABLES TO ${role}`);
      await client.query(`${forRole} GRANT ${SEQUENCE_PRIVILEGES[access]} ON SEQUENCES TO ${role}`);
    }
  }
  return { schemas: rows.map((row) => row.schema), defaultPrivilegesFor: [...creators].sort() };
}

function databaseEnv(options: CreateUserOptions): Record<string, string | undefined> {
  // Same server and role, other database: the database is replaced in DATABASE_URL, or set as PGDATABASE.
  const env = { ...(options.env ?? process.env) };
  const url = options.url ?? env.DATABASE_URL;
  if (url) {
    const parsed = new URL(url.replace(/^postgres(ql)?:/, 'http:'));
    parsed.pathname = '/' + encodeURIComponent(options.database!);
    env.DATABASE_URL = parsed.toString().replace(/^http:/, 'postgres:');
  } else {
    env.PGDATABASE = options.database;
  }
  return env;
}

function validateRoleName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(name) || name.startsWith('pg_')) {
    throw new UserError(
      'usage',
      `Invalid role name "${name}": use up to 63 letters, digits, _ or -, not starting with a digit or pg_.`,
      { code: 'PG_ROLE_INVALID' },
    );
  }
}

function createUserError(error: unknown, name: string): unknown {
  const state = sqlState(error);
  if (state === SQLSTATE.duplicateObject)
    return new UserError(
      'conflict',
      `Role "${name}" already exists; pick another name or drop it first.`,
      { code: 'PG_ROLE_EXISTS', cause: error },
    );
  if (state === SQLSTATE.insufficientPrivilege) {
    return new UserError(
      'permission',
      `Permission denied to create role "${name}": ${(error as Error).message}; connect as a role with CREATEROLE that owns the schemas, or a superuser.`,
      { code: 'PG_PERMISSION', cause: error },
    );
  }
  return error;
}

/**
 * Builds a SCRAM-SHA-256 verifier as libpq's PQencryptPasswordConn does
 * (RFC 5802, 4096 iterations, 16-byte salt), so the server stores it as
 * is and the clear password never reaches the server or its logs.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  // NOTE: SASLprep (RFC 4013) is reduced to its NFKC step here, so a password
  // with characters SASLprep maps to nothing or prohibits may not log in.
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
