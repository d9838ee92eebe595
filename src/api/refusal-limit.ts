import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SfipError } from '../model/index.js';
import type { RateLimit } from './rate-limit-spec.js';

/** What the audit log should do with one refused request. */
export type RefusalRecord = 'line' | 'summary';

/** The refusals of one source address in one window that the audit log did not record one by one. */
export interface RefusalBurst {
  readonly address: string;
  readonly from: string;
  readonly until: string;
  /** Every refusal (4xx) counted in the window, whether recorded one by one or not. */
  readonly refused: number;
  /** Refused mutating requests left out of the audit log; this summary stands for them. */
  readonly notRecorded: number;
  /** Requests answered 429 by the refusal limit itself. */
  readonly limited: number;
}

interface Window {
  readonly startedMs: number;
  refused: number;
  lines: number;
  notRecorded: number;
  limited: number;
}

export interface RefusalTrackerOptions {
  /** Refusals allowed per source address and window before 429; null counts (for the audit log) but never limits. */
  readonly limit: RateLimit | null;
  /** The window when there is no limit, for the audit log's summaries. */
  readonly windowMs?: number;
  /** Refused mutating requests per source and window recorded one by one in the audit log; the rest are summed. */
  readonly linesPerWindow?: number;
  /** Sources tracked at once; beyond it the oldest windows are closed early (and summarised). */
  readonly maxSources?: number;
  readonly now?: () => number;
}

/**
 * Counts refused requests (any 4xx) per source address in fixed windows. A source over the limit is answered 429
 * before its token is even looked at, so a flood of bad or missing tokens costs a map lookup, not a hash, a
 * store read and an audit line each. The same windows bound the audit log: the first few refused mutating requests
 * of a window get a line each, the rest one summary line when the window closes.
 */
export class RefusalTracker {
  readonly limit: RateLimit | null;
  readonly windowMs: number;
  private readonly linesPerWindow: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, Window>();

