import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';

import type { Context } from '../core/context.js';
import { EXIT_CODES, isUserError, type ErrorKind } from '../core/errors.js';
import { CachedTokenVerifier } from '../core/tokens.js';
import { API_ROUTES } from './routes.js';

export interface ApiError {
  /** A number, as in Cloudflare's envelope: the D1 routes' codes or `API_ERROR_CODES`. */
  code: number;
  message: string;
  /** opsbox's word code, such as `RUN_NOT_FOUND`, for errors that have one. */
  type?: string;
}

/**
 * Numeric `code` of each error kind in the envelope: 8000 plus the CLI's exit
 * code for the same kind, so 8004 is "not found" as exit code 4 is. The
 * numbers are as stable as the exit codes. Codes that Cloudflare's API uses
 * keep their meaning: 10000 for a missing or wrong token and 7000 for an
 * unknown path. The D1 routes keep D1's 7500 and use 7400 for a bad request.
 */
export const API_ERROR_CODES: Record<ErrorKind | 'bug', number> = Object.fromEntries(
  Object.entries(EXIT_CODES).map(([kind, exitCode]) => [kind, 8000 + exitCode]),
) as Record<ErrorKind | 'bug', number>;

/** Kinds of the 4xx errors that fastify raises itself, such as an unparsable body. */
const STATUS_KINDS: Record<number, ErrorKind> = {
  403: 'permission',
  404: 'not_found',
  408: 'timeout',
  409: 'conflict',
  413: 'limit',
};

/** Wraps a result in the Cloudflare v4 envelope that every JSON API response uses. */
export function envelope<T>(result: T, errors: ApiError[] = [], messages: string[] = []) {
  return { success: errors.length === 0, errors, messages, result };
}

export function failure(errors: ApiError[]) {
  return { success: false, errors, messages: [], result: null };
}

/** Paths reachable without a token: a liveness probe that reveals nothing. */
const PUBLIC_PATHS = new Set(['/health']);

/**
 * Builds the HTTP API: bearer-token auth on every route but /health, the
 * routes of each capability, and one error handler that turns a UserError
 * into its status code and a Cloudflare-style error envelope.
 */
export async function buildApp(
  context: Context,
  options: { bodyLimit?: number } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    // A followed run log keeps its connection open for as long as the run lasts; stopping ends it.
    forceCloseConnections: true,
    loggerInstance: context.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // One log line per request costs throughput; OPSBOX_LOG_REQUESTS=1 turns them on.
    logController: new LogController({
      disableRequestLogging: process.env.OPSBOX_LOG_REQUESTS !== '1',
    }),
    bodyLimit: options.bodyLimit ?? 64 * 1024 * 1024,
  });
  const tokens = new CachedTokenVerifier(context);

  // An empty body with a JSON content type (curl -X DELETE -H 'content-type:
  // application/json') is no body, not a parse error. Other bodies go through
  // fastify's own parser, which also rejects prototype poisoning.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body as string, done);
  });

  app.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_PATHS.has(request.url)) return;
    if (!(await authorize(tokens, request))) {
      reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send(
          failure([
            {
              code: 10000,
              message:
                'Authentication error: send "Authorization: Bearer <token>"; create a token with `opsbox token create NAME`.',
            },
          ]),
        );
      return reply;
    }
  });

  app.setErrorHandler((error: any, request: FastifyRequest, reply: FastifyReply) => {
    if (isUserError(error)) {
      // Errors of the D1 routes carry a numeric code (7400, 7500) and no type, as on D1.
      const apiError = /^\d+$/.test(error.code)
        ? { code: Number(error.code), message: error.message }
        : { code: API_ERROR_CODES[error.kind], message: error.message, type: error.code };
      reply.code(error.httpStatus).send(failure([apiError]));
      return;
    }
    if (error.validation || (error.statusCode && error.statusCode < 500)) {
      const status: number = error.statusCode ?? 400;
      const kind = STATUS_KINDS[status] ?? 'invalid';
      reply.code(status).send(
        failure([
          {
            code: API_ERROR_CODES[kind],
            message: error.message,
            type: error.code ?? 'BAD_REQUEST',
          },
        ]),
      );
      return;
    }
    request.log.error({ err: error }, 'request failed');
    reply.code(500).send(
      failure([
        {
          code: API_ERROR_CODES.bug,
          message: 'Internal error; the server log has the details.',
          type: 'INTERNAL',
        },
      ]),
    );
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(
      failure([
        {
          code: 7000,
          message: `No route for ${request.method} ${request.url}.`,
          type: 'ROUTE_NOT_FOUND',
        },
      ]),
    );
  });

  app.get('/health', async () => ({ ok: true }));
  for (const register of API_ROUTES) await register(app, context);
  return app;
}

async function authorize(tokens: CachedTokenVerifier, request: FastifyRequest): Promise<boolean> {
  const header = request.headers.authorization;
  if (!header || !header.startsWith('Bearer ')) return false;
  return (await tokens.verify(header.slice('Bearer '.length).trim())) !== undefined;
}
