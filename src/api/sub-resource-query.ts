import { SfipError } from '../model/index.js';
import { valuesOf, type RawQuery } from './list-query.js';

type Wire = Record<string, unknown>;

/**
 * A sub-resource list's query (port forwardings, QoS rules): equality filters on any attribute and `fields`,
 * as Neutron's list does; unknown names are refused.
 */
export function subResourceQuery(
  query: RawQuery,
  attributes: readonly string[],
  collection: string,
): { match: (o: Wire) => boolean; project: (o: Wire) => Wire } {
  const filters: [string, string[]][] = [];
  let fields: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (key === 'fields') {
      fields = valuesOf(value)
        .flatMap((f) => f.split(','))
        .filter(Boolean);
    } else if (attributes.includes(key)) {
      filters.push([key, valuesOf(value)]);
    } else {
      throw new SfipError(
        'HTTPBadRequest',
        400,
        `${key.slice(0, 60)} is an invalid filter for ${collection}.`,
      );
    }
  }
  return {
    match: (o) => filters.every(([key, wanted]) => wanted.includes(String(o[key]))),
    // Only the object's own attributes are read, so `__proto__` and the like never reach a prototype.
    project: (o) =>
      fields.length === 0
        ? o
        : Object.fromEntries(
            fields.filter((f) => Object.hasOwn(o, f) && attributes.includes(f)).map((f) => [f, o[f]]),
          ),
  };
}
