import type { IndexRef, Kind, KindMap, View } from '../../model/index.js';
import { rangeOf } from '../range.js';
import type { Mirror } from './mirror.js';

const byRef = (a: IndexRef, b: IndexRef) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id);

/** A read-only view straight off the mirror, for reads that commit nothing and so need no bookkeeping. */
export function mirrorView(mirror: Mirror): View {
  const lookup = (key: string) => [...mirror.holders(key).values()].sort(byRef);
  const view: View = {
    get: (kind, id) => mirror.get(kind, id),
    list: (kind) => mirror.list(kind),
    lookup,
    count: (key) => mirror.holders(key).size,
    find: <K extends Kind>(kind: K, key: string) =>
      lookup(key)
        .filter((ref) => ref.kind === kind)
        .map((ref) => mirror.get(kind, ref.id))
        .filter((e): e is KindMap[K] => e !== undefined),
    range: (kind, options) =>
      rangeOf(options.key === undefined ? mirror.list(kind) : view.find(kind, options.key), options),
  };
  return view;
}
