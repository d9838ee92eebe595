import { compareIPv4, type IPv4 } from '../../model/ipv4.js';
import type { FloatingIpCounters } from '../types.js';
import type { OwnedLeaf } from './tc-state.js';

/**
 * Joins each inbound filter (keyed by floating address) with the outbound filter of its fixed address: the nat
 * actions' own statistics, so counts restart when the filters are rebuilt.
 */
export function floatingIpCounters(
  inboundLeaves: readonly OwnedLeaf[],
  outboundLeaves: readonly OwnedLeaf[],
): FloatingIpCounters[] {
  const outbound = new Map(outboundLeaves.map((l) => [l.key, l]));
  return inboundLeaves
    .map((l) => {
      const out = outbound.get(l.to);
      const matches = out !== undefined && out.to === l.key;
      return {
        floatingIp: l.key,
        packetsIn: l.packets,
        bytesIn: l.bytes,
        packetsOut: matches ? out.packets : 0,
        bytesOut: matches ? out.bytes : 0,
      };
    })
    .sort((a, b) => compareIPv4(a.floatingIp as IPv4, b.floatingIp as IPv4));
}
