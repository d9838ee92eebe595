import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  addRouterInterface,
  createRouter,
  deleteRouter,
  removeRouterInterface,
  updateRouter,
  visibleTo,
  quotaTx,
} from '../../model/index.js';
import { NullableString, StandardResponse } from '../openapi-schemas.js';
import type { Store } from '../../store/index.js';
import { contextOf } from '../request-context.js';
import type { ResourceDef } from '../resource-routes.js';
import {
  AddressRequest,
  addressRequests,
  Id,
  Nullable,
  StandardAttributes,
  standardInput,
  Text,
  Tags,
  wrapped,
} from '../schemas.js';
import { routerView } from '../views.js';

const Gateway = Type.Object(
  {
    network_id: Id,
    external_fixed_ips: Type.Optional(Type.Array(AddressRequest, { maxItems: 4 })),
    enable_snat: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false },
);

const sfipPlacement = {
  namespace: Type.Optional(
    Nullable(
      Type.String({ maxLength: 255, description: 'sfip: network namespace of the router; null is the host' }),
    ),
  ),
  gateway_device: Type.Optional(
    Nullable(Type.String({ maxLength: 255, description: 'sfip: the device facing the external network' })),
  ),
  backend: Type.Optional(Nullable(Type.String({ maxLength: 32, description: 'sfip: dataplane backend' }))),
  anti_spoofing: Type.Optional(
    Type.Boolean({
      description: 'sfip: drop packets from VMs with a source address they do not own (default true)',
    }),
  ),
  fast_path: Type.Optional(
    Type.Boolean({
      description:
        'sfip: let the backend forward floating-IP packets past the kernel stack where it can (eBPF; default true)',
    }),
  ),
};

const updateProperties = {
  name: Type.Optional(Text),
  description: Type.Optional(Text),
  tags: Type.Optional(Tags),
  external_gateway_info: Type.Optional(Nullable(Gateway)),
  admin_state_up: Type.Optional(Type.Boolean()),
  ...sfipPlacement,
};

const properties = {
  ...StandardAttributes,
  external_gateway_info: Type.Optional(Nullable(Gateway)),
  admin_state_up: Type.Optional(Type.Boolean()),
  ...sfipPlacement,
};

function input(b: Record<string, unknown>) {
  const gw = b.external_gateway_info as
    { network_id: string; external_fixed_ips?: unknown } | null | undefined;
  return {
    ...standardInput(b),
    ...(gw !== undefined && {
      externalGateway: gw && {
        networkId: gw.network_id,
        ...(gw.external_fixed_ips !== undefined && {
          externalFixedIps: addressRequests(gw.external_fixed_ips),
        }),
      },
    }),
    ...(b.admin_state_up !== undefined && { adminStateUp: b.admin_state_up as boolean }),
    ...(b.namespace !== undefined && { namespace: b.namespace as string | null }),
    ...(b.gateway_device !== undefined && { gatewayDevice: b.gateway_device as string | null }),
    ...(b.backend !== undefined && { backend: b.backend as string | null }),
    ...(b.anti_spoofing !== undefined && { antiSpoofing: b.anti_spoofing as boolean }),
    ...(b.fast_path !== undefined && { fastPath: b.fast_path as boolean }),
  };
}

export const routers: ResourceDef<'router'> = {
  kind: 'router',
  collection: 'routers',
  member: 'router',
  attributes: [
    'id',
    'name',
    'description',
    'tags',
    'tenant_id',
    'project_id',
    'status',
    'status_reason',
    'admin_state_up',
    'external_gateway_info',
    'routes',
    'namespace',
    'gateway_device',
    'backend',
    'anti_spoofing',
    'fast_path',
    'node',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  structured: ['tags', 'external_gateway_info', 'routes'],
  booleans: ['admin_state_up', 'anti_spoofing', 'fast_path'],
  readOnly: [
    'id',
    'tenant_id',
    'project_id',
    'status',
    'status_reason',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  readable: visibleTo,
  toObject: routerView,
  // The wire form reads only the router's own document.
  rendering: {},
  responseSchema: Type.Object({
    ...StandardResponse,
    name: Type.String(),
    status: Type.Union([Type.Literal('ACTIVE'), Type.Literal('ERROR')], {
      description: 'ERROR when the agent cannot program the router (see status_reason)',
    }),
    status_reason: Type.String({
      description: 'sfip extension: why the status is ERROR, e.g. a missing namespace or gateway device',
    }),
    admin_state_up: Type.Boolean(),
    external_gateway_info: Type.Union([
      Type.Object({
        network_id: Type.String({ format: 'uuid' }),
        enable_snat: Type.Boolean(),
        external_fixed_ips: Type.Array(Type.Object({ subnet_id: Type.String(), ip_address: Type.String() })),
      }),
      Type.Null(),
    ]),
    routes: Type.Array(Type.Object({})),
    namespace: NullableString,
    gateway_device: NullableString,
    backend: NullableString,
    anti_spoofing: Type.Boolean(),
    fast_path: Type.Boolean(),
  }),
  createSchema: wrapped('router', properties),
  updateSchema: wrapped('router', updateProperties),
  create: (tx, ctx, b) => createRouter(tx, ctx, input(b)),
  update: (tx, ctx, id, b) => updateRouter(tx, ctx, id, input(b)),
  remove: deleteRouter,
};

const InterfaceBody = Type.Object(
  { subnet_id: Type.Optional(Id), port_id: Type.Optional(Id) },
  { additionalProperties: false },
);

/** PUT /v2.0/routers/{id}/add_router_interface and remove_router_interface, with Neutron's response shape. */
export function registerRouterInterfaces(app: FastifyInstance, store: Store): void {
  for (const action of ['add_router_interface', 'remove_router_interface'] as const) {
    app.put<{ Params: { id: string }; Body: { subnet_id?: string; port_id?: string } }>(
      `/v2.0/routers/:id/${action}`,
      {
        schema: {
          tags: ['resources'],
          summary: action === 'add_router_interface' ? 'Attach a subnet or port' : 'Detach a subnet or port',
          body: InterfaceBody,
        },
      },
      async (request) => {
        const ctx = contextOf(request);
        const body = {
          ...(request.body.subnet_id !== undefined && { subnetId: request.body.subnet_id }),
          ...(request.body.port_id !== undefined && { portId: request.body.port_id }),
        };
        const info = await store.update((tx) =>
          action === 'add_router_interface'
            ? addRouterInterface(quotaTx(tx, ctx), ctx, request.params.id, body)
            : removeRouterInterface(tx, ctx, request.params.id, body),
        );
        return {
          id: info.routerId,
          tenant_id: info.projectId,
          project_id: info.projectId,
          port_id: info.portId,
          subnet_id: info.subnetId,
          subnet_ids: [info.subnetId],
          network_id: info.networkId,
        };
      },
    );
  }
}
