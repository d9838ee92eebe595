import { notFoundError, type Context, type Kind, type KindMap, type View } from '../model/index.js';
import type { ListQuery } from './list-query.js';
import { chunkSize, hasTagFilter, rangeKey, type ListSource } from './list-page.js';

/**
 * The one other stored document a resource's wire form reads, if any: a floating IP shows its port's details
 * (fip-port-details), so its rendering depends on the port's document as well as its own.
 */
export type Dependency<K extends Kind> = (entity: KindMap[K]) => { kind: Kind; id: string } | undefined;

/** A resource whose wire form is a function of its own stored document and at most one other. */
export interface Renderable<K extends Kind> extends ListSource<K> {
  readonly rendering?: { readonly dependency?: Dependency<K> };
}

interface Rendered<K extends Kind> {
  /** The document parsed: what authorization (`readable`) and the dependency are decided on. Never handed out. */
  readonly entity: KindMap[K];
  /** JSON.stringify of the wire form, exactly as the list would have serialized it. */
  json: string;
  /** The dependency's document when `json` was rendered (undefined: none, or it did not exist). */
  dependencyText: string | undefined;
}

/**
 * Most of a list page's CPU went into parsing each stored document, building its Neutron view and serializing it
 * again, for documents that had not changed since the last page. This cache maps a stored document's text to
 * its wire JSON. The text itself is the key, so a changed resource (every write changes the text: revision
 * number, updated_at) is a different entry and can never be answered from the old one; a dependency's text is
 * compared on every use. Authorization is not cached: `readable` is asked for every document of every request.
 * Bounded: beyond `capacity` entries the oldest are dropped.
 */
export class RenderedDocuments<K extends Kind> {
  private readonly entries = new Map<string, Rendered<K>>();

  constructor(
    private readonly source: Renderable<K>,
    private readonly capacity = 10_000,
  ) {}

  /** The entity of a document and its wire JSON, from the cache when the document and its dependency are unchanged. */
  render(view: View, text: string): Rendered<K> {
    let entry = this.entries.get(text);
    const entity = entry?.entity ?? (JSON.parse(text) as KindMap[K]);
    const dependency = this.source.rendering?.dependency?.(entity);
    const dependencyText = dependency && view.getDocument?.(dependency.kind, dependency.id);
    if (entry && entry.dependencyText === dependencyText) return entry;
    // The views (views.ts) only read their input and copy what they keep, so the cached entity can be rendered
    // as it is: a second parse for a copy would make every uncached document (a walk through 100,000) dearer than
    // before the cache.
    const json = JSON.stringify(this.source.toObject(entity, view));
    if (entry) {
      entry.json = json;
      entry.dependencyText = dependencyText;
      return entry;
    }
    entry = { entity, json, dependencyText };
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(text, entry);
    return entry;
  }
}

/** One page as ids (for the pagination links) and the wire JSON of each member, in presentation order. */
export interface RenderedPage {
  readonly ids: string[];
  readonly json: string[];
}

/** Lists the cache can answer: id order, no filter, no `fields` (those need the view object). */
function plain(query: ListQuery): boolean {
  const byIdOnly = query.sorts.length === 0 || (query.sorts.length === 1 && query.sorts[0]![0] === 'id');
  return byIdOnly && query.filters.size === 0 && !hasTagFilter(query.tags) && query.fields.length === 0;
}

/**
 * The common list, `?limit=N[&marker=M][&page_reverse=True]` in id order with no filter and no `fields`, read as
 * documents and rendered through the cache: the same page, in the same order, as `listPage` gives. Undefined
 * when the list asks for more than that or the store offers no documents; then `listPage` answers it.
 */
export function renderedPage<K extends Kind>(
  view: View,
  ctx: Context,
  cache: RenderedDocuments<K>,
  source: Renderable<K>,
  query: ListQuery,
): RenderedPage | undefined {
  const { rangeDocuments, getDocument } = view;
  if (!rangeDocuments || !getDocument || !plain(query)) return undefined;
  if (query.marker !== undefined) {
    const text = getDocument(source.kind, query.marker);
    if (text === undefined || !source.readable(ctx, cache.render(view, text).entity)) {
      throw notFoundError(source.kind, query.marker);
    }
  }
  const ascending = (query.sorts[0]?.[1] ?? true) !== query.pageReverse;
  const key = rangeKey(ctx, source, query);
  const want = query.limit ?? Number.POSITIVE_INFINITY;
  const chunk = chunkSize(query);
  const ids: string[] = [];
  const json: string[] = [];
  const page = () => (query.pageReverse ? { ids: ids.reverse(), json: json.reverse() } : { ids, json });
  let after = query.marker;
  for (;;) {
    const batch = rangeDocuments(source.kind, {
      limit: chunk,
      descending: !ascending,
      ...(after !== undefined && { after }),
      ...(key !== undefined && { key }),
    });
    for (const text of batch) {
      const { entity, json: one } = cache.render(view, text);
      after = entity.id;
      if (!source.readable(ctx, entity)) continue;
      ids.push(entity.id);
      json.push(one);
      if (ids.length >= want) return page();
    }
    if (batch.length < chunk) return page();
  }
}

/**
 * One member's wire JSON through the cache (a show without `fields`); undefined when the store offers no documents.
 * Missing and unreadable are the same 404, as in getReadable, so another project's id reveals nothing.
 */
export function renderedMember<K extends Kind>(
  view: View,
  ctx: Context,
  cache: RenderedDocuments<K>,
  source: Renderable<K>,
  id: string,
): string | undefined {
  if (!view.getDocument) return undefined;
  const text = view.getDocument(source.kind, id);
  const rendered = text === undefined ? undefined : cache.render(view, text);
  if (!rendered || !source.readable(ctx, rendered.entity)) throw notFoundError(source.kind, id);
  return rendered.json;
}

/** The list body `{"<collection>": [...], "<collection>_links": [...]}` as JSON.stringify would write it. */
export function pageBody(collection: string, page: RenderedPage, links: readonly unknown[]): string {
  const linkPart =
    links.length > 0 ? `,${JSON.stringify(`${collection}_links`)}:${JSON.stringify(links)}` : '';
  return `{${JSON.stringify(collection)}:[${page.json.join(',')}]${linkPart}}`;
}
