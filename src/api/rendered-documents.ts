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
 * Bounded: at most `capacity` entries, the least recently used dropped first (by generation).
 */
export class RenderedDocuments<K extends Kind> {
  /**
   * Two generations instead of one Map evicted oldest-first: deleting from the front of a V8 Map leaves holes that
   * every later `keys().next()` walks over, which made a walk through more documents than the cache holds cost twice
   * as much as no cache at all (measured). When the current generation is full it becomes the previous one and the
   * oldest generation is dropped whole; a hit in the previous generation moves the entry to the current one.
   */
  private current = new Map<string, Rendered<K>>();
  private previous = new Map<string, Rendered<K>>();
  /**
   * Resources rendered once, by id. Only a resource seen a second time is cached: keeping every document a client
   * walks past (all pages of 25,000) made each such page cost 60% more than without a cache (measured: the garbage
   * collector moving what was kept), while a page read again and again is cached from its second read. Ids, not
   * texts: a short string kept per resource costs the collector far less than a document.
   */
  private seenCurrent = new Set<string>();
  private seenPrevious = new Set<string>();

  constructor(
    private readonly source: Renderable<K>,
    private readonly capacity = 10_000,
  ) {}

  /** The entity of a document and its wire JSON, from the cache when the document and its dependency are unchanged. */
  render(view: View, text: string): Rendered<K> {
    let entry = this.current.get(text);
    if (!entry) {
      entry = this.previous.get(text);
      if (entry) this.remember(text, entry);
    }
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
    if (this.seenCurrent.has(entity.id) || this.seenPrevious.has(entity.id)) this.remember(text, entry);
    else this.see(entity.id);
    return entry;
  }

  private see(id: string): void {
    if (this.seenCurrent.size >= this.capacity / 2) {
      this.seenPrevious = this.seenCurrent;
      this.seenCurrent = new Set();
    }
    this.seenCurrent.add(id);
  }

  /** Puts an entry in the current generation; at most `capacity` entries are held in both together. */
  private remember(text: string, entry: Rendered<K>): void {
    if (this.current.size >= this.capacity / 2) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(text, entry);
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
