import { Type } from '@sinclair/typebox';
import {
  createPort,
  deletePort,
  portsOfDeviceKey,
  portsOfNetworkKey,
  updatePort,
  visibleTo,
} from '../../model/index.js';
import { StandardResponse } from '../openapi-schemas.js';
import type { ResourceDef } from '../resource-routes.js';
import {
  AddressRequest,
  addressRequests,
  Id,
  StandardAttributes,
  standardInput,
  Text,
  Tags,
  wrapped,
} from '../schemas.js';
import { portView } from '../views.js';

const createProperties = {
  ...StandardAttributes,
  network_id: Id,
  fixed_ips: Type.Optional(Type.Array(AddressRequest, { maxItems: 16 })),
  device_id: Type.Optional(Text),
  device_owner: Type.Optional(Text),
  mac_address: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' })),
  admin_state_up: Type.Optional(Type.Boolean()),
};

const updateProperties = {
  name: Type.Optional(Text),
  description: Type.Optional(Text),
  tags: Type.Optional(Tags),
  fixed_ips: Type.Optional(Type.Array(AddressRequest, { maxItems: 16 })),
  device_id: Type.Optional(Text),
  device_owner: Type.Optional(Text),
  admin_state_up: Type.Optional(Type.Boolean()),
};

export const ports: ResourceDef<'port'> = {
  kind: 'port',
  collection: 'ports',
  member: 'port',
  attributes: [
    'id',
    'name',
    'description',
    'tags',
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
  structured: ['tags', 'fixed_ips'],
  booleans: ['admin_state_up'],
  readOnly: [
    'id',
    'tenant_id',
    'project_id',
    'network_id',
    'mac_address',
    'status',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  indexedFilters: { network_id: portsOfNetworkKey, device_id: portsOfDeviceKey },
  readable: visibleTo,
  toObject: portView,
  // The wire form reads only the port's own document.
  rendering: {},
  responseSchema: Type.Object({
    ...StandardResponse,
    name: Type.String(),
    network_id: Type.String({ format: 'uuid' }),
    mac_address: Type.String(),
    admin_state_up: Type.Boolean(),
    status: Type.String(),
    device_id: Type.String(),
    device_owner: Type.String(),
    fixed_ips: Type.Array(Type.Object({ subnet_id: Type.String(), ip_address: Type.String() })),
  }),
  createSchema: wrapped('port', createProperties, ['network_id']),
  updateSchema: wrapped('port', updateProperties),
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
      ...(b.device_owner !== undefined && { deviceOwner: b.device_owner as string }),
      ...(b.admin_state_up !== undefined && { adminStateUp: b.admin_state_up as boolean }),
    }),
  remove: deletePort,
};
