import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import { registerAuth, type AuthMode } from './auth.js';
import { registerExtensions } from './extensions.js';
import { errorHandler, notFoundHandler } from './neutron-error.js';
import { registerOpenApi } from './openapi.js';
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
  /** `token` (default): every request needs a valid X-Auth-Token. `none`: everyone is admin (development only). */
  readonly auth?: AuthMode;
  /** Largest request body accepted, in bytes. Default 256 KiB. */
  readonly bodyLimit?: number;
  /** Serve /openapi.json and /docs. Default true. */
  readonly docs?: boolean;
  /** Extra readiness condition, e.g. "the agent has reconciled every router once". */
  readonly ready?: () => { ready: boolean; detail: string };
}

/** The Neutron-shaped HTTP API. Thin: it translates HTTP into model calls inside store transactions. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger || undefined,
    logger: options.logger === false ? false : undefined,
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // openstacksdk given an endpoint ending in "/v2.0/" skips discovery and appends "v2.0/..." again; answering
    // that doubled prefix lets the endpoint be given with or without the version, with or without the slash.
    rewriteUrl: (request: { url?: string }) =>
      request.url?.startsWith('/v2.0/v2.0') ? request.url.slice('/v2.0'.length) : (request.url ?? '/'),
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
    },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // Response schemas document the API; JSON.stringify serializes it, so a documentation slip cannot change a reply.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  registerAuth(app, options.auth ?? 'token', options.store.tokens);
  if (options.docs ?? true) await registerOpenApi(app);
  registerVersions(app);
  registerExtensions(app);
  for (const def of [networks, subnets, ports, routers, floatingIps]) {
    registerResource(app, options.store, def as Parameters<typeof registerResource>[2]);
  }
  registerRouterInterfaces(app, options.store);
  const config = { public: true };
  app.get('/healthz', { config, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config, schema: { hide: true } }, async (_request, reply) => {
    const state = options.ready?.() ?? { ready: true, detail: 'no agent in this process' };
    await options.store.read((view) => view.range('network', { limit: 1 }).length);
    return reply
      .status(state.ready ? 200 : 503)
      .send({ status: state.ready ? 'ready' : 'not ready', detail: state.detail });
  });
  return app;
}
