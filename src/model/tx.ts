import type { IPv4 } from './ipv4.js';
import type { Kind, KindMap } from './entities.js';

/** A reference from a secondary index key to the resource it belongs to. */
export interface IndexRef {
  readonly kind: Kind;
  readonly id: string;
}

/** A consistent read-only view of the store. The model's rules are written against this, never against I/O. */
export interface View {
  get<K extends Kind>(kind: K, id: string): KindMap[K] | undefined;
  list<K extends Kind>(kind: K): KindMap[K][];
  /** Resources holding an index key (see `indexKeysOf`). */
  lookup(key: string): IndexRef[];
  /** How many resources hold an index key (a quota's usage), without reading them. */
  count(key: string): number;
  /** The resources of one kind holding an index key, read in one go. */
  find<K extends Kind>(kind: K, key: string): KindMap[K][];
  /**
   * Up to `limit` resources of one kind in id order (code-unit order, as `<` compares strings), starting after
   * `after`, optionally only those holding `key`. Lists page through this so that a request for 100 of 10,000
   * floating IPs reads about 100, not 10,000.
   */
  range<K extends Kind>(kind: K, options: RangeOptions): KindMap[K][];
  /**
   * What `range` and `get` read, as the stored JSON text of each resource, unparsed. Optional: a store whose
   * documents are text (SQLite) offers it, so that the API can reuse what it derived from a document it has seen
   * (the text is the cache key); without it, callers parse through `range` and `get`.
   */
  readonly rangeDocuments?: (kind: Kind, options: RangeOptions) => string[];
  readonly getDocument?: (kind: Kind, id: string) => string | undefined;
  /** What `find` reads, as the stored JSON text of each resource, unparsed (optional, as `rangeDocuments`). */
  readonly findDocuments?: (kind: Kind, key: string) => string[];
  /**
   * Of the resources indexed under `key`, the ids of those that are the device of a port indexed under `portKey`
   * (each port holds portsOfDeviceKey of its device), in id order: one query where `lookup` then `find` per
   * resource would be one per resource. Optional, as `findDocuments`; routerFor falls back to those.
   */
  readonly devicesWithPort?: (key: string, portKey: string) => string[];
  /**
   * `read`'s answer, kept by the store across reads and transactions while no router, router's port (owner
   * network:*, before or after the write), subnet or network is written (SQLite: StructureMemo), for answers that
   * depend on those alone and are asked on every association or delta (routerFor, a router's structure and
   * trusted interfaces). A VM's port must not change such an answer: a fill writes one per floating IP. `key` names the question,
   * arguments included. The answer is shared by every caller that asks: never change it. Optional: without it,
   * callers read each time.
   */
  readonly structural?: <T>(key: string, read: () => T) => T;
}

export interface RangeOptions {
  readonly limit: number;
  /** Start strictly after this id (before it when descending). */
  readonly after?: string;
  readonly descending?: boolean;
  /** Only resources holding this index key. */
  readonly key?: string;
}

/** A view that can also write. Everything written in one `Tx` commits atomically or not at all. */
export interface Tx extends View {
  put<K extends Kind>(kind: K, entity: KindMap[K]): void;
  delete(kind: Kind, id: string): void;
}

/** What the caller supplies so that the model stays free of clocks and randomness. */
export interface Context {
  readonly projectId: string;
  readonly isAdmin: boolean;
  now(): string;
  newId(): string;
  /** A random MAC for a new port; default `randomMac` (tests inject collisions through it). */
  newMac?(): string;
  /** Where the last allocation per subnet ended, so the next scan starts there. A cache: never needed for correctness. */
  readonly allocationHints?: Map<string, IPv4>;
}
