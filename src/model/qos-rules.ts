import type { QosDirection, QosPolicy, QosRule, QosRuleType } from './entities.js';
import { badRequest, conflict, notFound, type SfipError } from './errors.js';
import { ownedQosPolicy } from './qos-policies.js';
import { revise } from './resource.js';
import type { Context, Tx } from './tx.js';

/** A rule body after the API has checked types: numbers, or absent when not given. */
export interface QosRuleInput {
  readonly max?: number;
  readonly maxBurst?: number;
  readonly direction?: string;
}

export const QOS_DIRECTIONS: readonly QosDirection[] = ['ingress', 'egress'];

/** How one rule type is named and bounded on the wire (Neutron's qos and qos-pps api-defs). */
export interface QosRuleSpec {
  readonly type: QosRuleType;
  readonly maxField: string;
  readonly burstField: string;
  /** The largest rate sfip accepts: Neutron allows up to 2^31-1; sfip refuses rates no uplink carries. */
  readonly maxRate: number;
  /** The smallest non-zero burst a backend can honour: one 1500-byte packet (12 kbit), or 1 for packet rates. */
  readonly minBurst: number;
  readonly unit: string;
}

/** One 1500-byte packet, in kbit: a smaller byte budget could never let a full-size packet through. */
const MTU_KBIT = 12;

export const QOS_RULE_SPECS: Readonly<Record<QosRuleType, QosRuleSpec>> = {
  bandwidth_limit: {
    type: 'bandwidth_limit',
    maxField: 'max_kbps',
    burstField: 'max_burst_kbps',
    maxRate: 100_000_000, // 100 Gbit/s
    minBurst: MTU_KBIT,
    unit: 'kbit/s',
  },
  packet_rate_limit: {
    type: 'packet_rate_limit',
    maxField: 'max_kpps',
    burstField: 'max_burst_kpps',
    maxRate: 100_000, // 100 Mpps
    minBurst: 1,
    unit: 'kpps',
  },
};

function checkRate(spec: QosRuleSpec, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > spec.maxRate) {
    throw badRequest(
      `Invalid input for ${spec.maxField}: ${value} is not an integer in 1-${spec.maxRate} (${spec.unit}).`,
    );
  }
  return value;
}

/** 0 means "the backend's default burst", as in Neutron; otherwise at least one full-size packet. */
function checkBurst(spec: QosRuleSpec, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > spec.maxRate) {
    throw badRequest(
      `Invalid input for ${spec.burstField}: ${value} is not an integer in 0-${spec.maxRate}.`,
    );
  }
  if (value !== 0 && value < spec.minBurst) {
    throw badRequest(
      `Invalid input for ${spec.burstField}: ${value} kbit is less than one 1500-byte packet (${MTU_KBIT} kbit); no backend could let a full-size packet through. Use 0 for the default burst.`,
    );
  }
  return value;
}

function checkDirection(direction: string): QosDirection {
  if (!(QOS_DIRECTIONS as readonly string[]).includes(direction)) {
    throw badRequest(
      `Invalid input for direction: '${direction.slice(0, 40)}' is not one of ${QOS_DIRECTIONS.join(', ')}.`,
    );
  }
  return direction as QosDirection;
}

export function qosRuleNotFound(policyId: string, ruleId: string): SfipError {
  return notFound('QosRuleNotFound', `QoS rule ${ruleId} for policy ${policyId} could not be found.`);
}

/** A rule of one type in a policy; a rule of another type under this type's URL is not found, as in Neutron. */
export function findQosRule(policy: QosPolicy, type: QosRuleType, ruleId: string): QosRule {
  const found = policy.rules.find((r) => r.id === ruleId && r.type === type);
  if (!found) throw qosRuleNotFound(policy.id, ruleId);
  return found;
}

function buildRule(spec: QosRuleSpec, id: string, input: QosRuleInput, current?: QosRule): QosRule {
  const max = input.max ?? current?.max;
  if (max === undefined) throw badRequest(`${spec.maxField} is required.`);
  return {
    id,
    type: spec.type,
    max: checkRate(spec, max),
    maxBurst: checkBurst(spec, input.maxBurst ?? current?.maxBurst ?? 0),
    direction: checkDirection(input.direction ?? current?.direction ?? 'egress'),
  };
}

/** One rule per type and direction: two limits on the same traffic would leave the effective one unclear. */
function checkConflict(policy: QosPolicy, rule: QosRule): void {
  const other = policy.rules.find(
    (r) => r.id !== rule.id && r.type === rule.type && r.direction === rule.direction,
  );
  if (other) {
    throw conflict(
      'QoSRulesConflict',
      `Rule ${rule.type} conflicts with rule ${other.id} which already exists in QoS Policy ${policy.id}: both limit ${rule.direction} traffic.`,
    );
  }
}

export function createQosRule(
  tx: Tx,
  ctx: Context,
  policyId: string,
  type: QosRuleType,
  input: QosRuleInput,
): QosRule {
  // Rules change through their policy's owner only (a shared policy is used by others, not changed).
  const policy = ownedQosPolicy(tx, ctx, policyId);
  const rule = buildRule(QOS_RULE_SPECS[type], ctx.newId(), input);
  checkConflict(policy, rule);
  tx.put('qospolicy', revise(ctx, policy, { rules: [...policy.rules, rule] }));
  return rule;
}

export function updateQosRule(
  tx: Tx,
  ctx: Context,
  policyId: string,
  type: QosRuleType,
  ruleId: string,
  input: QosRuleInput,
): QosRule {
  const policy = ownedQosPolicy(tx, ctx, policyId);
  const current = findQosRule(policy, type, ruleId);
  const rule = buildRule(QOS_RULE_SPECS[type], ruleId, input, current);
  checkConflict(policy, rule);
  tx.put('qospolicy', revise(ctx, policy, { rules: policy.rules.map((r) => (r.id === ruleId ? rule : r)) }));
  return rule;
}

export function deleteQosRule(
  tx: Tx,
  ctx: Context,
  policyId: string,
  type: QosRuleType,
  ruleId: string,
): void {
  const policy = ownedQosPolicy(tx, ctx, policyId);
  findQosRule(policy, type, ruleId);
  tx.put('qospolicy', revise(ctx, policy, { rules: policy.rules.filter((r) => r.id !== ruleId) }));
}
