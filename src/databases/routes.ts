import type { FastifyInstance, FastifyReply } from 'fastify';

import type { Context } from '../core/context.js';
import { UserError } from '../core/errors.js';
import { envelope } from '../server/app.js';
import { DatabaseCatalog, fileSize } from './catalog.js';
import type { QueryStatement } from './execute.js';
import { checkLimits } from './limits.js';
import { QueryPool } from './query-pool.js';
import { splitStatements } from './script.js';

const BASE = '/client/v4/accounts/:accountId/d1/database';

interface QueryBody {
  sql?: unknown;
  params?: unknown;
  batch?: unknown;
}

/**
 * D1's REST API under Cloudflare's paths, so clients written for D1 work
 * with only the base URL changed. The account id in the path is accepted
 * and ignored; a database is addressed by uuid or name.
 */
export function registerDatabaseRoutes(app: FastifyInstance, context: Context): void {
  const catalog = new DatabaseCatalog(context);
  const pool = new QueryPool(context.logger.child({ component: 'd1' }));
  app.addHook('onClose', async () => pool.closeAll());

  app.get<{ Querystring: { name?: string; page?: string; per_page?: string } }>(
    BASE,
    async (request) => {
      const page = pagingParameter('page', request.query.page, 1, 1);
      const perPage = pagingParameter('per_page', request.query.per_page, 1000, 10, 10_000);
      const all = catalog
        .list()
        .filter((record) => !request.query.name || record.name === request.query.name);
      const slice = all.slice((page - 1) * perPage, page * perPage);
      return {
        ...envelope(
          slice.map((record) => ({
            uuid: record.uuid,
            name: record.name,
            created_at: record.createdAt,
            version: 'production',
            file_size: fileSize(record.file),
          })),
        ),
        result_info: { page, per_page: perPage, count: slice.length, total_count: all.length },
      };
    },
  );

  app.post<{ Body: { name?: unknown } }>(BASE, async (request) => {
    const name = request.body?.name;
    if (typeof name !== 'string')
      throw new UserError('invalid', 'Missing "name": send {"name": "my-database"}.', {
        code: '7400',
      });
    const record = catalog.create(name);
    return envelope({
      uuid: record.uuid,
      name: record.name,
      created_at: record.createdAt,
      version: 'production',
    });
  });

  app.get<{ Params: { id: string } }>(`${BASE}/:id`, async (request) => {
    const details = catalog.info(request.params.id);
    return envelope({
      uuid: details.uuid,
      name: details.name,
      created_at: details.createdAt,
      version: 'production',
      num_tables: details.tables.length,
      file_size: details.sizeBytes,
    });
  });

  app.delete<{ Params: { id: string } }>(`${BASE}/:id`, async (request) => {
    const record = catalog.get(request.params.id);
    pool.close(record.file);
    catalog.delete(record.uuid);
    return envelope(null);
  });

  const query =
    (rowMode: 'object' | 'array') =>
    async (request: { params: { id: string }; body: QueryBody }, reply: FastifyReply) => {
      const record = catalog.get(request.params.id);
      const statements = parseQueryBody(request.body);
      checkLimits(statements);
      const results = await pool.run(record.file, statements, rowMode);
      reply
        .type('application/json')
        .send(`{"success":true,"errors":[],"messages":[],"result":${results}}`);
    };
  app.post<{ Params: { id: string }; Body: QueryBody }>(`${BASE}/:id/query`, query('object'));
  app.post<{ Params: { id: string }; Body: QueryBody }>(`${BASE}/:id/raw`, query('array'));
}

/**
 * Accepts `{sql, params}` (several `;`-separated statements allowed, params
 * binding to the only statement) or `{batch: [{sql, params}, …]}`.
 */
export function parseQueryBody(body: QueryBody | undefined): QueryStatement[] {
  if (!body || typeof body !== 'object')
    throw invalid('Missing JSON body: send {"sql": "...", "params": [...]} or {"batch": [...]}.');
  if (body.batch !== undefined) {
    if (!Array.isArray(body.batch) || body.batch.length === 0)
      throw invalid('"batch" must be a non-empty array of {"sql", "params"} objects.');
    return body.batch.map((item, index) => {
      const statement = toStatement(item as QueryBody, `batch[${index}]`);
      // Leading comments are dropped so that statement checks see the first keyword.
      const [first] = splitStatements(statement.sql);
      return { ...statement, sql: first?.sql ?? statement.sql };
    });
  }
  const single = toStatement(body, 'body');
  const parts = [...splitStatements(single.sql)];
  if (parts.length <= 1) return [{ ...single, sql: parts[0]?.sql ?? single.sql }];
  if (single.params && single.params.length > 0) {
    throw invalid(
      '"params" bind to one statement, but "sql" contains several; send them as a "batch".',
    );
  }
  return parts.map((part) => ({ sql: part.sql }));
}

function toStatement(item: QueryBody, where: string): QueryStatement {
  if (!item || typeof item.sql !== 'string' || item.sql.trim() === '')
    throw invalid(`Missing "sql" string in ${where}.`);
  if (item.params !== undefined && !Array.isArray(item.params))
    throw invalid(`"params" in ${where} must be an array of values.`);
  return { sql: item.sql, params: item.params as unknown[] | undefined };
}

/**
 * Reads a paging query parameter. The ranges are those that Cloudflare's API
 * reference gives for List D1 Databases (page ≥ 1, per_page 10 to 10000).
 * A value outside them gets a 400 rather than being clamped.
 */
function pagingParameter(
  name: string,
  text: string | undefined,
  defaultValue: number,
  min: number,
  max?: number,
): number {
  if (text === undefined) return defaultValue;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (Number.isSafeInteger(value) && value >= min && (max === undefined || value <= max)) {
    return value;
  }
  const range = max === undefined ? `of ${min} or more` : `from ${min} to ${max}`;
  throw invalid(`Invalid ${name} "${text}": use a whole number ${range}.`);
}

function invalid(message: string): UserError {
  return new UserError('invalid', message, { code: '7400' });
}
