import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { neutronError } from '../api/neutron-error.js';

/** What a scraper or the dashboard page sends that the primary's routes read: the tokens and caching hints. */
const FORWARDED_REQUEST = ['authorization', 'x-auth-token', 'accept', 'if-none-match', 'if-modified-since'];
/** Hop-by-hop headers stay with their connection (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/**
 * /metrics and /dashboard in an API worker: the agent's history and the dataplane's counters live in the primary,
 * so these requests are passed to its socket (STATE_DIR, mode 0700) and answered from there, token check
 * included. Every worker therefore answers them the same.
 */
export function registerInternalProxy(app: FastifyInstance, socketPath: string, metrics: boolean): void {
  const pass = async (request: FastifyRequest, reply: FastifyReply) => {
    const headers: IncomingHttpHeaders = {};
    for (const name of FORWARDED_REQUEST) {
      if (request.headers[name] !== undefined) headers[name] = request.headers[name];
    }
    let incoming: IncomingMessage;
    try {
      incoming = await new Promise<IncomingMessage>((resolve, reject) =>
        httpRequest({ socketPath, method: request.method, path: request.url, headers }, resolve)
          .on('error', reject)
          .end(),
      );
    } catch (error) {
      return reply
        .status(503)
        .send(
          neutronError(
            'HTTPServiceUnavailable',
            `The daemon's primary process did not answer: ${(error as Error).message}`,
          ),
        );
    }
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) void reply.header(name, value);
    }
    // Returned, not sent: Fastify pipes a stream it is given as the handler's result.
    return reply.status(incoming.statusCode ?? 502).send(incoming);
  };
  // Scraped every few seconds and polled every second: log only failures, as the primary's own routes do.
  if (metrics) app.get('/metrics', { logLevel: 'warn' }, pass);
  app.get('/dashboard', { logLevel: 'warn' }, pass);
  app.get('/dashboard/*', { logLevel: 'warn' }, pass);
}
