import type { FloatingIp, QosPolicy } from './entities.js';
import { conflict, SfipError } from './errors.js';
import { fipsOfQosPolicyKey } from './index-keys.js';
import { CommonInput, newResource, notFoundError, revise, visibleTo } from './resource.js';
import type { Context, Tx, View } from './tx.js';

export interface QosPolicyInput extends CommonInput {
  readonly shared?: boolean;
}

/**
 * Neutron lets only an admin create QoS policies by default; sfip lets a project create its own (as a cloud
 * that opens `create_policy` in policy.yaml does), but sharing stays an admin's decision, as Neutron's
 * `shared` attribute of networks is: a shared policy is one whose rules its owner changes for everyone.
 */
function checkShared(ctx: Context, shared: boolean | undefined): void {
  if (shared === true && !ctx.isAdmin) {
    throw new SfipError('PolicyNotAuthorized', 403, 'Only an admin may share a QoS policy (shared=true).');
  }
}

/** Names the floating IP only to a caller who can see it: another project's floating IP ids do not leak. */
const inUse = (ctx: Context, policy: QosPolicy, fip: FloatingIp) =>
  conflict(
    'QosPolicyInUse',
    `QoS Policy ${policy.id} is used by floating IP ${visibleTo(ctx, fip) ? fip.id : 'of another project'}.`,
  );

export function createQosPolicy(tx: Tx, ctx: Context, input: QosPolicyInput): QosPolicy {
  checkShared(ctx, input.shared);
  const policy: QosPolicy = { ...newResource(ctx, input), shared: input.shared ?? false, rules: [] };
  tx.put('qospolicy', policy);
  return policy;
}

/**
 * A policy the caller may change: its own (or any, for an admin). Another project's shared policy can be read
 * and used but not changed (403, as for another project's external network); a non-shared one is unknown (404).
 */
export function ownedQosPolicy(view: View, ctx: Context, id: string): QosPolicy {
  const policy = view.get('qospolicy', id);
  if (!policy || !qosPolicyReadable(ctx, policy)) throw notFoundError('qospolicy', id);
  if (!visibleTo(ctx, policy)) {
    throw new SfipError(
      'PolicyNotAuthorized',
      403,
      `QoS policy ${id} belongs to another project; it can only be used.`,
    );
  }
  return policy;
}

export function updateQosPolicy(tx: Tx, ctx: Context, id: string, input: QosPolicyInput): QosPolicy {
  const current = ownedQosPolicy(tx, ctx, id);
  checkShared(ctx, input.shared);
  if (input.shared === false && current.shared) {
    // Unsharing would leave other projects' floating IPs using a policy they can no longer see.
    const foreign = tx
      .find('floatingip', fipsOfQosPolicyKey(id))
      .find((f) => f.projectId !== current.projectId);
    if (foreign) throw inUse(ctx, current, foreign);
  }
  const next = revise(ctx, current, {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.tags !== undefined && { tags: [...new Set(input.tags)] }),
    ...(input.shared !== undefined && { shared: input.shared }),
  });
  tx.put('qospolicy', next);
  return next;
}

/** Refused while any floating IP uses the policy, as Neutron refuses with QosPolicyInUse. */
export function deleteQosPolicy(tx: Tx, ctx: Context, id: string): void {
  const policy = ownedQosPolicy(tx, ctx, id);
  const user = tx.find('floatingip', fipsOfQosPolicyKey(id))[0];
  if (user) throw inUse(ctx, policy, user);
  tx.delete('qospolicy', id);
}

/** Whether the caller may read a policy: its own, any shared one, or any at all for an admin. */
export function qosPolicyReadable(ctx: Context, policy: QosPolicy): boolean {
  return visibleTo(ctx, policy) || policy.shared;
}

/**
 * The policy a floating IP of `projectId` may use: one of that project, a shared one, or (for an admin) any.
 * Another project's non-shared policy is unknown to the caller (404), exactly as a missing one.
 */
export function usableQosPolicy(view: View, ctx: Context, id: string, projectId: string): QosPolicy {
  const policy = view.get('qospolicy', id);
  if (!policy || !(ctx.isAdmin || policy.shared || policy.projectId === projectId)) {
    throw notFoundError('qospolicy', id);
  }
  if (!ctx.isAdmin && !qosPolicyReadable(ctx, policy)) throw notFoundError('qospolicy', id);
  return policy;
}
