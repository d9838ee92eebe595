import { Type } from '@sinclair/typebox';
import {
  createFloatingIp,
  deleteFloatingIp,
  fipOfPortKey,
  fipOfRouterKey,
  fipsOfNetworkKey,
  fipsOfQosPolicyKey,
  updateFloatingIp,
  visibleTo,
} from '../../model/index.js';
import { NullableString, StandardResponse } from '../openapi-schemas.js';
import type { ResourceDef } from '../resource-routes.js';
import { Address, Id, Nullable, StandardAttributes, standardInput, Text, Tags, wrapped } from '../schemas.js';
import { floatingIpView } from '../views.js';

const { name: _name, ...standard } = StandardAttributes;

const createProperties = {
  ...standard,
  floating_network_id: Id,
  floating_ip_address: Type.Optional(Address),
  subnet_id: Type.Optional(Id),
  port_id: Type.Optional(Nullable(Id)),
  fixed_ip_address: Type.Optional(Nullable(Address)),
  qos_policy_id: Type.Optional(Nullable(Id)),
};

const updateProperties = {
  description: Type.Optional(Text),
  tags: Type.Optional(Tags),
  port_id: Type.Optional(Nullable(Id)),
  fixed_ip_address: Type.Optional(Nullable(Address)),
  qos_policy_id: Type.Optional(Nullable(Id)),
};

const responseSchema = Type.Object({
  ...StandardResponse,
  floating_network_id: Type.String({ format: 'uuid' }),
  floating_ip_address: Type.String({ description: 'IPv4' }),
  router_id: NullableString,
  port_id: NullableString,
  fixed_ip_address: NullableString,
  status: Type.Union([Type.Literal('ACTIVE'), Type.Literal('DOWN'), Type.Literal('ERROR')], {
    description: 'DOWN until the agent has programmed the dataplane, then ACTIVE; ERROR with status_reason',
  }),
  status_reason: Type.String({ description: 'sfip extension: why the status is ERROR or DOWN' }),
  port_details: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
  qos_policy_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], {
    description: "Neutron's qos-fip: the QoS policy of this floating IP (stored; see docs/qos.md)",
  }),
  port_forwardings: Type.Array(Type.Object({})),
});

export const floatingIps: ResourceDef<'floatingip'> = {
  kind: 'floatingip',
  collection: 'floatingips',
  member: 'floatingip',
  attributes: [
    'id',
    'description',
    'tags',
    'tenant_id',
    'project_id',
    'floating_network_id',
    'floating_ip_address',
    'router_id',
    'port_id',
    'fixed_ip_address',
    'status',
    'status_reason',
    'port_details',
    'qos_policy_id',
    'port_forwardings',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  structured: ['tags', 'port_details', 'port_forwardings'],
  readOnly: [
    'id',
    'tenant_id',
    'project_id',
    'floating_network_id',
    'floating_ip_address',
    'subnet_id',
    'router_id',
    'status',
    'status_reason',
    'port_details',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  indexedFilters: {
    port_id: fipOfPortKey,
    router_id: fipOfRouterKey,
    floating_network_id: fipsOfNetworkKey,
    qos_policy_id: fipsOfQosPolicyKey,
  },
  readable: visibleTo,
  toObject: floatingIpView,
  // The wire form reads the floating IP's document and its port's (port_details).
  rendering: { dependency: (f) => (f.portId === null ? undefined : { kind: 'port', id: f.portId }) },
  responseSchema,
  createSchema: wrapped('floatingip', createProperties, ['floating_network_id']),
  updateSchema: wrapped('floatingip', updateProperties),
  create: (tx, ctx, b) =>
    createFloatingIp(tx, ctx, {
      ...standardInput(b),
      floatingNetworkId: b.floating_network_id as string,
      ...(b.floating_ip_address !== undefined && { floatingIpAddress: b.floating_ip_address as string }),
      ...(b.subnet_id !== undefined && { subnetId: b.subnet_id as string }),
      ...(b.port_id !== undefined && { portId: b.port_id as string | null }),
      ...(b.fixed_ip_address !== undefined && { fixedIpAddress: b.fixed_ip_address as string | null }),
      ...(b.qos_policy_id !== undefined && { qosPolicyId: b.qos_policy_id as string | null }),
    }),
  update: (tx, ctx, id, b) =>
    updateFloatingIp(tx, ctx, id, {
      ...(b.port_id !== undefined && { portId: b.port_id as string | null }),
      ...(b.fixed_ip_address !== undefined && { fixedIpAddress: b.fixed_ip_address as string | null }),
      ...(b.qos_policy_id !== undefined && { qosPolicyId: b.qos_policy_id as string | null }),
      ...(b.description !== undefined && { description: b.description as string }),
      ...(b.tags !== undefined && { tags: b.tags as string[] }),
    }),
  remove: (tx, ctx, id) => void deleteFloatingIp(tx, ctx, id),
};
