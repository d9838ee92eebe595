import { forgetGatewayNetwork } from './bgp-speakers.js';
import type { Network } from './entities.js';
import { conflict, SfipError } from './errors.js';
import { portsOfNetworkKey, subnetsOfNetworkKey, fipsOfNetworkKey } from './index-keys.js';
import { CommonInput, getVisible, newResource, revise } from './resource.js';
import type { Context, Tx } from './tx.js';

export interface NetworkInput extends CommonInput {
  readonly external?: boolean;
  readonly adminStateUp?: boolean;
}

export function createNetwork(tx: Tx, ctx: Context, input: NetworkInput): Network {
  if (input.external && !ctx.isAdmin) {
    throw new SfipError('PolicyNotAuthorized', 403, 'Only an admin may create an external network.');
  }
  const network: Network = {
    ...newResource(ctx, input),
    external: input.external ?? false,
    adminStateUp: input.adminStateUp ?? true,
  };
  tx.put('network', network);
  return network;
}

export function updateNetwork(tx: Tx, ctx: Context, id: string, input: NetworkInput): Network {
  const current = getVisible(tx, ctx, 'network', id);
  if (input.external !== undefined && input.external !== current.external) {
    if (!ctx.isAdmin) {
      throw new SfipError('PolicyNotAuthorized', 403, 'Only an admin may change router:external.');
    }
    if (tx.lookup(fipsOfNetworkKey(id)).length > 0) {
      throw conflict('NetworkInUse', `Unable to complete operation on network ${id}. It has floating IPs.`);
    }
  }
  const next = revise(ctx, current, {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.tags !== undefined && { tags: [...new Set(input.tags)] }),
    ...(input.external !== undefined && { external: input.external }),
    ...(input.adminStateUp !== undefined && { adminStateUp: input.adminStateUp }),
  });
  tx.put('network', next);
  return next;
}

/** Deletes a network and its subnets. Refused while any port or floating IP still uses it. */
export function deleteNetwork(tx: Tx, ctx: Context, id: string): void {
  getVisible(tx, ctx, 'network', id);
  if (tx.lookup(portsOfNetworkKey(id)).length > 0 || tx.lookup(fipsOfNetworkKey(id)).length > 0) {
    throw conflict(
      'NetworkInUse',
      `Unable to complete operation on network ${id}. There are one or more ports or floating IPs still in use on the network.`,
    );
  }
  for (const ref of tx.lookup(subnetsOfNetworkKey(id))) tx.delete('subnet', ref.id);
  forgetGatewayNetwork(tx, ctx, id);
  tx.delete('network', id);
}
