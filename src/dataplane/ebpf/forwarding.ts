import type { ForwardingRule } from '../types.js';

/**
 * Port forwardings as entries of the pf_in and pf_out maps of bpf/sfip_nat.c, in text form for planning and
 * read-back ("203.0.113.11 tcp 2222" -> "10.0.0.12 22"); values.ts turns them into the kernel's bytes.
 *
 *   pf_in   floating . proto . external port -> internal . internal port   (one entry per external port)
 *   pf_out  internal . proto . internal port -> floating . external port   (one per internal port)
 *
 * Ranges are expanded port by port, as the nftables backend does, so a lookup is one exact hash probe. The
 * expansion is bounded: a range holds at most 65,535 ports, and the whole router at most the maps' capacity
 * (checked in plan.ts before anything is written). N:1: a reply from the one internal port cannot know which
 * external port the client used; it leaves from the first port of the external range (docs/port-forwarding.md).
 */
export interface ForwardingEntries {
  readonly inbound: Map<string, string>;
  readonly outbound: Map<string, string>;
}

export const socketText = (address: string, protocol: string, port: number): string =>
  `${address} ${protocol} ${port}`;
export const targetText = (address: string, port: number): string => `${address} ${port}`;

export function forwardingEntries(rules: readonly ForwardingRule[]): ForwardingEntries {
  const inbound = new Map<string, string>();
  const outbound = new Map<string, string>();
  for (const r of rules) {
    const many = r.internalPortStart !== r.internalPortEnd;
    for (let ext = r.externalPortStart; ext <= r.externalPortEnd; ext++) {
      const int = many ? r.internalPortStart + (ext - r.externalPortStart) : r.internalPortStart;
      inbound.set(socketText(r.floatingIp, r.protocol, ext), targetText(r.fixedIp, int));
      if (many || ext === r.externalPortStart)
        outbound.set(socketText(r.fixedIp, r.protocol, int), targetText(r.floatingIp, ext));
    }
  }
  return { inbound, outbound };
}

/** The floating address a pf_in key names. */
export const floatingOfKey = (key: string): string => key.split(' ')[0] ?? '';
/**
 * A router's forwardings must fit the pf_in map (one entry per external port) before anything is written: the
 * refusal names the first forwarding that would not fit.
 */
export function checkForwardingCapacity(
  rules: readonly ForwardingRule[],
  capacity: number,
  routerId: string,
): void {
  let size = 0;
  for (const r of rules) {
    size += r.externalPortEnd - r.externalPortStart + 1;
    if (size > capacity) {
      throw new Error(
        `Port forwarding ${r.floatingIp} ${r.protocol} ${r.externalPortStart}:${r.externalPortEnd} -> ${r.fixedIp} ${r.internalPortStart}:${r.internalPortEnd} does not fit: the eBPF maps of router ${routerId} hold at most ${capacity} forwarded ports`,
      );
    }
  }
}
