import { Type } from '@sinclair/typebox';
import { createQosPolicy, deleteQosPolicy, qosPolicyReadable, updateQosPolicy } from '../../model/index.js';
import { StandardResponse } from '../openapi-schemas.js';
import type { ResourceDef } from '../resource-routes.js';
import { StandardAttributes, standardInput, Tags, Text, wrapped } from '../schemas.js';
import { qosPolicyView } from '../views.js';

/** Neutron's qos extension: /v2.0/qos/policies. Rules are sub-resources (qos-rules.ts), shown in `rules`. */

const createProperties = {
  ...StandardAttributes,
  shared: Type.Optional(Type.Boolean()),
};

const updateProperties = {
  name: Type.Optional(Text),
  description: Type.Optional(Text),
  tags: Type.Optional(Tags),
  shared: Type.Optional(Type.Boolean()),
};

const input = (b: Record<string, unknown>) => ({
  ...standardInput(b),
  ...(b.shared !== undefined && { shared: b.shared as boolean }),
});

const RuleResponse = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.String({ description: 'bandwidth_limit or packet_rate_limit' }),
  qos_policy_id: Type.String({ format: 'uuid' }),
  direction: Type.String(),
  max_kbps: Type.Optional(Type.Integer()),
  max_burst_kbps: Type.Optional(Type.Integer()),
  max_kpps: Type.Optional(Type.Integer()),
  max_burst_kpps: Type.Optional(Type.Integer()),
});

export const qosPolicies: ResourceDef<'qospolicy'> = {
  kind: 'qospolicy',
  path: 'qos/policies',
  collection: 'policies',
  member: 'policy',
  attributes: [
    'id',
    'name',
    'description',
    'tags',
    'tenant_id',
    'project_id',
    'shared',
    'rules',
    'revision_number',
    'created_at',
    'updated_at',
  ],
  structured: ['tags', 'rules'],
  booleans: ['shared'],
  readOnly: ['id', 'tenant_id', 'project_id', 'rules', 'revision_number', 'created_at', 'updated_at'],
  readable: qosPolicyReadable,
  // Shared policies of other projects are listed too, as in Neutron.
  sharedReads: true,
  toObject: qosPolicyView,
  responseSchema: Type.Object({
    ...StandardResponse,
    name: Type.String(),
    shared: Type.Boolean(),
    rules: Type.Array(RuleResponse),
  }),
  createSchema: wrapped('policy', createProperties),
  updateSchema: wrapped('policy', updateProperties),
  create: (tx, ctx, b) => createQosPolicy(tx, ctx, input(b)),
  update: (tx, ctx, id, b) => updateQosPolicy(tx, ctx, id, input(b)),
  remove: deleteQosPolicy,
};
