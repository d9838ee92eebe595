import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** GET /metrics in Prometheus' text format. Open on purpose: the daemon listens on loopback only. */
export function registerMetricsRoute(app: FastifyInstance, registry: Registry): void {
  // Scraped every few seconds: log only its failures.
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    const text = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(text);
  });
}
