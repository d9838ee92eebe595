import { Type } from '@sinclair/typebox';
import {
  createBgpPeer,
  deleteBgpPeer,
  updateBgpPeer,
  type Context,
  type BgpPeer,
} from '../../model/index.js';
import type { ResourceDef } from '../resource-routes.js';
import { Address, ProjectId, Text, wrapped } from '../schemas.js';
import { bgpPeerView } from '../views.js';

/** neutron-dynamic-routing's /v2.0/bgp-peers: admin-only. Values are checked, and named when bad, in the model. */

/** AS numbers may come as integers or digit strings (Neutron's convert_to_int); the model checks the range. */
const Asn = Type.Union([Type.Integer(), Type.String({ maxLength: 16 })]);

const createProperties = {
  name: Type.Optional(Text),
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
  peer_ip: Address,
  remote_as: Asn,
  auth_type: Type.Optional(Type.String({ maxLength: 16 })),
  password: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
};

const updateProperties = {
  name: Type.Optional(Text),
  password: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
};

const input = (b: Record<string, unknown>) => ({
  ...(b.name !== undefined && { name: b.name as string }),
  ...((b.project_id ?? b.tenant_id) !== undefined && { projectId: (b.project_id ?? b.tenant_id) as string }),
  ...(b.peer_ip !== undefined && { peerIp: b.peer_ip }),
  ...(b.remote_as !== undefined && { remoteAs: b.remote_as }),
  ...(b.auth_type !== undefined && { authType: b.auth_type }),
  ...(b.password !== undefined && { password: b.password }),
});

export const bgpPeers: ResourceDef<'bgppeer'> = {
  kind: 'bgppeer',
  path: 'bgp-peers',
  collection: 'bgp_peers',
  member: 'bgp_peer',
  attributes: ['id', 'name', 'tenant_id', 'project_id', 'peer_ip', 'remote_as', 'auth_type'],
  readOnly: ['id', 'tenant_id', 'project_id', 'peer_ip', 'remote_as', 'auth_type'],
  // Admin-only: a project lists none and every id is unknown to it.
  readable: (ctx: Context, _peer: BgpPeer) => ctx.isAdmin,
  sharedReads: true,
  toObject: bgpPeerView,
  responseSchema: Type.Object({
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    tenant_id: Type.String(),
    project_id: Type.String(),
    peer_ip: Type.String(),
    remote_as: Type.Integer(),
    auth_type: Type.String({ description: 'none or md5' }),
  }),
  createSchema: wrapped('bgp_peer', createProperties, ['peer_ip', 'remote_as']),
  updateSchema: wrapped('bgp_peer', updateProperties),
  create: (tx, ctx, b) => createBgpPeer(tx, ctx, input(b)),
  update: (tx, ctx, id, b) => updateBgpPeer(tx, ctx, id, input(b)),
  remove: deleteBgpPeer,
};
