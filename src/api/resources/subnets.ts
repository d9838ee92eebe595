import { Type } from '@sinclair/typebox';
import {
  createSubnet,
  deleteSubnet,
  subnetsOfNetworkKey,
  updateSubnet,
  visibleTo,
} from '../../model/index.js';
import { NullableString, StandardResponse } from '../openapi-schemas.js';
import type { ResourceDef } from '../resource-routes.js';
import { Address, Id, Nullable, StandardAttributes, standardInput, Text, Tags, wrapped } from '../schemas.js';
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

const updateProperties = {
  name: Type.Optional(Text),
  description: Type.Optional(Text),
  tags: Type.Optional(Tags),
  enable_dhcp: Type.Optional(Type.Boolean()),
};

export const subnets: ResourceDef<'subnet'> = {
  kind: 'subnet',
  collection: 'subnets',
  member: 'subnet',
  attributes: [
    'id',
    'name',
    'description',
    'tags',
    'tenant_id',
    'project_id',
    'network_id',
    'ip_version',
    'cidr',
    'gateway_ip',
    'allocation_pools',
    'enable_dhcp',
    'dns_nameservers',
    'host_routes',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  structured: ['tags', 'allocation_pools', 'dns_nameservers', 'host_routes'],
  booleans: ['enable_dhcp'],
  readOnly: [
    'id',
    'tenant_id',
    'project_id',
    'network_id',
    'ip_version',
    'cidr',
    'gateway_ip',
    'allocation_pools',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  indexedFilters: { network_id: subnetsOfNetworkKey },
  readable: visibleTo,
  toObject: subnetView,
  // The wire form reads only the subnet's own document.
  rendering: {},
  responseSchema: Type.Object({
    ...StandardResponse,
    name: Type.String(),
    network_id: Type.String({ format: 'uuid' }),
    ip_version: Type.Literal(4),
    cidr: Type.String(),
    gateway_ip: NullableString,
    allocation_pools: Type.Array(Type.Object({ start: Type.String(), end: Type.String() })),
    enable_dhcp: Type.Boolean(),
    dns_nameservers: Type.Array(Type.String()),
    host_routes: Type.Array(Type.Object({})),
  }),
  createSchema: wrapped('subnet', createProperties, ['network_id', 'cidr']),
  updateSchema: wrapped('subnet', updateProperties),
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
