import { Type } from '@sinclair/typebox';
import { createNetwork, deleteNetwork, updateNetwork } from '../../model/index.js';
import type { ResourceDef } from '../resource-routes.js';
import { StandardAttributes, standardInput, wrapped } from '../schemas.js';
import { networkView } from '../views.js';

const properties = {
  ...StandardAttributes,
  'router:external': Type.Optional(Type.Boolean()),
  admin_state_up: Type.Optional(Type.Boolean()),
  shared: Type.Optional(Type.Literal(false)),
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
  view: networkView,
  createSchema: wrapped('network', properties),
  updateSchema: wrapped('network', properties),
  create: (tx, ctx, b) => createNetwork(tx, ctx, input(b)),
  update: (tx, ctx, id, b) => updateNetwork(tx, ctx, id, input(b)),
  remove: deleteNetwork,
};
