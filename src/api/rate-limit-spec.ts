// The rate-limit option's shape and parser, apart from the Fastify plugin, so the CLI parses it without loading Fastify.

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

/** 500 requests per caller every 10 s unless `sfip serve --rate-limit` says otherwise. */
export const DEFAULT_RATE_LIMIT: RateLimit = { max: 500, windowMs: 10_000 };

/** 200 refused requests per source address every 10 s unless `sfip serve --refusal-limit` says otherwise. */
export const DEFAULT_REFUSAL_LIMIT: RateLimit = { max: 200, windowMs: 10_000 };
