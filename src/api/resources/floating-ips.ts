import { Type } from '@sinclair/typebox';
import { createFloatingIp, deleteFloatingIp, updateFloatingIp } from '../../model/index.js';
import type { ResourceDef } from '../resource-routes.js';
import { Address, Id, Nullable, StandardAttributes, standardInput, wrapped } from '../schemas.js';
import { floatingIpView } from '../views.js';

const { name: _name, ...standard } = StandardAttributes;

const createProperties = {
  ...standard,
  floating_network_id: Id,
  floating_ip_address: Type.Optional(Address),
  subnet_id: Type.Optional(Id),
  port_id: Type.Optional(Nullable(Id)),
  fixed_ip_address: Type.Optional(Nullable(Address)),
};

const updateProperties = {
  description: standard.description,
  tags: standard.tags,
  port_id: Type.Optional(Nullable(Id)),
  fixed_ip_address: Type.Optional(Nullable(Address)),
};

export const floatingIps: ResourceDef<'floatingip'> = {
  kind: 'floatingip',
  collection: 'floatingips',
  member: 'floatingip',
  attributes: [
    'id',
    'description',
    'tenant_id',
    'project_id',
    'floating_network_id',
    'floating_ip_address',
    'router_id',
    'port_id',
    'fixed_ip_address',
    'status',
    'status_reason',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  view: floatingIpView,
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
    }),
  update: (tx, ctx, id, b) =>
    updateFloatingIp(tx, ctx, id, {
      ...(b.port_id !== undefined && { portId: b.port_id as string | null }),
      ...(b.fixed_ip_address !== undefined && { fixedIpAddress: b.fixed_ip_address as string | null }),
      ...(b.description !== undefined && { description: b.description as string }),
      ...(b.tags !== undefined && { tags: b.tags as string[] }),
    }),
  remove: (tx, ctx, id) => void deleteFloatingIp(tx, ctx, id),
};
