import { indexKeysOf, type AnyEntity, type IndexRef, type Kind, type KindMap } from '../../model/index.js';
import type { Change } from '../store.js';
import type { KeyLayout } from './keys.js';

/** One key as etcd reported it. */
export interface MirrorEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
  readonly modRevision: number;
}

const refKey = (kind: Kind, id: string) => `${kind}\0${id}`;

/**
 * An in-memory copy of everything under the store's prefix, as of `revision`, kept current by a watch. Model
 * functions run against it; the mod revision of every key lets a transaction state what it read.
 * Entities are parsed once and shared: the model treats them as immutable.
 */
export class Mirror {
  revision = 0;
  private readonly mods = new Map<string, number>();
  private readonly entities = new Map<Kind, Map<string, AnyEntity>>();
  /** index key -> holders; derived from the entities, exactly as the SQLite store keeps `index_keys`. */
  private readonly index = new Map<string, Map<string, IndexRef>>();

  constructor(readonly layout: KeyLayout) {}

  modOf(key: string): number {
    return this.mods.get(key) ?? 0;
  }

  get<K extends Kind>(kind: K, id: string): KindMap[K] | undefined {
    return this.entities.get(kind)?.get(id) as KindMap[K] | undefined;
  }

  list<K extends Kind>(kind: K): KindMap[K][] {
    return [...(this.entities.get(kind)?.values() ?? [])] as KindMap[K][];
  }

  holders(indexKey: string): ReadonlyMap<string, IndexRef> {
    return this.index.get(indexKey) ?? new Map();
  }

  /** Applies one event; returns the resource change it is, if it is one. Events must come in revision order. */
  apply(event: MirrorEvent): Change | undefined {
    if (event.type === 'put') {
      this.mods.set(event.key, event.modRevision);
    } else {
      this.mods.delete(event.key);
    }
    const ref = this.layout.parseResource(event.key);
    if (!ref) return undefined;
    this.setEntity(
      ref.kind,
      ref.id,
      event.type === 'put' ? (JSON.parse(event.value) as AnyEntity) : undefined,
    );
    return { seq: event.modRevision, kind: ref.kind, id: ref.id, op: event.type };
  }

  /** Every key, for diffing against a fresh listing. */
  keys(): IterableIterator<string> {
    return this.mods.keys();
  }

  private setEntity(kind: Kind, id: string, entity: AnyEntity | undefined): void {
    let byId = this.entities.get(kind);
    if (!byId) this.entities.set(kind, (byId = new Map()));
    const before = byId.get(id);
    const ref = refKey(kind, id);
    if (before) for (const k of indexKeysOf(kind, before)) this.index.get(k.key)?.delete(ref);
    if (entity) {
      byId.set(id, entity);
      for (const k of indexKeysOf(kind, entity)) {
        let holders = this.index.get(k.key);
        if (!holders) this.index.set(k.key, (holders = new Map()));
        holders.set(ref, { kind, id });
      }
    } else byId.delete(id);
    if (before) {
      for (const k of indexKeysOf(kind, before))
        if (this.index.get(k.key)?.size === 0) this.index.delete(k.key);
    }
  }
}

export { refKey };
