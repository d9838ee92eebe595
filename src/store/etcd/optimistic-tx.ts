import {
  conflict,
  indexKeysOf,
  type AnyEntity,
  type IndexRef,
  type Kind,
  type KindMap,
  type RangeOptions,
  type Tx,
} from '../../model/index.js';
import { rangeOf } from '../range.js';
import { LEASED_KINDS } from './keys.js';
import { refKey, type Mirror } from './mirror.js';

/** "This key's mod revision is still N" (0: it still does not exist), or "no key in the range changed after N". */
export interface Guard {
  readonly key: string;
  readonly rangeEnd?: string;
  readonly result: 'Equal' | 'Less';
  readonly modRevision: number;
}

export type Write = { readonly put: string; readonly value: string } | { readonly del: string };

interface Pending {
  readonly kind: Kind;
  readonly id: string;
  readonly entity: AnyEntity | undefined;
}

const compareRefs = (a: IndexRef, b: IndexRef) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id);

/**
 * A model transaction against the mirror. It records what it read (with the mod revisions it saw) and buffers
 * what it writes; `commit()` turns both into one etcd transaction whose compares fail if anything read has
 * changed since, so a model function's decision (a free address, a unique name) holds when its writes land.
 */
export class OptimisticTx implements Tx {
  private readonly reads = new Map<string, number>();
  private readonly listed = new Set<Kind>();
  private readonly pending = new Map<string, Pending>();
  /** index key -> holder -> whether it holds the key after this transaction, where that differs from the mirror. */
  private readonly indexDelta = new Map<string, Map<string, { ref: IndexRef; holds: boolean }>>();

  constructor(private readonly mirror: Mirror) {}

  get wrote(): boolean {
    return this.pending.size > 0;
  }

  get<K extends Kind>(kind: K, id: string): KindMap[K] | undefined {
    const own = this.pending.get(refKey(kind, id));
    if (own) return own.entity as KindMap[K] | undefined;
    this.track(this.mirror.layout.resource(kind, id));
    return this.mirror.get(kind, id);
  }

  list<K extends Kind>(kind: K): KindMap[K][] {
    this.listed.add(kind);
    const byId = new Map(this.mirror.list(kind).map((e) => [e.id, e as AnyEntity]));
    // etcd deletes leased records without a delete stamp, so each listed one is checked by itself.
    if (LEASED_KINDS.has(kind))
      for (const id of byId.keys()) this.track(this.mirror.layout.resource(kind, id));
    for (const p of this.pending.values()) {
      if (p.kind !== kind) continue;
      if (p.entity) byId.set(p.id, p.entity);
      else byId.delete(p.id);
    }
    return [...byId.values()] as KindMap[K][];
  }

  lookup(key: string): IndexRef[] {
    this.track(this.mirror.layout.indexStamp(key));
    return [...this.holdersAfter(key).values()].sort(compareRefs);
  }

  /** Guards the key's stamp like lookup does, so a concurrent change to its holders re-runs this transaction. */
  count(key: string): number {
    this.track(this.mirror.layout.indexStamp(key));
    return this.holdersAfter(key).size;
  }

  /** Reads (and so guards) the whole kind or index key, then pages in memory: a mirror has no cheaper way. */
  range<K extends Kind>(kind: K, options: RangeOptions): KindMap[K][] {
    return rangeOf(options.key === undefined ? this.list(kind) : this.find(kind, options.key), options);
  }

  find<K extends Kind>(kind: K, key: string): KindMap[K][] {
    return this.lookup(key)
      .filter((ref) => ref.kind === kind)
      .map((ref) => this.get(kind, ref.id))
      .filter((e): e is KindMap[K] => e !== undefined);
  }

