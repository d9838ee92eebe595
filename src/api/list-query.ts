import { badRequest, notFoundError, type Kind } from '../model/index.js';
import type { NeutronObject } from './views.js';

const PAGING = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse']);
const TAG_FILTERS = new Set(['tags', 'tags-any', 'not-tags', 'not-tags-any']);

type Query = Record<string, string | string[] | undefined>;

const values = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** How a filter value compares with an attribute: Neutron accepts the JSON-ish text forms. */
function matches(attribute: unknown, wanted: string): boolean {
  if (attribute === null || attribute === undefined)
    return wanted === '' || wanted === 'None' || wanted === 'null';
  if (typeof attribute === 'boolean') return String(attribute) === wanted.toLowerCase();
  if (Array.isArray(attribute)) return attribute.some((a) => matches(a, wanted));
  if (typeof attribute === 'object') {
    // Structured filters such as ports' fixed_ips=ip_address=10.0.0.5
    const [key, ...rest] = wanted.split('=');
    const value = rest.join('=');
    return (
      rest.length > 0 && key !== undefined && String((attribute as Record<string, unknown>)[key]) === value
    );
  }
  return String(attribute) === wanted;
}

function tagsMatch(objectTags: readonly string[], query: Query): boolean {
  const list = (k: string) =>
    values(query[k])
      .flatMap((v) => v.split(','))
      .filter(Boolean);
  const all = list('tags');
  const any = list('tags-any');
  const notAll = list('not-tags');
  const notAny = list('not-tags-any');
  const has = (t: string) => objectTags.includes(t);
  return (
    all.every(has) &&
    (any.length === 0 || any.some(has)) &&
    (notAll.length === 0 || !notAll.every(has)) &&
    !notAny.some(has)
  );
}

export interface Page {
  readonly items: NeutronObject[];
  readonly links: { rel: string; href: string }[];
}

/**
 * Neutron's list semantics: equality filters on any attribute (repeat a key for OR), tag filters, `fields`,
 * `sort_key`/`sort_dir`, and `limit`/`marker` pagination with links. Unknown attributes are refused, naming them.
 */
export function listPage(
  kind: Kind,
  collection: string,
  objects: NeutronObject[],
  attributes: readonly string[],
  query: Query,
  baseUrl: string,
): Page {
  const known = new Set(attributes);
  for (const key of Object.keys(query)) {
    if (!PAGING.has(key) && !TAG_FILTERS.has(key) && !known.has(key)) {
      throw badRequest(`'${key}' is not an attribute of ${collection} and cannot be used as a filter.`);
    }
  }
  let items = objects.filter(
    (o) =>
      Object.entries(query).every(
        ([key, v]) => PAGING.has(key) || TAG_FILTERS.has(key) || values(v).some((w) => matches(o[key], w)),
      ) && tagsMatch((o.tags as string[]) ?? [], query),
  );
  const sortKeys = values(query.sort_key);
  const sortDirs = values(query.sort_dir);
  for (const key of sortKeys) {
    if (!known.has(key)) throw badRequest(`'${key}' is not a sort key of ${collection}.`);
  }
  for (const dir of sortDirs) {
    if (dir !== 'asc' && dir !== 'desc')
      throw badRequest(`'${dir}' is not a sort direction: expected asc or desc.`);
  }
  const keys = [...sortKeys.map((k, i) => [k, sortDirs[i] ?? 'asc'] as const), ['id', 'asc'] as const];
  items.sort((a, b) => {
    for (const [k, dir] of keys) {
      const c = compareValues(a[k], b[k]);
      if (c !== 0) return dir === 'asc' ? c : -c;
    }
    return 0;
  });
  const links: { rel: string; href: string }[] = [];
  const limitText = values(query.limit)[0];
  const marker = values(query.marker)[0];
  if (marker !== undefined) {
    const at = items.findIndex((o) => o.id === marker);
    if (at < 0) throw notFoundError(kind, marker);
    items = items.slice(at + 1);
  }
  if (limitText !== undefined) {
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 0)
      throw badRequest(`'${limitText}' is not a valid limit: expected a non-negative integer.`);
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      links.push({ rel: 'next', href: pageHref(baseUrl, query, String(items[items.length - 1]!.id)) });
    }
  }
  const fields = values(query.fields).flatMap((f) => f.split(','));
  if (fields.length > 0) {
    items = items.map((o) => Object.fromEntries(fields.filter((f) => f in o).map((f) => [f, o[f]])));
  }
  return { items, links };
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a ?? '').localeCompare(String(b ?? ''));
}

function pageHref(baseUrl: string, query: Query, marker: string): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (k === 'marker') continue;
    for (const one of values(v)) params.append(k, one);
  }
  params.set('marker', marker);
  return `${baseUrl}?${params.toString()}`;
}
