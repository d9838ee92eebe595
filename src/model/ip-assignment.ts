import { allocateAddress, poolContains } from './allocation.js';
import { cidrContains, isReservedInCidr, parseCidr } from './cidr.js';
import type { FixedIp, Network, Subnet } from './entities.js';
import { badRequest, conflict, SfipError } from './errors.js';
import { ipKey, subnetsOfNetworkKey } from './index-keys.js';
import { IPv4, parseIPv4 } from './ipv4.js';
import { notFoundError, visibleTo } from './resource.js';
import type { Context, View } from './tx.js';

export interface AddressRequest {
  readonly subnetId?: string;
  readonly ipAddress?: string;
}

export interface AssignOptions {
  /** The attribute named in errors, e.g. `fixed_ips` or `floating_ip_address`. */
  readonly field: string;
  /** Router interfaces take the subnet's gateway address. */
  readonly allowGateway?: boolean;
  /** Floating IPs must come from the allocation pools even when the address is chosen explicitly. */
  readonly requirePool?: boolean;
  /** The error for an exhausted network (Neutron uses a different one for floating IPs). */
  readonly exhausted: (network: Network) => SfipError;
}

export function subnetsOf(view: View, networkId: string): Subnet[] {
  return view
    .lookup(subnetsOfNetworkKey(networkId))
    .map((ref) => view.get('subnet', ref.id))
    .filter((s): s is Subnet => s !== undefined)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

export const isAddressTaken = (view: View, networkId: string, ip: string): boolean =>
  view.lookup(ipKey(networkId, ip)).length > 0;

/** Picks and checks one address on a network, either the one requested or the next free one in a pool. */
export function assignAddress(
  view: View,
  ctx: Context,
  network: Network,
  request: AddressRequest,
  options: AssignOptions,
): FixedIp {
  const subnets = subnetsOf(view, network.id);
  if (request.subnetId !== undefined && !subnets.some((s) => s.id === request.subnetId)) {
    // Another project's subnet is unknown to the caller, exactly as a missing one (no existence oracle); subnets of
    // external networks are public.
    const subnet = view.get('subnet', request.subnetId);
    if (!subnet || !(visibleTo(ctx, subnet) || view.get('network', subnet.networkId)?.external)) {
      throw notFoundError('subnet', request.subnetId);
    }
    throw badRequest(`Subnet ${request.subnetId} does not belong to network ${network.id}.`);
  }
  if (request.ipAddress !== undefined) {
    const ip = parseIPv4(request.ipAddress, options.field);
    const subnet = subnets.find(
      (s) =>
        (request.subnetId === undefined || s.id === request.subnetId) && cidrContains(parseCidr(s.cidr), ip),
    );
    if (!subnet) {
      throw badRequest(`IP address ${ip} is not a valid IP for any subnet of network ${network.id}.`);
    }
    checkExplicitAddress(view, network, subnet, ip, options);
    return { subnetId: subnet.id, ipAddress: ip };
  }
  const candidates =
    request.subnetId === undefined ? subnets : subnets.filter((s) => s.id === request.subnetId);
  for (const subnet of candidates) {
    const hintKey = `${subnet.id}`;
    const ip = allocateAddress(
      subnet.allocationPools,
      (candidate) => candidate === subnet.gatewayIp || isAddressTaken(view, network.id, candidate),
      ctx.allocationHints?.get(hintKey),
    );
    if (ip) {
      ctx.allocationHints?.set(hintKey, ip);
      return { subnetId: subnet.id, ipAddress: ip };
    }
  }
  throw options.exhausted(network);
}

function checkExplicitAddress(
  view: View,
  network: Network,
  subnet: Subnet,
  ip: IPv4,
  options: AssignOptions,
): void {
  const cidr = parseCidr(subnet.cidr);
  if (isReservedInCidr(cidr, ip)) {
    throw badRequest(`IP address ${ip} is the network or broadcast address of subnet ${subnet.cidr}.`);
  }
  if (ip === subnet.gatewayIp && !options.allowGateway) {
    throw badRequest(`IP address ${ip} is the gateway address of subnet ${subnet.cidr}.`);
  }
  if (options.requirePool && !poolContains(subnet.allocationPools, ip)) {
    throw badRequest(`IP address ${ip} is outside the allocation pools of subnet ${subnet.cidr}.`);
  }
  if (isAddressTaken(view, network.id, ip)) {
    throw conflict('IpAddressAlreadyAllocated', `IP address ${ip} already allocated in subnet ${subnet.id}`);
  }
}
