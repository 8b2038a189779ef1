import { isIP } from 'node:net';

import type { FastifyInstance } from 'fastify';

import type { Context } from '../core/context.js';
import { UserError } from '../core/errors.js';
import { TokenService } from '../core/tokens.js';
import { buildApp } from './app.js';
import { SERVER_EXTENSIONS, type RunningExtension, type ServeOptions } from './extensions.js';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  banner: string[];
  stop(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false;
}

/**
 * Starts the HTTP API and every server extension. Listening beyond loopback
 * with no API token would expose an API nobody can use but an attacker could
 * probe, so that is refused.
 */
export async function startServer(context: Context, options: ServeOptions): Promise<RunningServer> {
  if (!isLoopback(options.host) && (await new TokenService(context).count()) === 0) {
    throw new UserError(
      'permission',
      `Refusing to listen on ${options.host}, a non-loopback address, while no API token exists. Create one with \`opsbox token create NAME\`, or listen on 127.0.0.1.`,
    );
  }
  const app = await buildApp(context);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error: any) {
    await app.close();
    if (error?.code === 'EADDRINUSE') {
      throw new UserError(
        'unavailable',
        `Port ${options.port} on ${options.host} is already in use. Stop the other process or pass --port.`,
        { cause: error },
      );
    }
    throw error;
  }

  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  const running: RunningExtension[] = [];
  const banner = [`API listening on ${url}`];
  try {
    for (const extension of SERVER_EXTENSIONS) {
      const started = await extension.start(context, { ...options, port });
      running.push(started);
      banner.push(...(started.banner ?? []));
    }
  } catch (error) {
    await stopAll(running, app);
    throw error;
  }
  context.logger.info({ url }, 'server:start');

  return {
    app,
    url,
    banner,
    async stop() {
      await stopAll(running, app);
      context.logger.info({ url }, 'server:stop');
    },
  };
}

async function stopAll(running: RunningExtension[], app: FastifyInstance): Promise<void> {
  for (const extension of [...running].reverse()) await extension.stop();
  await app.close();
}
