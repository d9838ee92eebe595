import type { Kind, Tx, View } from '../model/index.js';
import type { TokenStore } from './token-store.js';

/** One committed write, in commit order. The agent follows these to know which routers to reconcile. */
export interface Change {
  readonly seq: number;
  readonly kind: Kind;
  readonly id: string;
  readonly op: 'put' | 'delete';
}

export interface ChangeBatch {
  readonly changes: readonly Change[];
  /** The newest sequence number the store has committed. */
  readonly latest: number;
  /** True when `since` is older than the retained history: the reader must re-list everything. */
  readonly truncated: boolean;
}

/**
 * Where desired state lives. Implementations (SQLite, etcd) share one contract test suite.
 * `fn` must be synchronous and free of I/O: it is the model's pure logic, and may be run more than once when a
 * store retries an optimistic transaction.
 */
export interface Store {
  readonly description: string;
  /** API tokens, kept beside the resources so that one state directory holds everything. */
  readonly tokens: TokenStore;
  read<T>(fn: (view: View) => T): Promise<T>;
  update<T>(fn: (tx: Tx) => T): Promise<T>;
  changesSince(seq: number, limit?: number): Promise<ChangeBatch>;
  /** Called after every local commit, so an in-process agent reacts without polling delay. */
  onChange(listener: () => void): () => void;
  close(): Promise<void>;
}
