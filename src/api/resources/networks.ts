import { Type } from '@sinclair/typebox';
import { createNetwork, deleteNetwork, updateNetwork, visibleTo } from '../../model/index.js';
import { StandardResponse } from '../openapi-schemas.js';
import type { ResourceDef } from '../resource-routes.js';
import { StandardAttributes, standardInput, Text, Tags, wrapped } from '../schemas.js';
import { networkView } from '../views.js';

const createProperties = {
  ...StandardAttributes,
  'router:external': Type.Optional(Type.Boolean()),
  admin_state_up: Type.Optional(Type.Boolean()),
  shared: Type.Optional(Type.Literal(false, { description: 'sfip has no shared networks' })),
};

const updateProperties = {
  name: Type.Optional(Text),
  description: Type.Optional(Text),
  tags: Type.Optional(Tags),
  'router:external': Type.Optional(Type.Boolean()),
  admin_state_up: Type.Optional(Type.Boolean()),
};

const input = (b: Record<string, unknown>) => ({
  ...standardInput(b),
  ...(b['router:external'] !== undefined && { external: b['router:external'] as boolean }),
  ...(b.admin_state_up !== undefined && { adminStateUp: b.admin_state_up as boolean }),
});

export const networks: ResourceDef<'network'> = {
  kind: 'network',
  collection: 'networks',
  member: 'network',
  attributes: [
    'id',
    'name',
    'description',
    'tags',
    'tenant_id',
    'project_id',
    'status',
    'admin_state_up',
    'shared',
    'router:external',
    'subnets',
    'mtu',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  structured: ['tags', 'subnets'],
  booleans: ['admin_state_up', 'shared', 'router:external'],
  readOnly: [
    'id',
    'tenant_id',
    'project_id',
    'status',
    'subnets',
    'mtu',
    'shared',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  // External networks are floating-IP pools every project may read and allocate from, as in Neutron.
  readable: (ctx, n) => visibleTo(ctx, n) || n.external,
  sharedReads: true,
  toObject: networkView,
  responseSchema: Type.Object({
    ...StandardResponse,
    name: Type.String(),
    status: Type.String(),
    admin_state_up: Type.Boolean(),
    shared: Type.Boolean(),
    'router:external': Type.Boolean(),
    subnets: Type.Array(Type.String({ format: 'uuid' })),
    mtu: Type.Integer(),
  }),
  createSchema: wrapped('network', createProperties),
  updateSchema: wrapped('network', updateProperties),
  create: (tx, ctx, b) => createNetwork(tx, ctx, input(b)),
  update: (tx, ctx, id, b) => updateNetwork(tx, ctx, id, input(b)),
  remove: deleteNetwork,
};
