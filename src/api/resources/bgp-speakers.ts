import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  addBgpPeer,
  addGatewayNetwork,
  advertisedRoutes,
  createBgpSpeaker,
  deleteBgpSpeaker,
  getBgpSpeaker,
  removeBgpPeer,
  removeGatewayNetwork,
  updateBgpSpeaker,
  type BgpSpeaker,
  type Context,
} from '../../model/index.js';
import type { Store } from '../../store/index.js';
import { contextOf } from '../request-context.js';
import type { ResourceDef } from '../resource-routes.js';
import { Id, ProjectId, Text, wrapped } from '../schemas.js';
import { bgpSpeakerView } from '../views.js';

/**
 * neutron-dynamic-routing's /v2.0/bgp-speakers and its member actions: admin-only. A project lists none, and
 * every id, action included, is unknown to it (404), as Neutron answers when its `get_` policy hides a resource.
 */

const Integer = Type.Union([Type.Integer(), Type.String({ maxLength: 16 })]);

const createProperties = {
  name: Type.Optional(Text),
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
  local_as: Integer,
  ip_version: Type.Optional(Integer),
  advertise_floating_ip_host_routes: Type.Optional(Type.Boolean()),
  advertise_tenant_networks: Type.Optional(Type.Boolean()),
};

const updateProperties = {
  name: Type.Optional(Text),
  advertise_floating_ip_host_routes: Type.Optional(Type.Boolean()),
  advertise_tenant_networks: Type.Optional(Type.Boolean()),
};

const input = (b: Record<string, unknown>) => ({
  ...(b.name !== undefined && { name: b.name as string }),
  ...((b.project_id ?? b.tenant_id) !== undefined && { projectId: (b.project_id ?? b.tenant_id) as string }),
  ...(b.local_as !== undefined && { localAs: b.local_as }),
  ...(b.ip_version !== undefined && { ipVersion: b.ip_version }),
  ...(b.advertise_floating_ip_host_routes !== undefined && {
    advertiseFloatingIpHostRoutes: b.advertise_floating_ip_host_routes as boolean,
  }),
  ...(b.advertise_tenant_networks !== undefined && {
    advertiseTenantNetworks: b.advertise_tenant_networks as boolean,
  }),
});

export const bgpSpeakers: ResourceDef<'bgpspeaker'> = {
  kind: 'bgpspeaker',
  path: 'bgp-speakers',
  collection: 'bgp_speakers',
  member: 'bgp_speaker',
  attributes: [
    'id',
    'name',
    'tenant_id',
    'project_id',
    'local_as',
    'ip_version',
    'advertise_floating_ip_host_routes',
    'advertise_tenant_networks',
    'peers',
    'networks',
  ],
  structured: ['peers', 'networks'],
  booleans: ['advertise_floating_ip_host_routes', 'advertise_tenant_networks'],
  readOnly: ['id', 'tenant_id', 'project_id', 'local_as', 'ip_version', 'peers', 'networks'],
  readable: (ctx: Context, _speaker: BgpSpeaker) => ctx.isAdmin,
  sharedReads: true,
  toObject: bgpSpeakerView,
  responseSchema: Type.Object({
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    tenant_id: Type.String(),
    project_id: Type.String(),
    local_as: Type.Integer(),
    ip_version: Type.Integer(),
    advertise_floating_ip_host_routes: Type.Boolean(),
    advertise_tenant_networks: Type.Boolean(),
    peers: Type.Array(Type.String({ format: 'uuid' })),
    networks: Type.Array(Type.String({ format: 'uuid' })),
  }),
  createSchema: wrapped('bgp_speaker', createProperties, ['local_as']),
  updateSchema: wrapped('bgp_speaker', updateProperties),
  create: (tx, ctx, b) => createBgpSpeaker(tx, ctx, input(b)),
  update: (tx, ctx, id, b) => updateBgpSpeaker(tx, ctx, id, input(b)),
  remove: deleteBgpSpeaker,
};

const PeerBody = Type.Object({ bgp_peer_id: Id }, { additionalProperties: false });
const NetworkBody = Type.Object({ network_id: Id }, { additionalProperties: false });

/** PUT add_bgp_peer / remove_bgp_peer / add_gateway_network / remove_gateway_network, GET get_advertised_routes. */
export function registerBgpSpeakerActions(app: FastifyInstance, store: Store): void {
  const tags = ['resources'];
  const peerActions = { add_bgp_peer: addBgpPeer, remove_bgp_peer: removeBgpPeer };
  for (const [action, apply] of Object.entries(peerActions)) {
    app.put<{ Params: { id: string }; Body: { bgp_peer_id: string } }>(
      `/v2.0/bgp-speakers/:id/${action}`,
      { schema: { tags, summary: action.replaceAll('_', ' '), body: PeerBody } },
      async (request) => {
        const ctx = contextOf(request);
        const peerId = request.body.bgp_peer_id;
        await store.update((tx) => apply(tx, ctx, request.params.id, peerId));
        return { bgp_peer_id: peerId };
      },
    );
  }
  const networkActions = {
    add_gateway_network: addGatewayNetwork,
    remove_gateway_network: removeGatewayNetwork,
  };
  for (const [action, apply] of Object.entries(networkActions)) {
    app.put<{ Params: { id: string }; Body: { network_id: string } }>(
      `/v2.0/bgp-speakers/:id/${action}`,
      { schema: { tags, summary: action.replaceAll('_', ' '), body: NetworkBody } },
      async (request) => {
        const ctx = contextOf(request);
        const networkId = request.body.network_id;
        await store.update((tx) => apply(tx, ctx, request.params.id, networkId));
        return { network_id: networkId };
      },
    );
  }
  app.get<{ Params: { id: string } }>(
    '/v2.0/bgp-speakers/:id/get_advertised_routes',
    { schema: { tags, summary: 'Routes a BGP speaker advertises' } },
    async (request) => {
      const ctx = contextOf(request);
      const routes = await store.read((view) =>
        advertisedRoutes(view, getBgpSpeaker(view, ctx, request.params.id)),
      );
      return { advertised_routes: routes.map((r) => ({ destination: r.destination, next_hop: r.nextHop })) };
    },
  );
}
