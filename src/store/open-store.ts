import { join } from 'node:path';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { StoreError } from './errors.js';
import type { Store } from './store.js';

/**
 * Opens the store named by a URL-ish spec: `sqlite:PATH`, or nothing for the default database in the state
 * directory. etcd joins here when it lands.
 */
export function openStore(spec: string | undefined, stateDir: string): Store {
  if (!spec) return new SqliteStore({ path: join(stateDir, 'sfip.db') });
  if (spec.startsWith('sqlite:')) return new SqliteStore({ path: spec.slice('sqlite:'.length) });
  throw new StoreError(`Unknown store '${spec}': expected sqlite:PATH`);
}
