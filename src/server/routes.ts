import type { FastifyInstance } from 'fastify';

import type { Context } from '../core/context.js';
import { registerDatabaseRoutes } from '../databases/routes.js';
import { registerWorkflowRoutes } from '../workflows/routes.js';

export type RouteRegistrar = (app: FastifyInstance, context: Context) => Promise<void> | void;

/** Each capability's HTTP routes; a capability adds its registrar here. */
export const API_ROUTES: RouteRegistrar[] = [registerDatabaseRoutes, registerWorkflowRoutes];
