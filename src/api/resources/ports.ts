import { Type } from '@sinclair/typebox';
import { createPort, deletePort, updatePort } from '../../model/index.js';
import type { ResourceDef } from '../resource-routes.js';
import {
  AddressRequest,
  addressRequests,
  Id,
  StandardAttributes,
  standardInput,
  Text,
  wrapped,
} from '../schemas.js';
import { portView } from '../views.js';

const properties = {
  ...StandardAttributes,
  network_id: Id,
  fixed_ips: Type.Optional(Type.Array(AddressRequest, { maxItems: 16 })),
  device_id: Type.Optional(Text),
  device_owner: Type.Optional(Text),
  mac_address: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' })),
  admin_state_up: Type.Optional(Type.Boolean()),
};

const { network_id: _networkId, mac_address: _mac, ...updatable } = properties;

export const ports: ResourceDef<'port'> = {
  kind: 'port',
  collection: 'ports',
  member: 'port',
  attributes: [
    'id',
    'name',
    'description',
    'tenant_id',
    'project_id',
    'network_id',
    'mac_address',
    'admin_state_up',
    'status',
    'device_id',
    'device_owner',
    'fixed_ips',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  view: portView,
  createSchema: wrapped('port', properties, ['network_id']),
  updateSchema: wrapped('port', updatable),
  create: (tx, ctx, b) =>
    createPort(tx, ctx, {
      ...standardInput(b),
      networkId: b.network_id as string,
      ...(b.fixed_ips !== undefined && { fixedIps: addressRequests(b.fixed_ips) }),
      ...(b.device_id !== undefined && { deviceId: b.device_id as string }),
      ...(b.device_owner !== undefined && { deviceOwner: b.device_owner as string }),
      ...(b.mac_address !== undefined && { macAddress: (b.mac_address as string).toLowerCase() }),
      ...(b.admin_state_up !== undefined && { adminStateUp: b.admin_state_up as boolean }),
    }),
  update: (tx, ctx, id, b) =>
    updatePort(tx, ctx, id, {
      ...standardInput(b),
      ...(b.fixed_ips !== undefined && { fixedIps: addressRequests(b.fixed_ips) }),
      ...(b.device_id !== undefined && { deviceId: b.device_id as string }),
      ...(b.admin_state_up !== undefined && { adminStateUp: b.admin_state_up as boolean }),
    }),
  remove: deletePort,
};
