import {
  notFoundError,
  projectKey,
  type AnyEntity,
  type Context,
  type Kind,
  type KindMap,
  type View,
} from '../model/index.js';
import type { ListQuery, TagFilter } from './list-query.js';
import type { NeutronObject } from './views.js';

/** What a list needs to know about one kind of resource. */
export interface ListSource<K extends Kind> {
  readonly kind: K;
  readonly toObject: (entity: KindMap[K], view: View) => NeutronObject;
  readonly readable: (ctx: Context, entity: KindMap[K]) => boolean;
  /** True when a caller may read some resources of other projects (external networks): no project shortcut. */
  readonly sharedReads?: boolean;
  /** Filters that name an index key, so that `?port_id=X` reads only X's floating IPs. */
  readonly indexedFilters?: Readonly<Record<string, (value: string) => string>>;
}

/** How many rows one range read fetches when the page has no limit or most rows fail the filters. */
const CHUNK = 1000;

/**
 * One page of a list, in the order it is presented, before `fields` trims it. Lists in id order (the default,
 * and what limit/marker pagination uses) read the store in index order and stop once the page is full; any other
 * sort reads every readable resource and sorts in memory.
 */
export function listPage<K extends Kind>(
  view: View,
  ctx: Context,
  source: ListSource<K>,
  query: ListQuery,
): NeutronObject[] {
  let marker: NeutronObject | undefined;
  if (query.marker !== undefined) {
    const entity = view.get(source.kind, query.marker);
    if (!entity || !source.readable(ctx, entity)) throw notFoundError(source.kind, query.marker);
    marker = source.toObject(entity, view);
  }
  const byIdOnly = query.sorts.length === 0 || (query.sorts.length === 1 && query.sorts[0]![0] === 'id');
  const page = byIdOnly
    ? idOrderedPage(view, ctx, source, query)
    : sortedPage(view, ctx, source, query, marker);
  return query.pageReverse ? page.reverse() : page;
}

/** The index key a list of this caller can range over (its project, or an indexed filter), if any. */
export function rangeKey<K extends Kind>(
  ctx: Context,
  source: ListSource<K>,
  query: ListQuery,
): string | undefined {
  if (!ctx.isAdmin && !source.sharedReads) return projectKey(ctx.projectId);
  const single = (attribute: string) => {
    const values = query.filters.get(attribute);
    return values?.length === 1 ? values[0] : undefined;
  };
  const project = single('project_id') ?? single('tenant_id');
  if (project !== undefined) return projectKey(project);
  for (const [attribute, keyOf] of Object.entries(source.indexedFilters ?? {})) {
    const value = single(attribute);
    if (value !== undefined) return keyOf(value);
  }
  return undefined;
}

/** The ids an `id` filter names, sorted and without repeats; undefined without one. */
function namedIds(query: ListQuery): string[] | undefined {
  const ids = query.filters.get('id');
  return ids === undefined ? undefined : [...new Set(ids)].sort();
}

/** Rows per range read: a little more than the page, so that a page of readable rows usually takes one read. */
export function chunkSize(query: ListQuery): number {
  return query.limit === undefined ? CHUNK : Math.min(Math.max(query.limit + 1, 100), CHUNK);
}

