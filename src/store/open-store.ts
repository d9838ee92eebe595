import { join } from 'node:path';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { EtcdStore, type StoreLog } from './etcd/etcd-store.js';
import { parseEtcdSpec } from './etcd/store-spec.js';
import { StoreError } from './errors.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** Where connection trouble is reported (etcd). */
  readonly log?: StoreLog;
  /** Give up reaching a remote store after this long; undefined waits for ever, retrying with backoff. */
  readonly connectTimeoutMs?: number;
}

/**
 * Opens the store named by a URL-ish spec: `sqlite:PATH`, `etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]`, or nothing
 * for the default SQLite database in the state directory. An etcd store connects in the background; use
 * `connectStore` to wait for it.
 */
export function openStore(spec: string | undefined, stateDir: string, options: OpenStoreOptions = {}): Store {
  if (!spec) return new SqliteStore({ path: join(stateDir, 'sfip.db') });
  if (spec.startsWith('sqlite:')) return new SqliteStore({ path: spec.slice('sqlite:'.length) });
  if (spec.startsWith('etcd://')) {
    return new EtcdStore({
      ...parseEtcdSpec(spec),
      ...(options.log && { log: options.log }),
      ...(options.connectTimeoutMs !== undefined && { connectTimeoutMs: options.connectTimeoutMs }),
    });
  }
  throw new StoreError(`Unknown store '${spec}': expected sqlite:PATH or etcd://HOST:PORT[,HOST:PORT...]`);
}

/** Opens a store and waits until it can serve: an unreachable etcd is retried with backoff and logged. */
export async function connectStore(
  spec: string | undefined,
  stateDir: string,
  options: OpenStoreOptions = {},
): Promise<Store> {
  const store = openStore(spec, stateDir, options);
  if (store instanceof EtcdStore) {
    try {
      await store.ready();
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}
