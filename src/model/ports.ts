import {
  DEVICE_OWNER_ROUTER_GATEWAY,
  DEVICE_OWNER_ROUTER_INTERFACE,
  type FixedIp,
  type Port,
} from './entities.js';
import { conflict, SfipError } from './errors.js';
import { fipOfPortKey, macKey, portForwardingsOfPortKey } from './index-keys.js';
import { withoutForwardings } from './port-forwardings.js';
import { AddressRequest, assignAddress } from './ip-assignment.js';
import { CommonInput, getUsableNetwork, getVisible, newResource, revise } from './resource.js';
import { parseMacAddress } from './names.js';
import { randomMac } from './mac.js';
import type { Context, Tx } from './tx.js';

export interface PortInput extends CommonInput {
  readonly networkId: string;
  readonly fixedIps?: readonly AddressRequest[];
  readonly deviceId?: string;
  readonly deviceOwner?: string;
  readonly macAddress?: string;
  readonly adminStateUp?: boolean;
  /** Set by the model when an admin attaches the port to a router (see `Port.adminAttached`). */
  readonly adminAttached?: boolean;
}

export const portExhausted = (networkId: string) =>
  conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);

const isNetworkOwned = (deviceOwner: string | undefined): boolean =>
  deviceOwner?.startsWith('network:') ?? false;

/**
 * Ports owned by `network:*` devices (router interfaces and gateways) steer the dataplane; only an admin, or the
 * model itself acting for a router (`createRouterPort`), may create them or change their device. Otherwise a
 * project could graft an interface onto another project's router. `field` names the attribute refused.
 */
function checkDeviceOwnerPolicy(ctx: Context, deviceOwner: string | undefined, field: string): void {
  if (!ctx.isAdmin && isNetworkOwned(deviceOwner)) {
    throw new SfipError(
      'PolicyNotAuthorized',
      403,
      `Only an admin may set ${field} of a port owned by ${deviceOwner}.`,
    );
  }
}

/** A port as a project or an admin asks for it through the API: `network:*` owners are an admin's only. */
export function createPort(tx: Tx, ctx: Context, input: PortInput): Port {
  checkDeviceOwnerPolicy(ctx, input.deviceOwner, 'device_owner');
  const { adminAttached: _ignored, ...asked } = input;
  return createRouterPort(tx, ctx, { ...asked, adminAttached: isNetworkOwned(input.deviceOwner) });
}

/**
 * Creates a port without the `network:*` policy: for the model's own router interfaces and gateways, whose callers
 * have checked that the router is the caller's (or the caller an admin).
 */
export function createRouterPort(tx: Tx, ctx: Context, input: PortInput): Port {
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
    macAddress: pickMac(tx, ctx, network.id, input.macAddress),
    adminStateUp: input.adminStateUp ?? true,
    // An admin placing a port of one project on another project's network joins the two: record whose doing it is.
    ...(ctx.isAdmin &&
      (input.adminAttached === true || (base.projectId !== network.projectId && !network.external)) && {
        adminAttached: true,
      }),
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
  const deviceChanged =
    (input.deviceId !== undefined && input.deviceId !== current.deviceId) ||
    (input.deviceOwner !== undefined && input.deviceOwner !== current.deviceOwner);
  if (deviceChanged) {
    // Both the owner it has and the owner it would get: re-pointing a router interface is a graft.
    checkDeviceOwnerPolicy(
      ctx,
      current.deviceOwner,
      input.deviceId !== undefined ? 'device_id' : 'device_owner',
    );
    checkDeviceOwnerPolicy(ctx, input.deviceOwner, 'device_owner');
  }
  const next = revise(ctx, current, {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.tags !== undefined && { tags: [...new Set(input.tags)] }),
    ...(input.deviceId !== undefined && { deviceId: input.deviceId }),
    ...(input.deviceOwner !== undefined && { deviceOwner: input.deviceOwner }),
    ...(input.adminStateUp !== undefined && { adminStateUp: input.adminStateUp }),
    // Only an admin gets here for a `network:*` port: whatever router it now points at, an admin joined them.
    ...(deviceChanged && ctx.isAdmin && { adminAttached: true }),
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
  // As Neutron does, a deleted port takes the forwardings to it along.
  for (const fip of tx.find('floatingip', portForwardingsOfPortKey(id))) {
    tx.put(
      'floatingip',
      withoutForwardings(ctx, fip, (pf) => pf.internalPortId === id),
    );
  }
  tx.delete('port', id);
}

/** How often a random MAC is redrawn after a collision before giving up (24 random bits: never in practice). */
const MAC_ATTEMPTS = 16;

/**
 * The port's MAC: the requested one, refused if another port on the network holds it, or a random one under
 * Neutron's prefix, redrawn on collision. Checked in the creating transaction, so two writers cannot both win.
 */
function pickMac(tx: Tx, ctx: Context, networkId: string, requested: string | undefined): string {
  const taken = (mac: string) => tx.lookup(macKey(networkId, mac)).length > 0;
  if (requested !== undefined) {
    const mac = parseMacAddress(requested);
    if (taken(mac)) {
      throw conflict(
        'MacAddressInUse',
        `Unable to complete operation for network ${networkId}. The mac address ${mac} is in use.`,
      );
    }
    return mac;
  }
  const draw = ctx.newMac ?? randomMac;
  for (let attempt = 0; attempt < MAC_ATTEMPTS; attempt++) {
    const mac = parseMacAddress(draw());
    if (!taken(mac)) return mac;
  }
  throw conflict('MacAddressGenerationFailure', `Unable to generate a unique mac on network ${networkId}.`);
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
    count: tx.count.bind(tx),
    lookup: (key: string) => (taken.has(key) ? [{ kind: 'port', id: 'pending' }] : tx.lookup(key)),
  };
}
