import { compareIPv4, type IPv4 } from '../../model/ipv4.js';
import type { OwnedLeaf } from './tc-state.js';

import type { FloatingIpCounters, PacketCount } from '../types.js';

export type { FloatingIpCounters, PacketCount };

const ZERO: PacketCount = { packets: 0, bytes: 0 };

/** Joins each inbound filter (keyed by floating address) with the outbound filter of its fixed address. */
export function floatingIpCounters(
  inboundLeaves: readonly OwnedLeaf[],
  outboundLeaves: readonly OwnedLeaf[],
): FloatingIpCounters[] {
  const outbound = new Map(outboundLeaves.map((l) => [l.key, l]));
  return inboundLeaves
    .map((l) => {
      const out = outbound.get(l.to);
      return {
        floatingIp: l.key,
        fixedIp: l.to,
        inbound: { packets: l.packets, bytes: l.bytes },
        outbound: out && out.to === l.key ? { packets: out.packets, bytes: out.bytes } : ZERO,
      };
    })
    .sort((a, b) => compareIPv4(a.floatingIp as IPv4, b.floatingIp as IPv4));
}
