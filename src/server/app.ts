import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';

import type { Context } from '../core/context.js';
import { isUserError } from '../core/errors.js';
import { CachedTokenVerifier } from '../core/tokens.js';
import { API_ROUTES } from './routes.js';

export interface ApiError {
  code: number | string;
  message: string;
}

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
    loggerInstance: context.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // One log line per request costs throughput; OPSBOX_LOG_REQUESTS=1 turns them on.
    logController: new LogController({
      disableRequestLogging: process.env.OPSBOX_LOG_REQUESTS !== '1',
    }),
    bodyLimit: options.bodyLimit ?? 64 * 1024 * 1024,
  });
  const tokens = new CachedTokenVerifier(context.state);

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
    if (!authorize(tokens, request)) {
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
      // Cloudflare's API error codes are numbers; opsbox's own codes are words.
      const code = /^\d+$/.test(error.code) ? Number(error.code) : error.code;
      reply.code(error.httpStatus).send(failure([{ code, message: error.message }]));
      return;
    }
    if (error.validation || (error.statusCode && error.statusCode < 500)) {
      reply
        .code(error.statusCode ?? 400)
        .send(failure([{ code: error.code ?? 'BAD_REQUEST', message: error.message }]));
      return;
    }
    request.log.error({ err: error }, 'request failed');
    reply
      .code(500)
      .send(
        failure([{ code: 'INTERNAL', message: 'Internal error; the server log has the details.' }]),
      );
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(
        failure([{ code: 'NOT_FOUND', message: `No route for ${request.method} ${request.url}.` }]),
      );
  });

  app.get('/health', async () => ({ ok: true }));
  for (const register of API_ROUTES) await register(app, context);
  return app;
}

function authorize(tokens: CachedTokenVerifier, request: FastifyRequest): boolean {
  const header = request.headers.authorization;
  if (!header || !header.startsWith('Bearer ')) return false;
  return tokens.verify(header.slice('Bearer '.length).trim()) !== undefined;
}