function idOrderedPage<K extends Kind>(
  view: View,
  ctx: Context,
  source: ListSource<K>,
  query: ListQuery,
): NeutronObject[] {
  const ascending = (query.sorts[0]?.[1] ?? true) !== query.pageReverse;
  const named = namedIds(query);
  if (named) {
    // `?id=A&id=B`: read those documents by primary key instead of ranging over the whole kind.
    const ids = ascending ? named : [...named].reverse();
    const out: NeutronObject[] = [];
    for (const id of ids) {
      if (query.marker !== undefined && (ascending ? id <= query.marker : id >= query.marker)) continue;
      const entity = view.get(source.kind, id);
      if (!entity || !source.readable(ctx, entity)) continue;
      const object = source.toObject(entity, view);
      if (matchesQuery(object, query)) out.push(object);
      if (query.limit !== undefined && out.length >= query.limit) break;
    }
    return out;
  }
  const key = rangeKey(ctx, source, query);
  const want = query.limit ?? Number.POSITIVE_INFINITY;
  const chunk = chunkSize(query);
  const out: NeutronObject[] = [];
  let after = query.marker;
  for (;;) {
    const batch: AnyEntity[] = view.range(source.kind, {
      limit: chunk,
      descending: !ascending,
      ...(after !== undefined && { after }),
      ...(key !== undefined && { key }),
    });
    for (const entity of batch as KindMap[K][]) {
      if (!source.readable(ctx, entity)) continue;
      const object = source.toObject(entity, view);
      if (matchesQuery(object, query)) out.push(object);
      if (out.length >= want) return out;
    }
    if (batch.length < chunk) return out;
    after = batch[batch.length - 1]!.id;
  }
}

function sortedPage<K extends Kind>(
  view: View,
  ctx: Context,
  source: ListSource<K>,
  query: ListQuery,
  marker: NeutronObject | undefined,
): NeutronObject[] {
  const key = rangeKey(ctx, source, query);
  const named = namedIds(query);
  const entities = (
    named
      ? named.flatMap((id) => view.get(source.kind, id) ?? [])
      : key === undefined
        ? view.list(source.kind)
        : view.range(source.kind, { key, limit: Number.MAX_SAFE_INTEGER })
  ) as KindMap[K][];
  const order = [
    ...query.sorts,
    ...(query.sorts.some(([k]) => k === 'id') ? [] : [['id', true] as const]),
  ].map(([k, ascending]) => [k, ascending !== query.pageReverse] as const);
  const compare = (a: NeutronObject, b: NeutronObject) => {
    for (const [k, ascending] of order) {
      const c = compareValues(a[k], b[k]);
      if (c !== 0) return ascending ? c : -c;
    }
    return 0;
  };
  let objects = entities
    .filter((e) => source.readable(ctx, e))
    .map((e) => source.toObject(e, view))
    .filter((o) => matchesQuery(o, query))
    .sort(compare);
  if (marker) objects = objects.filter((o) => compare(o, marker) > 0);
  return query.limit === undefined ? objects : objects.slice(0, query.limit);
}

/** Neutron's emulated sort: None before anything, then natural order (code units for strings). */
export function compareValues(a: unknown, b: unknown): number {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const [x, y] = [String(a), String(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** How one filter value compares with an attribute, in the text forms Neutron accepts. */
function matchesValue(attribute: unknown, wanted: string): boolean {
  if (attribute === null || attribute === undefined) return false;
  if (Array.isArray(attribute)) return attribute.some((a) => matchesValue(a, wanted));
  if (typeof attribute === 'object') {
    // Structured filters such as ports' fixed_ips=ip_address=10.0.0.5
    const at = wanted.indexOf('=');
    if (at < 0) return false;
    return String((attribute as Record<string, unknown>)[wanted.slice(0, at)]) === wanted.slice(at + 1);
  }
  return String(attribute) === wanted;
}

function matchesTags(tags: readonly string[], filter: TagFilter): boolean {
  const has = (t: string) => tags.includes(t);
  return (
    filter.all.every(has) &&
    (filter.any.length === 0 || filter.any.some(has)) &&
    (filter.notAll.length === 0 || !filter.notAll.every(has)) &&
    !filter.notAny.some(has)
  );
}

export const hasTagFilter = (f: TagFilter) =>
  f.all.length > 0 || f.any.length > 0 || f.notAll.length > 0 || f.notAny.length > 0;

export function matchesQuery(object: NeutronObject, query: ListQuery): boolean {
  if (query.filters.size === 0 && !hasTagFilter(query.tags)) return true;
  for (const [attribute, values] of query.filters) {
    if (!values.some((v) => matchesValue(object[attribute], v))) return false;
  }
  return matchesTags((object.tags as string[] | undefined) ?? [], query.tags);
}