  put<K extends Kind>(kind: K, entity: KindMap[K]): void {
    if (LEASED_KINDS.has(kind)) {
      throw new Error(`A ${kind} is registered by its own lease and cannot be written in a transaction.`);
    }
    const ref: IndexRef = { kind, id: entity.id };
    const keys = indexKeysOf(kind, entity);
    for (const k of keys.filter((k) => k.unique)) {
      const other = [...this.holdersAfter(k.key).values()].find((h) => h.kind !== kind || h.id !== entity.id);
      if (other) {
        throw conflict(
          'Conflict',
          `The change conflicts with an existing resource (${k.key} is held by ${other.kind} ${other.id}).`,
        );
      }
    }
    this.replace(
      ref,
      entity,
      keys.map((k) => k.key),
    );
  }

  delete(kind: Kind, id: string): void {
    this.replace({ kind, id }, undefined, []);
  }

  /** The etcd transaction: what must still hold, and what to write if it does. */
  commit(): { guards: Guard[]; writes: Write[] } {
    const { layout } = this.mirror;
    const guards = new Map<string, Guard>();
    const equal = (key: string, modRevision: number) => {
      if (!guards.has(key)) guards.set(key, { key, result: 'Equal', modRevision });
    };
    for (const [key, mod] of this.reads) equal(key, mod);
    for (const kind of this.listed) {
      const [start, end] = layout.kindRange(kind);
      guards.set(`${start}..`, {
        key: start,
        rangeEnd: end,
        result: 'Less',
        modRevision: this.mirror.revision + 1,
      });
      if (!LEASED_KINDS.has(kind))
        equal(layout.deleteStamp(kind), this.mirror.modOf(layout.deleteStamp(kind)));
    }
    const writes: Write[] = [];
    const deletedKinds = new Set<Kind>();
    for (const p of this.pending.values()) {
      const key = layout.resource(p.kind, p.id);
      const existed = this.mirror.get(p.kind, p.id) !== undefined;
      // Even a write that read nothing must not overwrite a concurrent one.
      equal(key, this.mirror.modOf(key));
      if (p.entity) writes.push({ put: key, value: JSON.stringify(p.entity) });
      else if (existed) {
        writes.push({ del: key });
        deletedKinds.add(p.kind);
      }
    }
    for (const kind of deletedKinds)
      writes.push({ put: layout.deleteStamp(kind), value: String(this.mirror.revision) });
    for (const [indexKey, delta] of this.indexDelta) {
      if (delta.size === 0) continue;
      const stamp = layout.indexStamp(indexKey);
      equal(stamp, this.mirror.modOf(stamp));
      const count = this.holdersAfter(indexKey).size;
      writes.push(count === 0 ? { del: stamp } : { put: stamp, value: String(count) });
    }
    return { guards: [...guards.values()], writes };
  }

  private track(key: string): void {
    if (!this.reads.has(key)) this.reads.set(key, this.mirror.modOf(key));
  }

  private current(ref: IndexRef): AnyEntity | undefined {
    const own = this.pending.get(refKey(ref.kind, ref.id));
    return own ? own.entity : this.mirror.get(ref.kind, ref.id);
  }

  private replace(ref: IndexRef, entity: AnyEntity | undefined, newKeys: readonly string[]): void {
    const before = this.current(ref);
    const oldKeys = before ? indexKeysOf(ref.kind, before).map((k) => k.key) : [];
    this.pending.set(refKey(ref.kind, ref.id), { kind: ref.kind, id: ref.id, entity });
    for (const key of oldKeys) if (!newKeys.includes(key)) this.setHolds(key, ref, false);
    for (const key of newKeys) this.setHolds(key, ref, true);
  }

  private setHolds(indexKey: string, ref: IndexRef, holds: boolean): void {
    const id = refKey(ref.kind, ref.id);
    let delta = this.indexDelta.get(indexKey);
    if (!delta) this.indexDelta.set(indexKey, (delta = new Map()));
    if (this.mirror.holders(indexKey).has(id) === holds) delta.delete(id);
    else delta.set(id, { ref, holds });
  }

  private holdersAfter(indexKey: string): Map<string, IndexRef> {
    const holders = new Map(this.mirror.holders(indexKey));
    for (const [id, change] of this.indexDelta.get(indexKey) ?? []) {
      if (change.holds) holders.set(id, change.ref);
      else holders.delete(id);
    }
    return holders;
  }
}
