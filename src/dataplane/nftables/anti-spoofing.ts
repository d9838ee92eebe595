import type { DesiredRouter } from '../types.js';

/**
 * Anti-spoofing, in the raw prerouting chain ahead of any translation:
 *   - from the gateway device, nothing may be addressed straight to an internal address: a fixed IP is reachable
 *     from outside only through its floating IP (shared-SNAT replies are addressed to the gateway address, and
 *     conntrack restores their destination only later, at dstnat);
 *   - on the inside, a packet claiming a fixed IP that has a floating IP must come from that port's MAC, or a VM
 *     could have its packets translated into someone else's floating IP. (This needs the VMs on a subnet attached
 *     to the router directly, which is how routers and their interfaces are modelled.)
 */
export const SOURCE_MACS = 'fixed_macs';

export function antiSpoofingRules(
  desired: DesiredRouter,
  internal: string | null,
  /** The membership set of fixed addresses that have a floating IP (membership.ts). */
  fixedSet: string,
): string[] {
  if (desired.antiSpoofing === false) return [];
  const gw = JSON.stringify(desired.gatewayDevice);
  return [
    ...(internal ? [`iifname ${gw} ip daddr ${internal} drop`] : []),
    `iifname != ${gw} ip saddr @${fixedSet} ether saddr . ip saddr != @${SOURCE_MACS} drop`,
  ];
}

export const sourceMacsDeclaration = `set ${SOURCE_MACS} { type ether_addr . ipv4_addr; }`;

export const sourceMacElement = (mac: string, fixedIp: string): string => `${mac} . ${fixedIp}`;
