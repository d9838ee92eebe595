import { dirname } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { callerIdentity } from './caller-identity.js';
import { makeDirectories } from '../fs/make-directories.js';
import { DEFAULT_ROTATION, RotatingLogFile, type Rotation } from '../fs/rotating-log-file.js';
import type { RefusalBurst, RefusalRecord } from './refusal-limit.js';

/** One mutating request: who made it, what it asked, when, and what came of it. Never a body or a token. */
export interface AuditEntry {
  readonly time: string;
  readonly requestId: string;
  /** `token:<id>` for an authenticated caller, `address:<ip>` in no-auth mode; `unauthenticated` when auth refused it. */
  readonly who: string;
  readonly project: string | null;
  readonly admin: boolean | null;
  readonly address: string;
  readonly method: string;
  readonly path: string;
  /** The resource the request named or created, when there is one. */
  readonly resourceId: string | null;
  readonly status: number;
  /** The NeutronError type of a refused request. */
  readonly error: string | null;
  readonly durationMs: number;
}

/** One line for the refused requests of a source and window that were not recorded one by one. */
export interface AuditSummary extends RefusalBurst {
  readonly time: string;
  readonly event: 'refusals';
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Paths are recorded up to this many characters: a client picks its path, and must not pick the log's size. */
export const AUDIT_PATH_MAX = 256;

export function auditPath(url: string): string {
  const path = url.split('?', 1)[0]!;
  return path.length <= AUDIT_PATH_MAX
    ? path
    : `${path.slice(0, AUDIT_PATH_MAX)}...(${path.length} characters)`;
}

/**
 * JSON lines, mode 0600, written synchronously: a line is on its way to the disk before the next request's line,
 * so a crash loses at most the request it interrupted. Rotated by size with a bounded number of old files, and
 * reopened on SIGHUP for logrotate (`src/fs/rotating-log-file.ts`).
 */
export class AuditLog {
  private readonly file: RotatingLogFile;

  constructor(
    readonly path: string,
    rotation: Rotation = DEFAULT_ROTATION,
  ) {
    makeDirectories(dirname(path));
    try {
      this.file = new RotatingLogFile(path, rotation);
    } catch (error) {
      throw new Error(`Cannot open the audit log ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  write(entry: AuditEntry | AuditSummary): void {
    this.file.writeLine(JSON.stringify(entry));
  }

  /** Continues in a new file at the same path (after logrotate moved the old one away). */
  reopen(): void {
    this.file.reopen();
  }

  close(): void {
    this.file.close();
  }
}

/** What a response said about its resource and its error, taken from the body on its way out. */
interface Outcome {
  resourceId: string | null;
  error: string | null;
}

function outcomeOf(payload: unknown): Outcome {
  if (typeof payload !== 'string' || !payload.startsWith('{')) return { resourceId: null, error: null };
  try {
    const body = JSON.parse(payload) as Record<string, { id?: unknown; type?: unknown } | undefined>;
    if (body.NeutronError) return { resourceId: null, error: String(body.NeutronError.type) };
    const member = Object.values(body)[0];
    return { resourceId: typeof member?.id === 'string' ? member.id : null, error: null };
  } catch {
    return { resourceId: null, error: null };
  }
}

/**
 * Remembers what each mutating response said (its resource id, its NeutronError type) on its way out, and returns
 * the function that builds a request's audit entry once it has been answered (undefined for a read).
 */
export function registerAuditEntries(
  app: FastifyInstance,
): (request: FastifyRequest, reply: FastifyReply) => AuditEntry | undefined {
  const outcomes = new WeakMap<FastifyRequest, Outcome>();
  app.addHook('onSend', async (request, _reply, payload) => {
    if (MUTATING.has(request.method)) outcomes.set(request, outcomeOf(payload));
    return payload;
  });
  return (request, reply) => {
    if (!MUTATING.has(request.method)) return undefined;
    const outcome = outcomes.get(request) ?? { resourceId: null, error: null };
    const params = request.params as Record<string, string> | undefined;
    const caller = request.caller as typeof request.caller | null;
    return {
      time: new Date().toISOString(),
      requestId: request.id,
      who: caller ? callerIdentity(request) : 'unauthenticated',
      project: caller?.projectId ?? null,
      admin: caller?.isAdmin ?? null,
      address: request.ip,
      method: request.method,
      path: auditPath(request.url),
      resourceId: params?.id ?? outcome.resourceId,
      status: reply.statusCode,
      error: outcome.error,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
    };
  };
}

/**
 * Records every mutating request, refused or not (a 401, a 413 and a 429 are as much worth knowing as a 201).
 * A failed write is reported through `onWriteError` and never fails the request: it has already been answered.
 * With `recordOf` (the refusal limit), refused requests beyond a few per source and window are left to that
 * window's summary line instead.
 */
export function registerAuditLog(
  app: FastifyInstance,
  log: AuditLog,
  onWriteError: (error: Error) => void,
  recordOf?: (request: FastifyRequest) => RefusalRecord | undefined,
): void {
  const entryOf = registerAuditEntries(app);
  app.addHook('onResponse', async (request, reply) => {
    if (recordOf?.(request) === 'summary') return;
    const entry = entryOf(request, reply);
    if (!entry) return;
    try {
      log.write(entry);
    } catch (error) {
      onWriteError(error as Error);
    }
  });
}

/** Writes the summary lines of refusal bursts, reporting a failed write like a request's. */
export function writeBursts(
  log: AuditLog,
  bursts: readonly RefusalBurst[],
  onWriteError: (error: Error) => void,
): void {
  for (const burst of bursts) {
    try {
      log.write({ time: new Date().toISOString(), event: 'refusals', ...burst });
    } catch (error) {
      onWriteError(error as Error);
    }
  }
}
