import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  createPortForwarding,
  deletePortForwarding,
  findPortForwarding,
  getVisible,
  portForwardingsOf,
  rangeText,
  updatePortForwarding,
  type PortForwarding,
  type PortForwardingInput,
} from '../../model/index.js';
import type { Store } from '../../store/index.js';
import type { RawQuery } from '../list-query.js';
import { collectionResponse, memberResponse } from '../openapi-schemas.js';
import { contextOf } from '../request-context.js';
import { subResourceQuery } from '../sub-resource-query.js';
import { Address, Id, Nullable, Text, wrapped } from '../schemas.js';

/** Neutron's floating-ip-port-forwarding sub-resource of a floating IP: /v2.0/floatingips/{id}/port_forwardings. */

/** Clients send ports as numbers; some send the digits as a string, which Neutron's converter accepts too. */
const PortNumber = Type.Union([Type.Integer(), Type.String({ pattern: '^[0-9]{1,5}$' })]);
const PortRange = Type.String({ maxLength: 11, description: 'a port or a range a:b' });

const properties = {
  internal_port_id: Type.Optional(Id),
  internal_ip_address: Type.Optional(Address),
  protocol: Type.Optional(Type.String({ maxLength: 40 })),
  internal_port: Type.Optional(Nullable(PortNumber)),
  external_port: Type.Optional(Nullable(PortNumber)),
  internal_port_range: Type.Optional(Nullable(PortRange)),
  external_port_range: Type.Optional(Nullable(PortRange)),
  description: Type.Optional(Text),
};

const responseSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  internal_port_id: Type.String({ format: 'uuid' }),
  internal_ip_address: Type.String(),
  protocol: Type.String(),
  internal_port: Type.Union([Type.Integer(), Type.Null()]),
  external_port: Type.Union([Type.Integer(), Type.Null()]),
  internal_port_range: Type.String(),
  external_port_range: Type.String(),
  description: Type.String(),
});

const ATTRIBUTES = [
  'id',
  'internal_port_id',
  'internal_ip_address',
  'protocol',
  'internal_port',
  'external_port',
  'internal_port_range',
  'external_port_range',
  'description',
] as const;

const def = { collection: 'port_forwardings', member: 'port_forwarding', responseSchema };

/** Neutron shows a single port as `external_port` and every forwarding as a range `a:b`. */
export function portForwardingView(pf: PortForwarding): Record<string, unknown> {
  return {
    id: pf.id,
    internal_port_id: pf.internalPortId,
    internal_ip_address: pf.internalIpAddress,
    protocol: pf.protocol,
    internal_port: pf.internalPortStart === pf.internalPortEnd ? pf.internalPortStart : null,
    external_port: pf.externalPortStart === pf.externalPortEnd ? pf.externalPortStart : null,
    internal_port_range: rangeText(pf.internalPortStart, pf.internalPortEnd),
    external_port_range: rangeText(pf.externalPortStart, pf.externalPortEnd),
    description: pf.description,
  };
}

const portOf = (value: unknown): number | null | undefined =>
  value === undefined ? undefined : value === null ? null : Number(value);

function inputOf(body: Record<string, unknown>): PortForwardingInput {
  const port = (key: string) => portOf(body[key]);
  const text = (key: string) => body[key] as string | undefined;
  const internalPort = port('internal_port');
  const externalPort = port('external_port');
  return {
    ...(text('internal_port_id') !== undefined && { internalPortId: text('internal_port_id')! }),
    ...(text('internal_ip_address') !== undefined && { internalIpAddress: text('internal_ip_address')! }),
    // Neutron's converter lower-cases the protocol (the openstack CLI documents TCP and UDP).
    ...(text('protocol') !== undefined && { protocol: text('protocol')!.toLowerCase() }),
    ...(internalPort !== undefined && { internalPort }),
    ...(externalPort !== undefined && { externalPort }),
    ...(body.internal_port_range !== undefined && {
      internalPortRange: body.internal_port_range as string | null,
    }),
    ...(body.external_port_range !== undefined && {
      externalPortRange: body.external_port_range as string | null,
    }),
    ...(text('description') !== undefined && { description: text('description')! }),
  };
}

type Body = Record<string, Record<string, unknown>>;

export function registerPortForwardings(app: FastifyInstance, store: Store): void {
  const base = '/v2.0/floatingips/:id/port_forwardings';
  const tags = ['port forwardings'];
  app.get<{ Params: { id: string } }>(
    base,
    {
      schema: { tags, summary: 'List port forwardings of a floating IP', response: collectionResponse(def) },
    },
    async (request) => {
      const ctx = contextOf(request);
      const { match, project } = subResourceQuery(request.query as RawQuery, ATTRIBUTES, def.collection);
      const fip = await store.read((view) => getVisible(view, ctx, 'floatingip', request.params.id));
      return {
        port_forwardings: portForwardingsOf(fip).map(portForwardingView).filter(match).map(project),
      };
    },
  );
  app.get<{ Params: { id: string; pf: string } }>(
    `${base}/:pf`,
    { schema: { tags, summary: 'Show a port forwarding', response: memberResponse(def) } },
    async (request) => {
      const ctx = contextOf(request);
      const { project } = subResourceQuery(
        { fields: (request.query as RawQuery).fields ?? [] },
        ATTRIBUTES,
        def.collection,
      );
      const fip = await store.read((view) => getVisible(view, ctx, 'floatingip', request.params.id));
      return {
        port_forwarding: project(portForwardingView(findPortForwarding(fip, request.params.pf))),
      };
    },
  );
  app.post<{ Params: { id: string }; Body: Body }>(
    base,
    {
      schema: {
        tags,
        summary: 'Create a port forwarding',
        body: wrapped('port_forwarding', properties, ['internal_port_id', 'internal_ip_address', 'protocol']),
        response: memberResponse(def, 201),
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      const created = await store.update((tx) =>
        createPortForwarding(tx, ctx, request.params.id, inputOf(request.body.port_forwarding!)),
      );
      return reply.status(201).send({ port_forwarding: portForwardingView(created) });
    },
  );
  app.put<{ Params: { id: string; pf: string }; Body: Body }>(
    `${base}/:pf`,
    {
      schema: {
        tags,
        summary: 'Update a port forwarding',
        body: wrapped('port_forwarding', properties),
        response: memberResponse(def),
      },
    },
    async (request) => {
      const ctx = contextOf(request);
      const updated = await store.update((tx) =>
        updatePortForwarding(
          tx,
          ctx,
          request.params.id,
          request.params.pf,
          inputOf(request.body.port_forwarding!),
        ),
      );
      return { port_forwarding: portForwardingView(updated) };
    },
  );
  app.delete<{ Params: { id: string; pf: string } }>(
    `${base}/:pf`,
    { schema: { tags, summary: 'Delete a port forwarding' } },
    async (request, reply) => {
      const ctx = contextOf(request);
      await store.update((tx) => deletePortForwarding(tx, ctx, request.params.id, request.params.pf));
      return reply.status(204).send();
    },
  );
}
