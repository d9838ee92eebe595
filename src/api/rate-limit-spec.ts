// The rate-limit option's shape and parser, apart from the Fastify plugin, so the CLI parses it without loading Fastify.
import { formatDuration, parseDurationMs } from '../cli/duration.js';

export interface RateLimit {
  /** Requests allowed per caller in each window. */
  readonly max: number;
  readonly windowMs: number;
}

/** `500/10s`, `100/1s`, `6000/1m`; the window in the one duration syntax; `off` is handled by the caller. */
export function parseRateLimit(text: string): RateLimit {
  const m = /^(\d{1,9})\/(.+)$/.exec(text);
  const windowMs = m ? windowOf(m[2]!) : 0;
  const max = Number(m?.[1]);
  if (!m || max < 1 || windowMs < 1) {
    throw new Error(
      `'${text}' is not a rate limit: expected REQUESTS/DURATION such as 500/10s (units ms, s, m, h, d), or off`,
    );
  }
  return { max, windowMs };
}

function windowOf(text: string): number {
  try {
    return parseDurationMs(text);
  } catch {
    return 0;
  }
}

/** The way help and logs show a limit: `500/10s`. */
export function formatRateLimit(limit: RateLimit): string {
  return `${limit.max}/${formatDuration(limit.windowMs)}`;
}

/** 500 requests per caller every 10 s unless `sfip serve --rate-limit` says otherwise. */
export const DEFAULT_RATE_LIMIT: RateLimit = { max: 500, windowMs: 10_000 };

/** 200 refused requests per source address every 10 s unless `sfip serve --refusal-limit` says otherwise. */
export const DEFAULT_REFUSAL_LIMIT: RateLimit = { max: 200, windowMs: 10_000 };
