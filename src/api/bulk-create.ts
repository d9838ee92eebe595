import type { FastifyRequest } from 'fastify';
import { quotaTx, SfipError, type Kind } from '../model/index.js';
import type { Store } from '../store/index.js';
import { describeValidation, type AjvError } from './neutron-error.js';
import type { ResourceDef } from './resource-routes.js';

/** The most items one bulk create takes: enough for any client, small enough for one transaction. */
export const MAX_BULK_ITEMS = 1000;

/**
 * Collections with native bulk create. Networks, subnets and ports as in Neutron; floating IPs as an sfip
 * extension (Neutron's L3 plugin has no bulk floating IPs).
 */
const BULK_COLLECTIONS: ReadonlySet<string> = new Set(['networks', 'subnets', 'ports', 'floatingips']);

/** Whether a POST body is Neutron's bulk form `{"<collection>": [...]}` rather than `{"<member>": {...}}`. */
export function isBulkBody(def: { collection: string; member: string }, body: unknown): boolean {
  return (
    BULK_COLLECTIONS.has(def.collection) &&
    typeof body === 'object' &&
    body !== null &&
    Object.hasOwn(body, def.collection) &&
    !Object.hasOwn(body, def.member)
  );
}

const badRequest = (message: string) => new SfipError('HTTPBadRequest', 400, message);

/**
 * Creates every item in ONE store transaction, each through the same model function (and quota count) as a
 * single create: the first bad item aborts the transaction, so a bulk is all or nothing. Errors name the item.
 */
export async function bulkCreate<K extends Kind>(
  request: FastifyRequest,
  store: Store,
  def: ResourceDef<K>,
  ctx: Parameters<ResourceDef<K>['create']>[1],
): Promise<Record<string, unknown>> {
  const body = request.body as Record<string, unknown>;
  const extra = Object.keys(body).filter((k) => k !== def.collection);
  if (extra.length > 0) throw badRequest(`Unrecognized attribute(s) '${extra.join(', ')}'`);
  const items = body[def.collection];
  if (!Array.isArray(items) || items.length === 0)
    throw badRequest(
      `Invalid input for ${def.collection}: expected a non-empty list of ${def.member} objects.`,
    );
  if (items.length > MAX_BULK_ITEMS)
    throw badRequest(
      `A bulk create takes at most ${MAX_BULK_ITEMS} ${def.collection}; this request has ${items.length}.`,
    );
  // The single-create schema, compiled by the same validator (same coercion and formats) as route schemas.
  const validate = request.compileValidationSchema(def.createSchema as unknown as Record<string, unknown>);
  const attributes = items.map((item: unknown, index) => {
    const wrapped = { [def.member]: item };
    if (!validate(wrapped)) {
      const errors = (validate.errors ?? []) as unknown as AjvError[];
      throw badRequest(`${def.member} at index ${index}: ${describeValidation(errors, wrapped, {})}`);
    }
    return wrapped[def.member] as Record<string, unknown>;
  });
  const created = await store.update((tx) =>
    attributes.map((item, index) => {
      try {
        return def.toObject(def.create(quotaTx(tx, ctx), ctx, item), tx);
      } catch (error) {
        if (error instanceof SfipError)
          throw new SfipError(error.type, error.status, `${def.member} at index ${index}: ${error.message}`);
        throw error;
      }
    }),
  );
  return { [def.collection]: created };
}
