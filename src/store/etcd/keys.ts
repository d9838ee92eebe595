import { KINDS, type Kind } from '../../model/index.js';

/**
 * Where sfip keeps its state in etcd, under one prefix (default `/sfip/`):
 *
 * - `r/<kind>/<id>`: a resource, as JSON. Agents' records are attached to their lease.
 * - `x/<index key>`: the number of resources holding a secondary index key (see `indexKeysOf`). Every change
 *   of membership rewrites it under a compare of its mod revision, so its mod revision changes exactly when
 *   the membership does: a transaction that looked an index key up compares it to know nobody changed the
 *   answer, and a unique key is taken only if it is still free.
 * - `d/<kind>`: rewritten whenever a resource of that kind is deleted, so a transaction that listed a kind
 *   can tell that nothing was removed from it (additions and updates are seen by a range compare).
 * - `s`: rewritten by every status-only write (updateStatuses), in the same transaction, so that a watcher
 *   knows the resource changes of that revision are status-only.
 * - `t/<id>`: an API token's record (hash only). Not part of the mirror: no process keeps other processes'
 *   token hashes in memory, and a token write never moves the change feed.
 */
export class KeyLayout {
  constructor(readonly prefix: string) {}

  resource(kind: Kind, id: string): string {
    return `${this.prefix}r/${kind}/${id}`;
  }

  /** [start, end) of every resource of a kind. */
  kindRange(kind: Kind): [string, string] {
    return [`${this.prefix}r/${kind}/`, `${this.prefix}r/${kind}0`];
  }

  indexStamp(indexKey: string): string {
    return `${this.prefix}x/${indexKey}`;
  }

  deleteStamp(kind: Kind): string {
    return `${this.prefix}d/${kind}`;
  }

  statusStamp(): string {
    return `${this.prefix}s`;
  }

  token(id: string): string {
    return `${this.prefix}t/${id}`;
  }

  tokenPrefix(): string {
    return `${this.prefix}t/`;
  }

  /** Whether the mirror keeps this key: everything under the prefix except the tokens. */
  mirrored(key: string): boolean {
    return key.startsWith(this.prefix) && !key.startsWith(this.tokenPrefix());
  }

  /** [start, end) of everything sfip keeps under the prefix. */
  all(): [string, string] {
    return [this.prefix, prefixEnd(this.prefix)];
  }

  /** The resource a key names, or undefined for the bookkeeping keys. */
  parseResource(key: string): { kind: Kind; id: string } | undefined {
    if (!key.startsWith(`${this.prefix}r/`)) return undefined;
    const rest = key.slice(this.prefix.length + 2);
    const slash = rest.indexOf('/');
    const kind = rest.slice(0, slash) as Kind;
    if (slash < 0 || !KINDS.includes(kind)) return undefined;
    return { kind, id: rest.slice(slash + 1) };
  }
}

/** The first key after every key that starts with `prefix` (ASCII, checked when the store spec is parsed). */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** Kinds whose records etcd itself deletes (lease expiry), so no delete stamp is written for them. */
export const LEASED_KINDS: ReadonlySet<Kind> = new Set<Kind>(['agent']);
