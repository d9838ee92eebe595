import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import {
  getVisible,
  revise,
  SfipError,
  visibleTo,
  type Context,
  type Kind,
  type KindMap,
  type Tx,
  type View,
} from '../model/index.js';
import type { Store } from '../store/index.js';
import { listPage } from './list-query.js';
import { contextOf } from './request-context.js';
import type { NeutronObject } from './views.js';

type Body = Record<string, Record<string, unknown>>;

export interface ResourceDef<K extends Kind> {
  readonly kind: K;
  /** URL and list key, e.g. `floatingips`. */
  readonly collection: string;
  /** Body wrapper key, e.g. `floatingip`. */
  readonly member: string;
  readonly attributes: readonly string[];
  readonly view: (entity: KindMap[K], view: View) => NeutronObject;
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
    const match = /^\s*revision_number=(\d+)\s*$/.exec(part);
    if (!match)
      throw new SfipError('BadRequest', 400, `If-Match header '${part.trim()}' must be revision_number=N.`);
    if (Number(match[1]) !== current.revisionNumber) {
      throw new SfipError(
        'RevisionNumberConstraintFailed',
        412,
        `Constrained to ${part.trim()}, but current revision number is ${current.revisionNumber}.`,
      );
    }
  }
}

/** Registers list, show, create, update, delete and the tags sub-resource, the same way for every resource. */
export function registerResource<K extends Kind>(
  app: FastifyInstance,
  store: Store,
  def: ResourceDef<K>,
): void {
  const base = `/v2.0/${def.collection}`;
  const one = (entity: KindMap[K], view: View) => ({ [def.member]: def.view(entity, view) });

  app.get(base, async (request) => {
    const ctx = contextOf(request);
    const objects = await store.read((view) =>
      view
        .list(def.kind)
        .filter((e) => visibleTo(ctx, e))
        .map((e) => def.view(e, view)),
    );
    const url = `${request.protocol}://${request.host}${base}`;
    const page = listPage(
      def.kind,
      def.collection,
      objects,
      def.attributes,
      request.query as Record<string, string>,
      url,
    );
    return {
      [def.collection]: page.items,
      ...(page.links.length > 0 && { [`${def.collection}_links`]: page.links }),
    };
  });

  app.get<{ Params: { id: string } }>(`${base}/:id`, async (request) => {
    const ctx = contextOf(request);
    const fields = [request.query as Record<string, string | string[]>]
      .flatMap((q) => q.fields ?? [])
      .flatMap((f) => f.split(','));
    return store.read((view) => {
      const body = def.view(getVisible(view, ctx, def.kind, request.params.id), view);
      return {
        [def.member]: fields.length
          ? Object.fromEntries(fields.filter((f) => f in body).map((f) => [f, body[f]]))
          : body,
      };
    });
  });

  app.post<{ Body: Body }>(base, { schema: { body: def.createSchema } }, async (request, reply) => {
    const ctx = contextOf(request);
    const result = await store.update((tx) => one(def.create(tx, ctx, request.body[def.member]!), tx));
    return reply.status(201).send(result);
  });

  app.put<{ Params: { id: string }; Body: Body }>(
    `${base}/:id`,
    { schema: { body: def.updateSchema } },
    async (request) => {
      const ctx = contextOf(request);
      return store.update((tx) => {
        checkRevision(request, getVisible(tx, ctx, def.kind, request.params.id));
        return one(def.update(tx, ctx, request.params.id, request.body[def.member]!), tx);
      });
    },
  );

  app.delete<{ Params: { id: string } }>(`${base}/:id`, async (request, reply) => {
    const ctx = contextOf(request);
    await store.update((tx) => {
      checkRevision(request, getVisible(tx, ctx, def.kind, request.params.id));
      def.remove(tx, ctx, request.params.id);
    });
    return reply.status(204).send();
  });

  registerTags(app, store, def);
}

const TAG = /^[^,/]{1,255}$/;

function checkTag(tag: string): string {
  if (!TAG.test(tag))
    throw new SfipError('InvalidInput', 400, `Invalid input for operation: '${tag}' is not a valid tag.`);
  return tag;
}

function registerTags<K extends Kind>(app: FastifyInstance, store: Store, def: ResourceDef<K>): void {
  const base = `/v2.0/${def.collection}/:id/tags`;
  const setTags = (
    request: FastifyRequest<{ Params: { id: string } }>,
    next: (tags: string[]) => string[],
  ) => {
    const ctx = contextOf(request);
    return store.update((tx) => {
      const current = getVisible(tx, ctx, def.kind, request.params.id);
      const tags = [...new Set(next([...current.tags]))];
      tx.put(def.kind, revise(ctx, current, { tags } as unknown as Partial<KindMap[K]>) as KindMap[K]);
      return tags;
    });
  };
  app.get<{ Params: { id: string } }>(base, async (request) => {
    const ctx = contextOf(request);
    return store.read((view) => ({ tags: [...getVisible(view, ctx, def.kind, request.params.id).tags] }));
  });
  app.get<{ Params: { id: string; tag: string } }>(`${base}/:tag`, async (request, reply) => {
    const ctx = contextOf(request);
    const has = await store.read((view) =>
      getVisible(view, ctx, def.kind, request.params.id).tags.includes(request.params.tag),
    );
    if (!has)
      throw new SfipError(
        'TagNotFound',
        404,
        `Tag ${request.params.tag} could not be found for resource ${request.params.id}.`,
      );
    return reply.status(204).send();
  });
  app.put<{ Params: { id: string }; Body: { tags: string[] } }>(
    base,
    {
      schema: {
        body: {
          type: 'object',
          required: ['tags'],
          additionalProperties: false,
          properties: { tags: { type: 'array', items: { type: 'string' } } },
        },
      },
    },
    async (request) => ({ tags: await setTags(request, () => request.body.tags.map(checkTag)) }),
  );
  app.put<{ Params: { id: string; tag: string } }>(`${base}/:tag`, async (request, reply) => {
    await setTags(request, (tags) => [...tags, checkTag(request.params.tag)]);
    return reply.status(201).send();
  });
  app.delete<{ Params: { id: string } }>(base, async (request, reply) => {
    await setTags(request, () => []);
    return reply.status(204).send();
  });
  app.delete<{ Params: { id: string; tag: string } }>(`${base}/:tag`, async (request, reply) => {
    await setTags(request, (tags) => {
      if (!tags.includes(request.params.tag)) {
        throw new SfipError(
          'TagNotFound',
          404,
          `Tag ${request.params.tag} could not be found for resource ${request.params.id}.`,
        );
      }
      return tags.filter((t) => t !== request.params.tag);
    });
    return reply.status(204).send();
  });
}
