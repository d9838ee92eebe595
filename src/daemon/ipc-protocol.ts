// The messages between `sfip serve`'s primary and its API workers (node:cluster's IPC channel, JSON).
import type { ForwardedRecord } from '../api/forwarded-records.js';
import type { RateGrant } from '../api/shared-rate-limit.js';

/** Worker to primary. `ask` messages carry an id that the primary's answer repeats. */
export type WorkerMessage =
  | { readonly type: 'listening'; readonly url: string }
  | { readonly type: 'listen-failed'; readonly code: string | null; readonly message: string }
  | { readonly type: 'failed'; readonly message: string }
  /** A write committed: the agent reads the change feed now instead of at its next poll. */
  | { readonly type: 'changed' }
  /**
   * Answered by `recorded` once the primary has written what the records ask for (their audit lines), in order:
   * the records of one turn of the worker's event loop (turn-batch.ts).
   */
  | { readonly type: 'records'; readonly id: number; readonly records: readonly ForwardedRecord[] }
  | {
      readonly type: 'ask-rate';
      readonly id: number;
      readonly key: string;
      readonly max: number;
      readonly windowMs: number;
      readonly want: number;
    }
  | { readonly type: 'ask-ready'; readonly id: number; readonly routerIds: readonly string[] };

/** Primary to worker. */
export type PrimaryMessage =
  | { readonly type: 'rate'; readonly id: number; readonly grant: RateGrant }
  | { readonly type: 'ready'; readonly id: number; readonly ready: boolean; readonly detail: string }
  | { readonly type: 'recorded'; readonly id: number }
  /** Sources over the refusal limit and when their window ends (epoch ms). */
  | { readonly type: 'limited'; readonly sources: readonly (readonly [string, number])[] }
  | { readonly type: 'stop' };

const WORKER_TYPES = new Set([
  'listening',
  'listen-failed',
  'failed',
  'changed',
  'records',
  'ask-rate',
  'ask-ready',
]);
const PRIMARY_TYPES = new Set(['rate', 'ready', 'recorded', 'limited', 'stop']);

const typeOf = (message: unknown): unknown =>
  typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;

// The channel only ever carries what these processes of one sfip send; the type is checked, not each field.
export const isWorkerMessage = (message: unknown): message is WorkerMessage =>
  WORKER_TYPES.has(String(typeOf(message)));
export const isPrimaryMessage = (message: unknown): message is PrimaryMessage =>
  PRIMARY_TYPES.has(String(typeOf(message)));

/** What a worker needs to serve the API as the primary would; passed in its environment. */
export interface WorkerConfig {
  readonly host: string;
  readonly port: number;
  readonly stateDir: string;
  readonly store?: string;
  readonly logLevel: string;
  readonly auth: 'token' | 'none';
  readonly tls?: { readonly certPath: string; readonly keyPath: string };
  readonly publicUrl?: string;
  readonly requestTimeoutMs?: number;
  readonly bodyLimit?: number;
  readonly rateLimit: { readonly max: number; readonly windowMs: number } | null;
  readonly refusalLimit: { readonly max: number; readonly windowMs: number } | null;
  /** How many workers share the limits (sizes the rate-limit grants). */
  readonly workers: number;
  /** The primary's socket for /metrics and /dashboard, which workers pass those requests to. */
  readonly internalSocket: string;
  /** Whether the primary serves /metrics there (not with --metrics-listen). */
  readonly proxyMetrics: boolean;
  /** The primary's socket for turns to write the SQLite store (write-turns.ts); absent for other stores. */
  readonly writeTurnSocket?: string;
}

export const WORKER_CONFIG_ENV = 'SFIP_API_WORKER_CONFIG';
