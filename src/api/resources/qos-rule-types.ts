import type { FastifyInstance } from 'fastify';
import { QOS_DIRECTIONS, QOS_RULE_SPECS, SfipError, type QosRuleSpec } from '../../model/index.js';

/**
 * Neutron's rule-type listing (qos) and its details (qos-rule-type-details): which rule types the API takes and,
 * per dataplane driver, which parameters it honours. The nftables, eBPF and tc backends enforce limits (tc where
 * the kernel has act_police); iptables refuses a floating IP with limits (docs/qos.md), so it is not listed.
 */
const DRIVERS = ['nftables', 'ebpf', 'tc'] as const;

function details(spec: QosRuleSpec) {
  const parameters = supportedParameters(spec);
  return {
    type: spec.type,
    drivers: DRIVERS.map((name) => ({ name, supported_parameters: parameters })),
    // sfip's own addition: the bounds the API checks, in the shape Neutron gives each driver's parameters.
    supported_parameters: parameters,
  };
}

function supportedParameters(spec: QosRuleSpec) {
  return [
    {
      parameter_name: spec.maxField,
      parameter_type: 'range',
      parameter_values: { start: 1, end: spec.maxRate },
    },
    {
      parameter_name: spec.burstField,
      parameter_type: 'range',
      parameter_values: { start: 0, end: spec.maxRate },
    },
    { parameter_name: 'direction', parameter_type: 'choices', parameter_values: [...QOS_DIRECTIONS] },
  ];
}

export function registerQosRuleTypes(app: FastifyInstance): void {
  const tags = ['qos'];
  app.get('/v2.0/qos/rule-types', { schema: { tags, summary: 'QoS rule types' } }, async () => ({
    rule_types: Object.values(QOS_RULE_SPECS).map((spec) => ({ type: spec.type })),
  }));
  app.get<{ Params: { type: string } }>(
    '/v2.0/qos/rule-types/:type',
    { schema: { tags, summary: 'One QoS rule type, with its parameters' } },
    async (request) => {
      const spec = Object.values(QOS_RULE_SPECS).find((s) => s.type === request.params.type);
      if (!spec) {
        throw new SfipError(
          'QosRuleTypeNotFound',
          404,
          `QoS rule type ${request.params.type.slice(0, 60)} is not supported: sfip takes ${Object.keys(QOS_RULE_SPECS).join(', ')}.`,
        );
      }
      return { rule_type: details(spec) };
    },
  );
}
