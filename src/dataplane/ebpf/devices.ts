import { cidrContains, isIPv4, parseCidr } from '../../model/index.js';

interface LinkAddresses {
  ifindex?: number;
  ifname?: string;
  addr_info?: { family?: string; local?: string }[];
}

/**
 * The router's internal devices: those (other than the gateway device) holding an address inside one of the
 * router's internal subnets. Hairpin traffic enters the router through them, so their tc hooks carry the
 * internal programs. Deriving them from addresses, not names, works for any naming and never picks up a
 * device that is not the router's, even in a shared namespace. Input: `ip -j address show` output.
 */
export function internalDevices(
  addressJson: string,
  internalCidrs: readonly string[],
  gatewayDevice: string,
): string[] {
  const cidrs = internalCidrs.map((c) => parseCidr(c));
  const links = JSON.parse(addressJson || '[]') as LinkAddresses[];
  const out = new Set<string>();
  for (const link of links) {
    if (!link.ifname || link.ifname === gatewayDevice || link.ifname === 'lo') continue;
    const inside = (link.addr_info ?? []).some(
      (a) =>
        a.family === 'inet' &&
        a.local !== undefined &&
        isIPv4(a.local) &&
        cidrs.some((c) => cidrContains(c, a.local as never)),
    );
    if (inside) out.add(link.ifname);
  }
  return [...out].sort();
}

/** The ifindex of one device in `ip -j address show` output; 0 when it is not there. */
export function ifindexOf(addressJson: string, device: string): number {
  const link = (JSON.parse(addressJson || '[]') as LinkAddresses[]).find((l) => l.ifname === device);
  return link?.ifindex ?? 0;
}

/** Every device name in `ip -j address show` output. */
export function deviceNames(addressJson: string): string[] {
  return (JSON.parse(addressJson || '[]') as LinkAddresses[])
    .flatMap((l) => (l.ifname ? [l.ifname] : []))
    .sort();
}
