import { Type } from '@sinclair/typebox';
import { createSubnet, deleteSubnet, updateSubnet } from '../../model/index.js';
import type { ResourceDef } from '../resource-routes.js';
import { Address, Id, Nullable, StandardAttributes, standardInput, wrapped } from '../schemas.js';
import { subnetView } from '../views.js';

const Pool = Type.Object({ start: Address, end: Address }, { additionalProperties: false });

const createProperties = {
  ...StandardAttributes,
  network_id: Id,
  cidr: Type.String({ maxLength: 64 }),
  ip_version: Type.Optional(Type.Integer()),
  gateway_ip: Type.Optional(Nullable(Address)),
  allocation_pools: Type.Optional(Type.Array(Pool, { maxItems: 64 })),
  enable_dhcp: Type.Optional(Type.Boolean()),
  dns_nameservers: Type.Optional(Type.Array(Address, { maxItems: 0 })),
};

export const subnets: ResourceDef<'subnet'> = {
  kind: 'subnet',
  collection: 'subnets',
  member: 'subnet',
  attributes: [
    'id',
    'name',
    'description',
    'tenant_id',
    'project_id',
    'network_id',
    'ip_version',
    'cidr',
    'gateway_ip',
    'allocation_pools',
    'enable_dhcp',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  view: subnetView,
  createSchema: wrapped('subnet', createProperties, ['network_id', 'cidr']),
  updateSchema: wrapped('subnet', { ...StandardAttributes, enable_dhcp: Type.Optional(Type.Boolean()) }),
  create: (tx, ctx, b) =>
    createSubnet(tx, ctx, {
      ...standardInput(b),
      networkId: b.network_id as string,
      cidr: b.cidr as string,
      ...(b.ip_version !== undefined && { ipVersion: b.ip_version as number }),
      ...(b.gateway_ip !== undefined && { gatewayIp: b.gateway_ip as string | null }),
      ...(b.allocation_pools !== undefined && {
        allocationPools: b.allocation_pools as { start: string; end: string }[],
      }),
    }),
  update: (tx, ctx, id, b) => updateSubnet(tx, ctx, id, standardInput(b)),
  remove: deleteSubnet,
};
