import {
  DEVICE_OWNER_ROUTER_GATEWAY,
  DEVICE_OWNER_ROUTER_INTERFACE,
  type FixedIp,
  type Port,
} from './entities.js';
import { conflict, SfipError } from './errors.js';
import { fipOfPortKey } from './index-keys.js';
import { AddressRequest, assignAddress } from './ip-assignment.js';
import { CommonInput, getUsableNetwork, getVisible, newResource, revise } from './resource.js';
import { parseMacAddress } from './names.js';
import type { Context, Tx } from './tx.js';

export interface PortInput extends CommonInput {
  readonly networkId: string;
  readonly fixedIps?: readonly AddressRequest[];
  readonly deviceId?: string;
  readonly deviceOwner?: string;
  readonly macAddress?: string;
  readonly adminStateUp?: boolean;
}

export const portExhausted = (networkId: string) =>
  conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);

/**
 * Ports owned by `network:*` devices (router interfaces and gateways) steer the dataplane; only an admin, or the
 * model itself acting for a router, may create them. Otherwise a project could graft an interface onto another
 * project's router.
 */
export function checkDeviceOwnerPolicy(ctx: Context, deviceOwner: string | undefined): void {
  if (!ctx.isAdmin && deviceOwner?.startsWith('network:')) {
    throw new SfipError(
      'PolicyNotAuthorized',
      403,
      `Only an admin may create a port owned by ${deviceOwner}.`,
    );
  }
}

export function createPort(tx: Tx, ctx: Context, input: PortInput): Port {
  const network = getUsableNetwork(tx, ctx, input.networkId);
  if (!ctx.isAdmin && network.projectId !== ctx.projectId) {
    // External networks are readable by every project, but their addresses are for floating IPs and gateways.
    throw new SfipError(
      'PolicyNotAuthorized',
      403,
      `Project ${ctx.projectId} is not allowed to create a port on network ${network.id}.`,
    );
  }
  const base = newResource(ctx, input);
  const requests = input.fixedIps ?? [{}];
  const fixedIps: FixedIp[] = [];
  for (const request of requests) {
    // Each assignment must see the previous ones, so they are written as we go through a scratch port.
    const ip = assignAddress(withPendingIps(tx, network.id, fixedIps), ctx, network, request, {
      field: 'fixed_ips',
      allowGateway: input.deviceOwner === DEVICE_OWNER_ROUTER_INTERFACE,
      exhausted: (n) => portExhausted(n.id),
    });
    fixedIps.push(ip);
  }
  const port: Port = {
    ...base,
    networkId: network.id,
    fixedIps,
    deviceId: input.deviceId ?? '',
    deviceOwner: input.deviceOwner ?? '',
    macAddress: input.macAddress === undefined ? macFromId(base.id) : parseMacAddress(input.macAddress),
    adminStateUp: input.adminStateUp ?? true,
  };
  tx.put('port', port);
  return port;
}

export function updatePort(tx: Tx, ctx: Context, id: string, input: Partial<PortInput>): Port {
  const current = getVisible(tx, ctx, 'port', id);
  if (input.fixedIps !== undefined) {
    throw new SfipError(
      'BadRequest',
      400,
      'Changing fixed_ips of an existing port is not supported by sfip.',
    );
  }
  const next = revise(ctx, current, {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.tags !== undefined && { tags: [...new Set(input.tags)] }),
    ...(input.deviceId !== undefined && { deviceId: input.deviceId }),
    ...(input.adminStateUp !== undefined && { adminStateUp: input.adminStateUp }),
  });
  tx.put('port', next);
  return next;
}

/** Deleting a VM's port disassociates its floating IPs, as Neutron does; router ports go through the router. */
export function deletePort(tx: Tx, ctx: Context, id: string): void {
  const port = getVisible(tx, ctx, 'port', id);
  if (
    port.deviceOwner === DEVICE_OWNER_ROUTER_INTERFACE ||
    port.deviceOwner === DEVICE_OWNER_ROUTER_GATEWAY
  ) {
    throw conflict(
      'L3PortInUse',
      `Port ${id} has owner ${port.deviceOwner} and therefore cannot be deleted directly via the port API.`,
    );
  }
  for (const ref of tx.lookup(fipOfPortKey(id))) {
    const fip = tx.get('floatingip', ref.id);
    if (fip) {
      tx.put(
        'floatingip',
        revise(ctx, fip, {
          portId: null,
          fixedIpAddress: null,
          routerId: null,
          status: 'DOWN',
          statusReason: '',
        }),
      );
    }
  }
  tx.delete('port', id);
}

/** A locally administered MAC derived from the port id, stable and unique enough for a lab. */
function macFromId(id: string): string {
  const hex = id.replace(/-/g, '');
  return ['fa', '16', '3e', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6)].join(':');
}

/** A view in which the addresses already picked for this port count as taken. */
function withPendingIps(tx: Tx, networkId: string, pending: readonly FixedIp[]): Tx {
  if (pending.length === 0) return tx;
  const taken = new Set(pending.map((ip) => `ip/${networkId}/${ip.ipAddress}`));
  return {
    ...tx,
    get: tx.get.bind(tx),
    list: tx.list.bind(tx),
    put: tx.put.bind(tx),
    delete: tx.delete.bind(tx),
    lookup: (key: string) => (taken.has(key) ? [{ kind: 'port', id: 'pending' }] : tx.lookup(key)),
  };
}
