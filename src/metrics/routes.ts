import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { MetricsExporter } from './prometheus.js';

/** GET /metrics in Prometheus' text format. Open on purpose: the daemon listens on loopback only. */
export function registerMetricsRoute(app: FastifyInstance, metrics: MetricsExporter): void {
  // Scraped every few seconds: log only its failures.
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    // Streamed: at 100,000 floating IPs the body is tens of MB, already rendered in per-router buffers.
    const body = await metrics.body();
    return reply.header('content-type', metrics.contentType).send(Readable.from(body));
  });
}
