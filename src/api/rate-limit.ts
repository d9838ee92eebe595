import rateLimit, { type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { callerIdentity } from './caller-identity.js';
import { SfipError } from '../model/index.js';
import type { RateLimit } from './rate-limit-spec.js';

export { parseRateLimit, type RateLimit } from './rate-limit-spec.js';

/**
 * Per-caller request limits, counted after authentication (preHandler), so a caller is its token and one
 * tenant's burst never spends another's allowance. Over the limit: 429 with Retry-After and a NeutronError.
 * `store` counts elsewhere than in this process (API workers share the primary's count: shared-rate-limit.ts).
 */
export async function registerRateLimit(
  app: FastifyInstance,
  limit: RateLimit,
  store?: FastifyRateLimitStoreCtor,
): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: limit.max,
    timeWindow: limit.windowMs,
    ...(store && { store }),
    keyGenerator: (request) => callerIdentity(request),
    // Thrown by the plugin, then answered by the API's error handler like every other NeutronError.
    errorResponseBuilder: (request, context) =>
      new SfipError(
        'HTTPTooManyRequests',
        429,
        `Too many requests from ${callerIdentity(request)}: at most ${context.max} every ${context.after}; retry after ${Math.ceil(context.ttl / 1000)} s.`,
      ),
  });
}
