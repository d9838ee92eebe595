import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import {
  notFoundError,
  revise,
  SfipError,
  visibleTo,
  type Context,
  type Kind,
  type KindMap,
  type Tx,
  type View,
  quotaTx,
} from '../model/index.js';
import type { Store } from '../store/index.js';
import { listPage, type ListSource } from './list-page.js';
import {
  pageBody,
  RenderedDocuments,
  renderedMember,
  renderedPage,
  type Renderable,
} from './rendered-documents.js';
import { parseListQuery, valuesOf, type ListQuery, type RawQuery } from './list-query.js';
import { contextOf } from './request-context.js';
import { collectionResponse, memberResponse, type Documented } from './openapi-schemas.js';
import type { NeutronObject } from './views.js';
import { bulkCreate, isBulkBody } from './bulk-create.js';
import type { PublicUrl } from './public-url.js';

type Body = Record<string, Record<string, unknown>>;

const JSON_TYPE = 'application/json; charset=utf-8';

export interface ResourceDef<K extends Kind> extends Renderable<K>, Documented {
  /** The URL below /v2.0/ when it differs from the collection's key: `qos/policies` holds `policies`. */
  readonly path?: string;
  /** Every attribute of the wire form: what filters, sort keys and `fields` may name. */
  readonly attributes: readonly string[];
  /** Attributes holding lists or objects (not sortable). */
  readonly structured?: readonly string[];
  /** Boolean attributes, whose filter values are converted as Neutron does. */
  readonly booleans?: readonly string[];
  /** Attributes that exist but cannot be changed by PUT: named as such when a client tries. */
  readonly readOnly: readonly string[];
  readonly createSchema: TSchema;
  readonly updateSchema: TSchema;
  readonly create: (tx: Tx, ctx: Context, body: Record<string, unknown>) => KindMap[K];
  readonly update: (tx: Tx, ctx: Context, id: string, body: Record<string, unknown>) => KindMap[K];
  readonly remove: (tx: Tx, ctx: Context, id: string) => void;
}

/** `If-Match: revision_number=N` makes an update or delete conditional, as in Neutron. */
function checkRevision(request: FastifyRequest, current: { revisionNumber: number }): void {
  const header = request.headers['if-match'];
  if (header === undefined) return;
  for (const part of String(header).split(',')) {
    const match = /^\s*revision_number=([0-9]{1,15})\s*$/.exec(part);
    if (!match) {
      throw new SfipError(
        'HTTPBadRequest',
        400,
        `If-Match header '${part.trim()}' is not supported: expected revision_number=N.`,
      );
    }
    if (Number(match[1]) !== current.revisionNumber) {
      throw new SfipError(
        'RevisionNumberConstraintFailed',
        412,
        `Constrained to ${match[1]}, but current revision is ${current.revisionNumber}`,
      );
    }
  }
}

export function getReadable<K extends Kind>(view: View, ctx: Context, def: ListSource<K>, id: string) {
  const found = view.get(def.kind, id);
  if (!found || !def.readable(ctx, found)) throw notFoundError(def.kind, id);
  return found;
}

/**
 * A resource the caller may change. One it cannot even read is missing (404, so its existence does not leak);
 * one it can read but does not own, such as another project's external network, is forbidden (403), as in Neutron.
 */
export function getWritable<K extends Kind>(
  view: View,
  ctx: Context,
  def: ResourceDef<K>,
  id: string,
  action: string,
) {
  const found = getReadable(view, ctx, def, id);
  if (!visibleTo(ctx, found)) {
    throw new SfipError('PolicyNotAuthorized', 403, `rule:${action}_${def.member} is disallowed by policy`);
  }
  return found;
}

/**
 * Trims an object to the requested `fields`. Names that are not attributes of the resource are ignored, as
 * Neutron ignores them; only the object's own attributes are read, so `__proto__`, `constructor` and the like
 * never reach a prototype.
 */
function project(
  object: NeutronObject,
  fields: readonly string[],
  attributes: readonly string[],
): NeutronObject {
  if (fields.length === 0) return object;
  const wanted = fields.filter((f) => attributes.includes(f) && Object.hasOwn(object, f));
  return Object.fromEntries(wanted.map((f) => [f, object[f]]));
}

