import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  createQosRule,
  deleteQosRule,
  findQosRule,
  QOS_RULE_SPECS,
  qosPolicyReadable,
  updateQosRule,
  type QosRuleInput,
  type QosRuleSpec,
  type QosRuleType,
} from '../../model/index.js';
import type { Store } from '../../store/index.js';
import type { RawQuery } from '../list-query.js';
import { collectionResponse, memberResponse } from '../openapi-schemas.js';
import { getReadable } from '../resource-routes.js';
import { contextOf } from '../request-context.js';
import { subResourceQuery } from '../sub-resource-query.js';
import { wrapped } from '../schemas.js';
import { qosRuleView } from '../views.js';

/**
 * The rule sub-resources of a QoS policy: /v2.0/qos/policies/{id}/bandwidth_limit_rules (Neutron's qos and
 * qos-bw-limit-direction) and .../packet_rate_limit_rules (qos-pps). Both share one shape: a rate, a burst and
 * a direction; only the field names differ.
 */

/** Neutron's convert_to_int takes numbers and digit strings; the model checks the range and names the value. */
const Integer = Type.Union([Type.Integer(), Type.String({ pattern: '^-?[0-9]{1,16}$' })]);

const toNumber = (value: unknown): number | undefined => (value === undefined ? undefined : Number(value));

const RULE_COLLECTIONS: readonly QosRuleType[] = ['bandwidth_limit', 'packet_rate_limit'];

/** The minimal policy shape these routes read, for the shared getReadable check. */
const policySource = {
  kind: 'qospolicy' as const,
  readable: qosPolicyReadable,
  toObject: () => ({}),
};

type Body = Record<string, Record<string, unknown>>;

function registerRuleType(app: FastifyInstance, store: Store, spec: QosRuleSpec): void {
  const member = `${spec.type}_rule`;
  const collection = `${spec.type}_rules`;
  const base = `/v2.0/qos/policies/:id/${collection}`;
  const attributes = ['id', spec.maxField, spec.burstField, 'direction'];
  const properties = {
    [spec.maxField]: Type.Optional(Integer),
    [spec.burstField]: Type.Optional(Integer),
    direction: Type.Optional(Type.String({ maxLength: 40 })),
  };
  const responseSchema = Type.Object({
    id: Type.String({ format: 'uuid' }),
    [spec.maxField]: Type.Integer(),
    [spec.burstField]: Type.Integer(),
    direction: Type.String(),
  });
  const def = { collection, member, responseSchema };
  const tags = ['qos'];
  const inputOf = (body: Record<string, unknown>): QosRuleInput => {
    const max = toNumber(body[spec.maxField]);
    const maxBurst = toNumber(body[spec.burstField]);
    return {
      ...(max !== undefined && { max }),
      ...(maxBurst !== undefined && { maxBurst }),
      ...(body.direction !== undefined && { direction: body.direction as string }),
    };
  };

  app.get<{ Params: { id: string } }>(
    base,
    { schema: { tags, summary: `List ${collection} of a QoS policy`, response: collectionResponse(def) } },
    async (request) => {
      const ctx = contextOf(request);
      const { match, project } = subResourceQuery(request.query as RawQuery, attributes, collection);
      const policy = await store.read((view) => getReadable(view, ctx, policySource, request.params.id));
      return {
        [collection]: policy.rules
          .filter((r) => r.type === spec.type)
          .map(qosRuleView)
          .filter(match)
          .map(project),
      };
    },
  );
  app.get<{ Params: { id: string; rule: string } }>(
    `${base}/:rule`,
    { schema: { tags, summary: `Show a ${member}`, response: memberResponse(def) } },
    async (request) => {
      const ctx = contextOf(request);
      const { project } = subResourceQuery(
        { fields: (request.query as RawQuery).fields ?? [] },
        attributes,
        collection,
      );
      const policy = await store.read((view) => getReadable(view, ctx, policySource, request.params.id));
      return { [member]: project(qosRuleView(findQosRule(policy, spec.type, request.params.rule))) };
    },
  );
  app.post<{ Params: { id: string }; Body: Body }>(
    base,
    {
      schema: {
        tags,
        summary: `Create a ${member}`,
        body: wrapped(member, properties, [spec.maxField]),
        response: memberResponse(def, 201),
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      const created = await store.update((tx) =>
        createQosRule(tx, ctx, request.params.id, spec.type, inputOf(request.body[member]!)),
      );
      return reply.status(201).send({ [member]: qosRuleView(created) });
    },
  );
  app.put<{ Params: { id: string; rule: string }; Body: Body }>(
    `${base}/:rule`,
    {
      schema: {
        tags,
        summary: `Update a ${member}`,
        body: wrapped(member, properties),
        response: memberResponse(def),
      },
    },
    async (request) => {
      const ctx = contextOf(request);
      const updated = await store.update((tx) =>
        updateQosRule(
          tx,
          ctx,
          request.params.id,
          spec.type,
          request.params.rule,
          inputOf(request.body[member]!),
        ),
      );
      return { [member]: qosRuleView(updated) };
    },
  );
  app.delete<{ Params: { id: string; rule: string } }>(
    `${base}/:rule`,
    { schema: { tags, summary: `Delete a ${member}` } },
    async (request, reply) => {
      const ctx = contextOf(request);
      await store.update((tx) => deleteQosRule(tx, ctx, request.params.id, spec.type, request.params.rule));
      return reply.status(204).send();
    },
  );
}

export function registerQosRules(app: FastifyInstance, store: Store): void {
  for (const type of RULE_COLLECTIONS) registerRuleType(app, store, QOS_RULE_SPECS[type]);
}