  constructor(options: RefusalTrackerOptions) {
    this.limit = options.limit;
    this.windowMs = options.limit?.windowMs ?? options.windowMs ?? 10_000;
    this.linesPerWindow = options.linesPerWindow ?? 50;
    this.maxSources = options.maxSources ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Seconds until the source may try again, or 0 when it is not limited. */
  retryAfterS(address: string): number {
    const until = this.limitedUntilMs(address);
    return until === 0 ? 0 : Math.max(1, Math.ceil((until - this.now()) / 1000));
  }

  /** When the source's limited window ends (epoch ms), or 0 when it is not limited. */
  limitedUntilMs(address: string): number {
    const window = this.current(address, false);
    if (!this.limit || !window || window.refused < this.limit.max) return 0;
    return window.startedMs + this.windowMs;
  }

  /** Counts one refusal; says whether a mutating one gets its own audit line or only a share of the summary. */
  refused(address: string, mutating: boolean): RefusalRecord {
    const window = this.current(address, true)!;
    window.refused++;
    if (!mutating) return 'summary';
    if (window.lines < this.linesPerWindow) {
      window.lines++;
      return 'line';
    }
    window.notRecorded++;
    return 'summary';
  }

  /** Counts one request the limit answered with 429 (never recorded one by one). */
  limited(address: string, mutating: boolean): void {
    const window = this.current(address, true)!;
    window.limited++;
    if (mutating) window.notRecorded++;
  }

  /** Closes the windows that ended (all of them with `all`), returning those with something left unrecorded. */
  sweep(all = false): RefusalBurst[] {
    const now = this.now();
    const bursts: RefusalBurst[] = [];
    for (const [address, window] of this.windows) {
      if (!all && window.startedMs + this.windowMs > now) continue;
      this.windows.delete(address);
      const burst = this.burstOf(address, window, now);
      if (burst) bursts.push(burst);
    }
    return bursts;
  }

  /** Sources with an open window (bounded by maxSources). */
  get sources(): number {
    return this.windows.size;
  }

  private burstOf(address: string, window: Window, now: number): RefusalBurst | undefined {
    if (window.notRecorded === 0 && window.limited === 0) return undefined;
    return {
      address,
      from: new Date(window.startedMs).toISOString(),
      until: new Date(Math.min(now, window.startedMs + this.windowMs)).toISOString(),
      refused: window.refused,
      notRecorded: window.notRecorded,
      limited: window.limited,
    };
  }

  /** Bursts of windows closed early because too many sources were tracked; the caller records them. */
  readonly evicted: RefusalBurst[] = [];

  private current(address: string, create: boolean): Window | undefined {
    const now = this.now();
    const open = this.windows.get(address);
    if (open && open.startedMs + this.windowMs > now) return open;
    if (open) {
      this.windows.delete(address);
      const burst = this.burstOf(address, open, now);
      if (burst) this.evicted.push(burst);
    }
    if (!create) return undefined;
    if (this.windows.size >= this.maxSources) {
      // Maps iterate in insertion order: the first key holds the oldest window.
      const [oldest, window] = this.windows.entries().next().value as [string, Window];
      this.windows.delete(oldest);
      const burst = this.burstOf(oldest, window, now);
      if (burst) this.evicted.push(burst);
    }
    const fresh: Window = { startedMs: now, refused: 0, lines: 0, notRecorded: 0, limited: 0 };
    this.windows.set(address, fresh);
    return fresh;
  }
}

/** The 429 of a source over the refusal limit (in this process, or told by the primary to API workers). */
export function tooManyRefusals(address: string, limit: RateLimit, retryAfterS: number): SfipError {
  return new SfipError(
    'HTTPTooManyRequests',
    429,
    `Too many refused requests from address:${address}: at most ${limit.max} every ${limit.windowMs / 1000} s; retry after ${retryAfterS} s.`,
  );
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
export const isMutating = (request: FastifyRequest) => MUTATING.has(request.method);

/**
 * The refusal limit's hooks. onRequest, before authentication: a source over its limit is answered 429 with
 * Retry-After. onResponse: every other 4xx counts against its source. `recordOf` tells the audit log how to
 * record a request (registered first, so its onResponse runs before the audit log's).
 */
export function registerRefusalLimit(
  app: FastifyInstance,
  tracker: RefusalTracker,
  onBursts: (bursts: RefusalBurst[]) => void,
): { recordOf(request: FastifyRequest): RefusalRecord | undefined } {
  const limitedRequests = new WeakSet<FastifyRequest>();
  const records = new WeakMap<FastifyRequest, RefusalRecord>();
  app.addHook('onRequest', async (request, reply) => {
    const retryAfter = tracker.retryAfterS(request.ip);
    if (retryAfter === 0) return;
    limitedRequests.add(request);
    void reply.header('retry-after', String(retryAfter));
    throw tooManyRefusals(request.ip, tracker.limit!, retryAfter);
  });
  app.addHook('onResponse', async (request, reply) => {
    if (limitedRequests.has(request)) {
      tracker.limited(request.ip, isMutating(request));
      records.set(request, 'summary');
    } else if (reply.statusCode >= 400 && reply.statusCode < 500) {
      records.set(request, tracker.refused(request.ip, isMutating(request)));
    }
    if (tracker.evicted.length > 0) onBursts(tracker.evicted.splice(0));
  });
  // One summary line per source and window, written when the window has closed.
  const timer = setInterval(() => {
    const bursts = [...tracker.evicted.splice(0), ...tracker.sweep()];
    if (bursts.length > 0) onBursts(bursts);
  }, tracker.windowMs);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    const bursts = [...tracker.evicted.splice(0), ...tracker.sweep(true)];
    if (bursts.length > 0) onBursts(bursts);
  });
  return { recordOf: (request) => records.get(request) };
}