/** Neutron's api_common.get_pagination_links: a full page gets "next", and every page but a short reverse one gets "previous". */
function paginationLinks(
  request: FastifyRequest,
  origin: string,
  path: string,
  query: ListQuery,
  ids: readonly string[],
) {
  if (query.limit === undefined) return [];
  const href = (marker: unknown, reverse: boolean) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(request.query as RawQuery)) {
      if (k === 'marker' || k === 'page_reverse') continue;
      for (const one of valuesOf(v)) params.append(k, one);
    }
    if (marker !== undefined) params.set('marker', String(marker));
    if (reverse) params.set('page_reverse', 'True');
    return `${origin}${path}?${params.toString()}`;
  };
  const links: { rel: string; href: string }[] = [];
  const short = ids.length < query.limit;
  if (!(short && !query.pageReverse)) links.push({ rel: 'next', href: href(ids.at(-1), false) });
  if (!(short && query.pageReverse)) links.push({ rel: 'previous', href: href(ids[0], true) });
  return links;
}

/** Registers list, show, create, update, delete and the tags sub-resource, the same way for every resource. */
export function registerResource<K extends Kind>(
  app: FastifyInstance,
  store: Store,
  def: ResourceDef<K>,
  publicUrl: PublicUrl,
): void {
  const base = `/v2.0/${def.path ?? def.collection}`;
  const one = (entity: KindMap[K], view: View) => ({ [def.member]: def.toObject(entity, view) });
  const tags = ['resources'];
  // Resources whose wire form depends only on stored documents render lists through a cache of that JSON.
  const rendered = def.rendering ? new RenderedDocuments(def) : undefined;

  app.get(
    base,
    { schema: { tags, summary: `List ${def.collection}`, response: collectionResponse(def) } },
    async (request, reply) => {
      const ctx = contextOf(request);
      const query = parseListQuery(def, request.query as RawQuery);
      if (rendered) {
        const page = await store.read((view) => renderedPage(view, ctx, rendered, def, query));
        if (page) {
          const links = paginationLinks(request, publicUrl(), base, query, page.ids);
          // Already JSON: sent as a string, which Fastify passes through without its serializer.
          return reply.type(JSON_TYPE).send(pageBody(def.collection, page, links));
        }
      }
      const items = await store.read((view) => listPage(view, ctx, def, query));
      const links = paginationLinks(
        request,
        publicUrl(),
        base,
        query,
        items.map((o) => o.id as string),
      );
      return {
        [def.collection]: items.map((o) => project(o, query.fields, def.attributes)),
        ...(links.length > 0 && { [`${def.collection}_links`]: links }),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    `${base}/:id`,
    { schema: { tags, summary: `Show a ${def.member}`, response: memberResponse(def) } },
    async (request, reply) => {
      const ctx = contextOf(request);
      const fields = valuesOf((request.query as RawQuery).fields)
        .flatMap((f) => f.split(','))
        .filter(Boolean);
      if (rendered && fields.length === 0) {
        const member = await store.read((view) =>
          renderedMember(view, ctx, rendered, def, request.params.id),
        );
        if (member !== undefined)
          return reply.type(JSON_TYPE).send(`{${JSON.stringify(def.member)}:${member}}`);
      }
      return store.read((view) => ({
        [def.member]: project(
          def.toObject(getReadable(view, ctx, def, request.params.id), view),
          fields,
          def.attributes,
        ),
      }));
    },
  );

  app.post<{ Body: Body }>(
    base,
    {
      schema: {
        tags,
        summary: `Create a ${def.member}`,
        body: def.createSchema,
        response: memberResponse(def, 201),
      },
      // Neutron's bulk form {"<collection>": [...]} fails the single-create schema: the handler (after the
      // preHandler rate limit) decides between it and the schema's error.
      attachValidation: true,
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      if (isBulkBody(def, request.body)) {
        const result = await bulkCreate(request, store, def, ctx);
        // A string skips the 201 schema's serializer, which knows only the single-member shape.
        return reply.status(201).type('application/json; charset=utf-8').send(JSON.stringify(result));
      }
      if (request.validationError) throw request.validationError;
      // Counted against the project's quota in the same transaction (quotaTx), so concurrent creates cannot overshoot.
      const result = await store.update((tx) =>
        one(def.create(quotaTx(tx, ctx), ctx, request.body[def.member]!), tx),
      );
      return reply.status(201).send(result);
    },
  );

  const config = { readOnly: def.readOnly };
  app.put<{ Params: { id: string }; Body: Body }>(
    `${base}/:id`,
    {
      config,
      schema: {
        tags,
        summary: `Update a ${def.member}`,
        body: def.updateSchema,
        response: memberResponse(def),
      },
    },
    async (request) => {
      const ctx = contextOf(request);
      return store.update((tx) => {
        checkRevision(request, getWritable(tx, ctx, def, request.params.id, 'update'));
        // An update can create (a router's gateway port): that counts too.
        return one(def.update(quotaTx(tx, ctx), ctx, request.params.id, request.body[def.member]!), tx);
      });
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${base}/:id`,
    { schema: { tags, summary: `Delete a ${def.member}` } },
    async (request, reply) => {
      const ctx = contextOf(request);
      await store.update((tx) => {
        checkRevision(request, getWritable(tx, ctx, def, request.params.id, 'delete'));
        def.remove(tx, ctx, request.params.id);
      });
      return reply.status(204).send();
    },
  );

  registerTags(app, store, def);
}

/** Neutron's tag rules: 1-255 characters, no comma (lists of tags are comma-separated in filters) and no slash (tags appear in URLs). */
const TAG = /^[^,/]{1,255}$/;
const MAX_TAGS = 50;

function checkTags(tags: string[]): string[] {
  for (const tag of tags) {
    if (!TAG.test(tag)) {
      throw new SfipError('InvalidInput', 400, `Invalid input for operation: '${tag}' is not a valid tag.`);
    }
  }
  const unique = [...new Set(tags)];
  if (unique.length > MAX_TAGS) {
    throw new SfipError(
      'InvalidInput',
      400,
      `Invalid input for operation: at most ${MAX_TAGS} tags per resource.`,
    );
  }
  return unique;
}

function registerTags<K extends Kind>(app: FastifyInstance, store: Store, def: ResourceDef<K>): void {
  const base = `/v2.0/${def.path ?? def.collection}/:id/tags`;
  const tags = ['tags'];
  const tagNotFound = (tag: string, id: string) =>
    new SfipError('TagNotFound', 404, `Tag ${tag} could not be found for resource ${id}.`);
  const setTags = (
    request: FastifyRequest<{ Params: { id: string } }>,
    next: (tags: string[]) => string[],
  ) => {
    const ctx = contextOf(request);
    return store.update((tx) => {
      const current = getWritable(tx, ctx, def, request.params.id, 'update');
      const updated = checkTags(next([...current.tags]));
      tx.put(def.kind, revise(ctx, current, { tags: updated } as unknown as Partial<KindMap[K]>));
      return updated;
    });
  };
  app.get<{ Params: { id: string } }>(base, { schema: { tags, summary: 'List tags' } }, async (request) => {
    const ctx = contextOf(request);
    return store.read((view) => ({ tags: [...getReadable(view, ctx, def, request.params.id).tags] }));
  });
  app.get<{ Params: { id: string; tag: string } }>(
    `${base}/:tag`,
    { schema: { tags, summary: 'Check a tag' } },
    async (request, reply) => {
      const ctx = contextOf(request);
      const has = await store.read((view) =>
        getReadable(view, ctx, def, request.params.id).tags.includes(request.params.tag),
      );
      if (!has) throw tagNotFound(request.params.tag, request.params.id);
      return reply.status(204).send();
    },
  );
  app.put<{ Params: { id: string }; Body: { tags: string[] } }>(
    base,
    {
      schema: {
        tags,
        summary: 'Replace all tags',
        body: {
          type: 'object',
          required: ['tags'],
          additionalProperties: false,
          properties: {
            tags: { type: 'array', maxItems: MAX_TAGS * 4, items: { type: 'string', maxLength: 255 } },
          },
        },
      },
    },
    async (request) => ({ tags: await setTags(request, () => request.body.tags) }),
  );
  app.put<{ Params: { id: string; tag: string } }>(
    `${base}/:tag`,
    { schema: { tags, summary: 'Add a tag' } },
    async (request, reply) => {
      await setTags(request, (current) => [...current, request.params.tag]);
      return reply.status(201).send();
    },
  );
  app.delete<{ Params: { id: string } }>(
    base,
    { schema: { tags, summary: 'Remove all tags' } },
    async (request, reply) => {
      await setTags(request, () => []);
      return reply.status(204).send();
    },
  );
  app.delete<{ Params: { id: string; tag: string } }>(
    `${base}/:tag`,
    { schema: { tags, summary: 'Remove a tag' } },
    async (request, reply) => {
      await setTags(request, (current) => {
        if (!current.includes(request.params.tag)) throw tagNotFound(request.params.tag, request.params.id);
        return current.filter((t) => t !== request.params.tag);
      });
      return reply.status(204).send();
    },
  );
}
