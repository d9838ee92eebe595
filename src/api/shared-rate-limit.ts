import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';

/** What the bucket owner answers a worker asking for requests of one caller's window. */
export interface RateGrant {
  /** Requests the worker may admit (0: the caller is over its limit until `resetAtMs`). */
  readonly granted: number;
  /** Requests counted in the window once these are admitted, over every worker. */
  readonly used: number;
  /** When the window ends (epoch ms; every process reads the same clock). */
  readonly resetAtMs: number;
}

interface Window {
  readonly startedMs: number;
  used: number;
}

/**
 * The one count per caller and fixed window that every API worker draws from (kept by the primary). A worker asks
 * for a few requests at a time, so the limit holds in total and most requests never wait for the primary; a
 * caller can be refused a little early, by the grants other workers hold unused, never admitted beyond it.
 */
export class RateGrants {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  grant(key: string, max: number, windowMs: number, want: number): RateGrant {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || window.startedMs + windowMs <= now) {
      if (window) this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.dropExpired(windowMs, now);
      window = { startedMs: now, used: 0 };
      this.windows.set(key, window);
    }
    const granted = Math.max(0, Math.min(want, max - window.used));
    window.used += granted;
    return { granted, used: window.used, resetAtMs: window.startedMs + windowMs };
  }

  private dropExpired(windowMs: number, now: number): void {
    for (const [key, window] of this.windows) {
      if (window.startedMs + windowMs <= now) this.windows.delete(key);
    }
    // Still full of live windows: the oldest goes (a fresh window for it is the worst that happens).
    if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
  }
}

/** How many requests a worker asks for at once: a sixteenth of its share, so unused grants refuse little early. */
export function grantSize(max: number, workers: number): number {
  return Math.max(1, Math.floor(max / (16 * Math.max(1, workers))));
}

export type AskGrant = (key: string, max: number, windowMs: number, want: number) => Promise<RateGrant>;

interface Held {
  left: number;
  used: number;
  resetAtMs: number;
  asking?: Promise<void>;
}

type IncrCallback = Parameters<FastifyRateLimitStore['incr']>[1];

/**
 * A store for @fastify/rate-limit that admits requests from grants asked of the bucket owner (`ask`, over IPC).
 * A caller refused once is refused locally until its window ends, so a flood of over-limit requests costs the
 * primary one message per worker and window.
 */
export function grantedRateStore(ask: AskGrant, workers: number): FastifyRateLimitStoreCtor {
  const held = new Map<string, Held>();
  const take = async (
    key: string,
    windowMs: number,
    max: number,
  ): Promise<{ current: number; ttl: number }> => {
    for (;;) {
      const now = Date.now();
      let entry = held.get(key);
      if (entry && entry.resetAtMs <= now && !entry.asking) {
        held.delete(key);
        entry = undefined;
      }
      if (entry && entry.left > 0) {
        entry.left--;
        return { current: entry.used - entry.left, ttl: entry.resetAtMs - now };
      }
      if (entry?.asking) {
        await entry.asking;
        continue;
      }
      if (entry && entry.used >= max) return { current: max + 1, ttl: entry.resetAtMs - now };
      const asking = entry ?? { left: 0, used: 0, resetAtMs: 0 };
      held.set(key, asking);
      asking.asking = ask(key, max, windowMs, grantSize(max, workers)).then(
        (grant) => {
          asking.left = grant.granted;
          asking.used = grant.granted > 0 ? grant.used : max;
          asking.resetAtMs = grant.resetAtMs;
          asking.asking = undefined;
        },
        (error: unknown) => {
          held.delete(key);
          asking.asking = undefined;
          throw error;
        },
      );
      await asking.asking;
    }
  };
  // The plugin constructs the store with its options and may ask a child per route; one map serves them all.
  class GrantedStore implements FastifyRateLimitStore {
    // The plugin passes the route's window and limit after the callback (its typings leave them out).
    incr(key: string, callback: IncrCallback, timeWindow?: number, max?: number): void {
      take(key, timeWindow ?? 0, max ?? 0).then(
        (result) => callback(null, result),
        (error: unknown) => callback(error as Error),
      );
    }
    child(): FastifyRateLimitStore {
      return this;
    }
  }
  return GrantedStore as unknown as FastifyRateLimitStoreCtor;
}
