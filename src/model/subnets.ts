import {
  cidrContains,
  cidrsOverlap,
  firstAddress,
  isReservedInCidr,
  lastAddress,
  parseCidr,
  formatCidr,
} from './cidr.js';
import type { AllocationPool, Subnet } from './entities.js';
import { conflict, invalidInput, badRequest } from './errors.js';
import { portsOfSubnetKey, subnetsOfNetworkKey } from './index-keys.js';
import { IPv4, ipv4FromUint32, ipv4ToUint32, parseIPv4 } from './ipv4.js';
import { CommonInput, getVisible, newResource, revise } from './resource.js';
import type { Context, Tx } from './tx.js';

export interface SubnetInput extends CommonInput {
  readonly networkId: string;
  readonly cidr: string;
  /** Omitted: the first host address. Null: no gateway. */
  readonly gatewayIp?: string | null;
  readonly allocationPools?: readonly { start: string; end: string }[];
  readonly ipVersion?: number;
}

export function createSubnet(tx: Tx, ctx: Context, input: SubnetInput): Subnet {
  if (input.ipVersion !== undefined && input.ipVersion !== 4) {
    throw invalidInput(`ip_version ${input.ipVersion} is not supported: sfip handles IPv4 only`);
  }
  const network = getVisible(tx, ctx, 'network', input.networkId);
  const cidr = parseCidr(input.cidr);
  for (const ref of tx.lookup(subnetsOfNetworkKey(network.id))) {
    const other = tx.get('subnet', ref.id);
    if (other && cidrsOverlap(parseCidr(other.cidr), cidr)) {
      throw badRequest(
        `Invalid input for cidr. Reason: '${input.cidr}' overlaps with subnet ${other.id} (${other.cidr}).`,
      );
    }
  }
  const gatewayIp =
    input.gatewayIp === null
      ? null
      : input.gatewayIp === undefined
        ? defaultGateway(cidr)
        : parseIPv4(input.gatewayIp, 'gateway_ip');
  if (gatewayIp && (!cidrContains(cidr, gatewayIp) || isReservedInCidr(cidr, gatewayIp))) {
    throw invalidInput(`gateway_ip '${gatewayIp}' is not a usable address of ${formatCidr(cidr)}`);
  }
  const pools = input.allocationPools
    ? parsePools(input.allocationPools, cidr, gatewayIp)
    : defaultPools(cidr, gatewayIp);
  const subnet: Subnet = {
    ...newResource(ctx, input),
    networkId: network.id,
    cidr: formatCidr(cidr),
    gatewayIp,
    allocationPools: pools,
  };
  tx.put('subnet', subnet);
  return subnet;
}

export function updateSubnet(tx: Tx, ctx: Context, id: string, input: Partial<SubnetInput>): Subnet {
  const current = getVisible(tx, ctx, 'subnet', id);
  if (input.cidr !== undefined && input.cidr !== current.cidr) {
    throw badRequest(`Cannot update read-only attribute cidr`);
  }
  const next = revise(ctx, current, {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.tags !== undefined && { tags: [...new Set(input.tags)] }),
  });
  tx.put('subnet', next);
  return next;
}

export function deleteSubnet(tx: Tx, ctx: Context, id: string): void {
  getVisible(tx, ctx, 'subnet', id);
  if (tx.lookup(portsOfSubnetKey(id)).length > 0) {
    throw conflict(
      'SubnetInUse',
      `Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`,
    );
  }
  tx.delete('subnet', id);
}

function defaultGateway(cidr: ReturnType<typeof parseCidr>): IPv4 | null {
  if (cidr.prefixLength >= 31) return null;
  return ipv4FromUint32(firstAddress(cidr) + 1);
}

/** Every host address except the gateway, split around it. */
function defaultPools(cidr: ReturnType<typeof parseCidr>, gatewayIp: IPv4 | null): AllocationPool[] {
  const lo = cidr.prefixLength >= 31 ? firstAddress(cidr) : firstAddress(cidr) + 1;
  const hi = cidr.prefixLength >= 31 ? lastAddress(cidr) : lastAddress(cidr) - 1;
  const gw = gatewayIp ? ipv4ToUint32(gatewayIp) : -1;
  const ranges: [number, number][] =
    gw >= lo && gw <= hi
      ? [
          [lo, gw - 1],
          [gw + 1, hi],
        ]
      : [[lo, hi]];
  return ranges
    .filter(([a, b]) => a <= b)
    .map(([a, b]) => ({ start: ipv4FromUint32(a), end: ipv4FromUint32(b) }));
}

function parsePools(
  input: readonly { start: string; end: string }[],
  cidr: ReturnType<typeof parseCidr>,
  gatewayIp: IPv4 | null,
): AllocationPool[] {
  const pools = input.map((p) => ({
    start: parseIPv4(p.start, 'allocation_pools.start'),
    end: parseIPv4(p.end, 'allocation_pools.end'),
  }));
  const sorted = [...pools].sort((a, b) => ipv4ToUint32(a.start) - ipv4ToUint32(b.start));
  sorted.forEach((pool, i) => {
    const [s, e] = [ipv4ToUint32(pool.start), ipv4ToUint32(pool.end)];
    if (s > e) throw invalidInput(`allocation pool ${pool.start}-${pool.end} ends before it starts`);
    if (!cidrContains(cidr, pool.start) || !cidrContains(cidr, pool.end)) {
      throw invalidInput(`allocation pool ${pool.start}-${pool.end} is not inside ${formatCidr(cidr)}`);
    }
    if (isReservedInCidr(cidr, pool.start) || isReservedInCidr(cidr, pool.end)) {
      throw invalidInput(
        `allocation pool ${pool.start}-${pool.end} includes the network or broadcast address of ${formatCidr(cidr)}`,
      );
    }
    if (gatewayIp && s <= ipv4ToUint32(gatewayIp) && ipv4ToUint32(gatewayIp) <= e) {
      throw conflict(
        'GatewayConflictWithAllocationPools',
        `Gateway ip ${gatewayIp} conflicts with allocation pool ${pool.start}-${pool.end}.`,
      );
    }
    const prev = sorted[i - 1];
    if (prev && ipv4ToUint32(prev.end) >= s) {
      throw invalidInput(`allocation pools ${prev.start}-${prev.end} and ${pool.start}-${pool.end} overlap`);
    }
  });
  return sorted;
}
