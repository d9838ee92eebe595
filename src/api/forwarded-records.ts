import type { FastifyInstance, FastifyRequest } from 'fastify';
import { registerAuditEntries, type AuditEntry } from './audit-log.js';
import { isMutating, tooManyRefusals } from './refusal-limit.js';
import type { RateLimit } from './rate-limit-spec.js';

/** What an API worker tells the primary about one answered request that the refusal limit or audit log cares about. */
export interface ForwardedRecord {
  readonly address: string;
  readonly mutating: boolean;
  /** `limited`: answered 429 by the refusal limit; `refused`: any other 4xx; null: not refused. */
  readonly refusal: 'limited' | 'refused' | null;
  /** The audit entry of a mutating request; the primary decides whether it gets its own line. */
  readonly entry: AuditEntry | null;
}

export interface RecordForwarding {
  /** The refusal limit, for the 429's message; null when there is none. */
  readonly limit: RateLimit | null;
  /** When the primary said the source's limited window ends (epoch ms), or 0. */
  limitedUntilMs(address: string): number;
  /** Resolves once the primary has handled the record (written its audit line). */
  send(record: ForwardedRecord): Promise<void>;
}

/**
 * The refusal limit and the audit log of an API worker: both are kept by the primary, which counts every worker's
 * refusals per source address and is the audit log's one writer. The worker refuses the sources the primary
 * names as over the limit, and sends it one record per request that was refused or changed something.
 */
/** How long a worker holds an answer for the primary to write its audit line (a lost primary must not hang it). */
const AUDIT_WAIT_MS = 1000;

const within = (promise: Promise<void>, ms: number): Promise<void> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
};

export function registerForwardedRecords(app: FastifyInstance, forwarding: RecordForwarding): void {
  const limitedRequests = new WeakSet<FastifyRequest>();
  app.addHook('onRequest', async (request, reply) => {
    const until = forwarding.limitedUntilMs(request.ip);
    const now = Date.now();
    if (until <= now || !forwarding.limit) return;
    limitedRequests.add(request);
    const retryAfter = Math.max(1, Math.ceil((until - now) / 1000));
    void reply.header('retry-after', String(retryAfter));
    throw tooManyRefusals(request.ip, forwarding.limit, retryAfter);
  });
  const entryOf = registerAuditEntries(app);
  // onSend, after the audit entry's own onSend hook: a mutating request is answered only once the primary has
  // written its audit line (at most AUDIT_WAIT_MS), so a client that has its answer finds the line in the log,
  // as with a single process, which writes it as the answer goes out.
  app.addHook('onSend', async (request, reply, payload) => {
    const refusal = limitedRequests.has(request)
      ? 'limited'
      : reply.statusCode >= 400 && reply.statusCode < 500
        ? 'refused'
        : null;
    const entry = entryOf(request, reply) ?? null;
    if (refusal === null && entry === null) return payload;
    const handled = forwarding.send({ address: request.ip, mutating: isMutating(request), refusal, entry });
    if (entry !== null) await within(handled, AUDIT_WAIT_MS);
    else handled.catch(() => undefined);
    return payload;
  });
}
