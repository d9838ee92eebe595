import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { callerIdentity } from './caller-identity.js';
import { SfipError } from '../model/index.js';

export interface RateLimit {
  /** Requests allowed per caller in each window. */
  readonly max: number;
  readonly windowMs: number;
}

/** `500/10s`, `100/1s`, `6000/1m`; `off` is handled by the caller. */
export function parseRateLimit(text: string): RateLimit {
  const m = /^(\d+)\/(\d+)(ms|s|m)$/.exec(text);
  const max = Number(m?.[1]);
  const windowMs = Number(m?.[2]) * { ms: 1, s: 1000, m: 60_000 }[(m?.[3] ?? 's') as 'ms' | 's' | 'm'];
  if (!m || max < 1 || windowMs < 1) {
    throw new Error(`'${text}' is not a rate limit: expected REQUESTS/WINDOW such as 500/10s, or off`);
  }
  return { max, windowMs };
}

/**
 * Per-caller request limits, counted after authentication (preHandler), so a caller is its token and one
 * tenant's burst never spends another's allowance. Over the limit: 429 with Retry-After and a NeutronError.
 */
export async function registerRateLimit(app: FastifyInstance, limit: RateLimit): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: limit.max,
    timeWindow: limit.windowMs,
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
