import type { FastifyInstance } from 'fastify';

import type { Context } from '../core/context.js';

export function registerDatabaseRoutes(_app: FastifyInstance, _context: Context): void {}
