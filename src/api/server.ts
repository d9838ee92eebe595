import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import { errorHandler, notFoundHandler } from './neutron-error.js';
import { DEFAULT_PROJECT, type Caller } from './request-context.js';
import { registerResource } from './resource-routes.js';
import { floatingIps } from './resources/floating-ips.js';
import { networks } from './resources/networks.js';
import { ports } from './resources/ports.js';
import { registerRouterInterfaces, routers } from './resources/routers.js';
import { subnets } from './resources/subnets.js';
import { registerVersions } from './versions.js';

export interface ApiOptions {
  readonly store: Store;
  readonly logger?: Logger | false;
  /** Largest request body accepted, in bytes. Default 256 KiB. */
  readonly bodyLimit?: number;
  /** Extra readiness condition, e.g. "the agent has reconciled every router once". */
  readonly ready?: () => { ready: boolean; detail: string };
}

/** The Neutron-shaped HTTP API. Thin: it translates HTTP into model calls inside store transactions. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger || undefined,
    logger: options.logger === false ? false : undefined,
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // No authentication yet: every caller is the admin of the default project (the server listens on loopback).
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (request) => {
    request.caller = { projectId: DEFAULT_PROJECT, isAdmin: true };
  });
  registerVersions(app);
  for (const def of [networks, subnets, ports, routers, floatingIps]) {
    registerResource(app, options.store, def as Parameters<typeof registerResource>[2]);
  }
  registerRouterInterfaces(app, options.store);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = options.ready?.() ?? { ready: true, detail: 'no agent in this process' };
    await options.store.read((view) => view.list('network').length);
    return reply
      .status(state.ready ? 200 : 503)
      .send({ status: state.ready ? 'ready' : 'not ready', detail: state.detail });
  });
  return app;
}
