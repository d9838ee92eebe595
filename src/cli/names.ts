import type { ApiClient, Json } from '../client/api-client.js';
import { ApiError } from '../client/api-client.js';

/** Names by id of one collection, so tables show `vm1` and `r1` rather than UUIDs. */
export async function namesOf(api: ApiClient, collection: string): Promise<Map<string, string>> {
  const rows = (await api.get<Record<string, Json[]>>(`/v2.0/${collection}`))[collection] ?? [];
  return new Map(rows.map((r) => [String(r.id), String(r.name ?? '')]));
}

/** A resource's name, or its id when it has none (names are optional in Neutron). */
export function label(names: ReadonlyMap<string, string>, id: unknown): string {
  if (id === null || id === undefined || id === '') return '';
  return names.get(String(id)) || String(id);
}

/**
 * An external network by name or id. A wrong name lists the external networks, and an internal one says that it
 * is not a floating-IP pool, instead of the API's bare "not a valid external network".
 */
export async function findExternalNetwork(api: ApiClient, ref: string): Promise<Json> {
  const all = (await api.get<{ networks: Json[] }>('/v2.0/networks')).networks;
  const external = all.filter((n) => n['router:external'] === true);
  const pools = external.length ? external.map((n) => String(n.name || n.id)).join(', ') : 'none yet';
  const matches = all.filter((n) => n.id === ref || n.name === ref);
  if (matches.length > 1) {
    throw new ApiError(
      409,
      'Ambiguous',
      `More than one network is named '${ref}': use an id (${matches.map((n) => n.id).join(', ')})`,
    );
  }
  const match = matches[0];
  if (!match)
    throw new ApiError(404, 'NotFound', `No external network '${ref}'; external networks: ${pools}`);
  if (match['router:external'] !== true) {
    throw new ApiError(
      400,
      'BadRequest',
      `Network '${ref}' is not external, so it is no floating-IP pool; external networks: ${pools}`,
    );
  }
  return match;
}
