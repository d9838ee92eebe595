import { existsSync, readFileSync } from 'node:fs';
import { WEB_DIR } from '../paths.js';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { neutronError } from '../api/neutron-error.js';
import type { Observer } from '../metrics/observer.js';
import type { ReconcileHistory } from '../metrics/reconcile-history.js';
import { ADDRESS_PREFIX, dashboardState, DEFAULT_FLOATING_IP_LIMIT, MAX_FLOATING_IP_LIMIT } from './state.js';

/** Where `npm run build` (vite) puts the page. */
export const DASHBOARD_ASSETS = `${WEB_DIR}/`;

export interface DashboardOptions {
  readonly observer: Observer;
  readonly history: ReconcileHistory;
  /**
   * Decides whether a request may read the dashboard's data. The daemon accepts the dashboard token or an
   * admin API token (src/daemon/serve.ts).
   */
  readonly authorize: (request: FastifyRequest) => boolean | Promise<boolean>;
  readonly assets?: string;
}

/**
 * The read-only dashboard: static assets at /dashboard/ (no secrets in them) and its data at
 * /dashboard/api/state, which needs a token.
 */
export async function registerDashboard(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const assets = options.assets ?? DASHBOARD_ASSETS;
  app.get<{ Querystring: { router?: string; limit?: string; offset?: string; search?: string } }>(
    '/dashboard/api/state',
    // Polled every second by every open dashboard: log only its failures.
    { logLevel: 'warn' },
    async (request, reply) => {
      if (!(await options.authorize(request))) {
        return reply
          .status(401)
          .header('www-authenticate', 'Bearer realm="sfip dashboard"')
          .send(
            neutronError(
              'HTTPUnauthorized',
              'The dashboard needs a token: send it as "Authorization: Bearer TOKEN" (see dashboard-token in the state directory).',
            ),
          );
      }
      const limitText = request.query.limit ?? String(DEFAULT_FLOATING_IP_LIMIT);
      const limit = Number(limitText);
      if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_FLOATING_IP_LIMIT) {
        return reply
          .status(400)
          .send(
            neutronError(
              'HTTPBadRequest',
              `Invalid limit '${limitText}': expected a whole number from 1 to ${MAX_FLOATING_IP_LIMIT}.`,
            ),
          );
      }
      const offsetText = request.query.offset ?? '0';
      if (!/^\d{1,9}$/.test(offsetText)) {
        return reply
          .status(400)
          .send(neutronError('HTTPBadRequest', `Invalid offset '${offsetText}': expected a whole number.`));
      }
      const search = request.query.search;
      if (search !== undefined && search !== '' && !ADDRESS_PREFIX.test(search)) {
        return reply
          .status(400)
          .send(
            neutronError(
              'HTTPBadRequest',
              `Invalid search '${search.slice(0, 40)}': expected the start of an IPv4 address (digits and dots).`,
            ),
          );
      }
      const observation = await options.observer.observe();
      return reply.header('cache-control', 'no-store').send(
        dashboardState(observation, options.history, {
          limit,
          offset: Number(offsetText),
          ...(search && { search }),
          ...(request.query.router !== undefined && { routerId: request.query.router }),
        }),
      );
    },
  );
  if (!existsSync(`${assets}/index.html`)) {
    app.get('/dashboard/*', (_request, reply) =>
      reply
        .status(503)
        .type('text/plain')
        .send('The dashboard is not built here: run `npm run build` (it builds web/ into dist/web/).\n'),
    );
    return;
  }
  // The page itself, at /dashboard/ (and /dashboard: the API ignores trailing slashes). Read once: it only
  // names the hashed asset files of this build.
  const page = readFileSync(`${assets}/index.html`);
  app.get('/dashboard/', (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page),
  );
  await app.register(fastifyStatic, {
    root: assets,
    prefix: '/dashboard/',
    index: false,
    decorateReply: false,
    // Hashed asset names change with every build; index.html must not be cached.
    setHeaders: (res, path) =>
      res.setHeader(
        'cache-control',
        path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
      ),
  });
}
