import type { ApiClient } from '../src/client/api-client.js';

/** Ids per list request: `?id=…&id=…` keeps the URL well under any server's limit. */
const IDS_PER_REQUEST = 100;

/** The floating IPs among `ids` that are not ACTIVE (missing ones included), asked by id, 100 per request. */
export async function notActive(api: ApiClient, ids: readonly string[]): Promise<string[]> {
  const pending: string[] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_REQUEST) {
    const chunk = ids.slice(i, i + IDS_PER_REQUEST);
    const query = chunk.map((id) => `id=${id}`).join('&');
    const page = await api.get<{ floatingips: { id: string; status: string }[] }>(
      `/v2.0/floatingips?fields=id&fields=status&${query}`,
    );
    const active = new Set(page.floatingips.filter((f) => f.status === 'ACTIVE').map((f) => f.id));
    pending.push(...chunk.filter((id) => !active.has(id)));
  }
  return pending;
}
