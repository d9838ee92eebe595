import { KINDS } from '../../src/model/index.js';
import type { Store } from '../../src/store/index.js';

/** Everything in a store, for asserting that a rejected request changed nothing. */
export function dumpStore(store: Store): Promise<string> {
  return store.read((view) =>
    JSON.stringify(KINDS.map((k) => view.list(k).sort((a, b) => a.id.localeCompare(b.id)))),
  );
}
