import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { MetricsExporter } from './prometheus.js';
import { LoopBudget } from './slices.js';
import { neutronError } from '../api/neutron-error.js';

/**
 * Who may scrape: `allowed` (the dashboard token or an admin token), `unauthenticated` (no token, or an unknown
 * one: 401) or `forbidden` (a valid project token: 403). /metrics names every project's routers and floating
 * addresses, so a project's token must never read it.
 */
export type MetricsAccess = 'allowed' | 'unauthenticated' | 'forbidden';
export type AuthorizeMetrics = (request: FastifyRequest) => Promise<MetricsAccess>;

export interface MetricsRouteOptions {
  /** How long writing the body may hold the event loop before it yields, in ms (LoopBudget's default). */
  readonly budgetMs?: number;
}

/** GET /metrics in Prometheus' text format, for the dashboard token or an admin token (Bearer or X-Auth-Token). */
export function registerMetricsRoute(
  app: FastifyInstance,
  metrics: MetricsExporter,
  authorize: AuthorizeMetrics,
  options: MetricsRouteOptions = {},
): void {
  // Scraped every few seconds: log only its failures.
  app.get('/metrics', { logLevel: 'warn' }, async (request, reply) => {
    const access = await authorize(request);
    if (access === 'unauthenticated') {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer realm="sfip metrics"')
        .send(
          neutronError(
            'HTTPUnauthorized',
            '/metrics needs a token: send the dashboard token or an admin token as "Authorization: Bearer TOKEN".',
          ),
        );
    }
    if (access === 'forbidden') {
      return reply
        .status(403)
        .send(
          neutronError(
            'HTTPForbidden',
            "/metrics shows every project's routers: a project token may not read it; use the dashboard token or an admin token.",
          ),
        );
    }
    const names = familyNames((request.query as Record<string, unknown> | undefined)?.['name[]']);
    if (typeof names === 'string') {
      return reply
        .status(400)
        .send(
          neutronError(
            'HTTPBadRequest',
            `name[] ${JSON.stringify(names)} is not a metric family name ([a-zA-Z_:][a-zA-Z0-9_:]*).`,
          ),
        );
    }
    // Streamed: at 100,000 floating IPs the body is tens of MB, rendered a buffer at a time as the socket takes it.
    const body = await metrics.body(names);
    return reply
      .header('content-type', metrics.contentType)
      .send(pacedStream(body, new LoopBudget(options.budgetMs)));
  });
}

const FAMILY_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * `?name[]=a&name[]=b`, the families to answer with (as Prometheus' Python client takes them): a set, undefined
 * when none is asked for, or the first value that is no family name.
 */
function familyNames(query: unknown): ReadonlySet<string> | string | undefined {
  if (query === undefined) return undefined;
  const values = Array.isArray(query) ? (query as unknown[]) : [query];
  const names = new Set<string>();
  for (const value of values) {
    if (typeof value !== 'string' || !FAMILY_NAME.test(value)) return String(value);
    names.add(value);
  }
  return names;
}

/**
 * The body's buffers as a stream that yields to the event loop whenever `budget` is spent. A buffer is taken from
 * `chunks` only when the stream wants more, so a lazily rendered body is rendered no faster than it is written.
 * A plain stream of buffers hands each next buffer over in microtasks: while the socket accepts writes at once
 * (a client reading as fast as the daemon writes, on loopback), all 60 MB of a scrape at 100,000 floating IPs
 * went out in one turn of the loop, and API requests waited behind it (the daemon's profile showed 10-20 ms
 * stretches of writev).
 */
export function pacedStream(chunks: Iterable<Buffer>, budget: LoopBudget): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) {
        await budget.check();
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
}

/**
 * A listener that serves only /metrics (`sfip serve --metrics-listen`), so Prometheus can scrape an address the
 * API does not use (typically loopback while the API listens publicly). It asks for the same token.
 */
export async function listenMetrics(
  metrics: MetricsExporter,
  authorize: AuthorizeMetrics,
  host: string,
  port: number,
): Promise<{ readonly url: string; close(): Promise<void> }> {
  const app = Fastify({ logger: false, bodyLimit: 1024, connectionTimeout: 60_000 });
  registerMetricsRoute(app, metrics, authorize);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(
        neutronError('HTTPNotFound', `This listener serves only /metrics, not ${request.url.slice(0, 256)}.`),
      ),
  );
  const url = await app.listen({ host, port });
  return { url, close: () => app.close() };
}
