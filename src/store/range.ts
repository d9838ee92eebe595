import type { RangeOptions } from '../model/index.js';

/**
 * `View.range` over resources already in memory (the etcd store's mirror): ordered by id, strictly after
 * `options.after` (before it when descending), at most `options.limit`.
 */
export function rangeOf<T extends { readonly id: string }>(
  entities: readonly T[],
  options: RangeOptions,
): T[] {
  const sorted = [...entities].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (options.descending) sorted.reverse();
  const after = options.after;
  const start =
    after === undefined ? 0 : sorted.findIndex((e) => (options.descending ? e.id < after : e.id > after));
  return start < 0 ? [] : sorted.slice(start, start + options.limit);
}
