import type { FastifyInstance } from 'fastify';
import type { Subnet, View } from '../../model/index.js';
import type { Store } from '../../store/index.js';
import { matchesQuery } from '../list-page.js';
import { parseListQuery, type RawQuery } from '../list-query.js';
import type { NeutronObject } from '../views.js';

const ATTRIBUTES = ['subnet_id', 'subnet_name', 'cidr', 'network_id', 'project_id'];

/** One pool per subnet of an external network, in Neutron's `floatingip-pools` shape. */
function poolView(subnet: Subnet, view: View): NeutronObject {
  return {
    subnet_id: subnet.id,
    subnet_name: subnet.name,
    cidr: subnet.cidr,
    network_id: subnet.networkId,
    project_id: view.get('network', subnet.networkId)?.projectId ?? subnet.projectId,
  };
}

/**
 * Neutron's `floatingip-pools` extension: GET /v2.0/floatingip_pools. External networks are usable by every
 * project (getUsableNetwork), so every caller sees every subnet of every external network, and nothing else.
 */
export function registerFloatingIpPools(app: FastifyInstance, store: Store): void {
  app.get('/v2.0/floatingip_pools', async (request) => {
    const query = parseListQuery(
      { collection: 'floatingip_pools', attributes: ATTRIBUTES, booleans: [] },
      request.query as RawQuery,
    );
    const objects = await store.read((view) =>
      view
        .list('subnet')
        .filter((s) => view.get('network', s.networkId)?.external === true)
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((s) => poolView(s, view)),
    );
    // Pools are few (one per external subnet): filter and trim in memory, without pagination, as for agents.
    const pools = objects.filter((o) => matchesQuery(o, query));
    return {
      floatingip_pools:
        query.fields.length === 0
          ? pools
          : pools.map((o) => Object.fromEntries(query.fields.filter((f) => f in o).map((f) => [f, o[f]]))),
    };
  });
}
