/**
 * Which of a router's devices the fast path may hand a packet to with bpf_redirect_peer (bpf/sfip_nat.c,
 * `peer_devs`). The kernel accepts it only for a device with a peer device (veth, netkit) whose peer is up and in
 * another namespace, and drops the packet otherwise, so a device is listed only when `ip -d address` says so:
 * its kind is veth or netkit and it names its peer's namespace (`link_netnsid`; a peer in the same namespace has
 * none). The peer's ingress is entered directly, past the device's own egress: a device with a root qdisc other
 * than noqueue (the default for both kinds) would lose its shaping, so it is not listed and keeps bpf_redirect.
 */

/** Device kinds that implement ndo_get_peer_dev. */
const PEER_KINDS = new Set(['veth', 'netkit']);

interface DetailedLink {
  ifindex?: number;
  ifname?: string;
  qdisc?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string };
}

/**
 * Pure: the ifindexes, sorted, of those of `devices` that qualify, from `ip -d -j address show` output (the
 * read's one listing of the namespace). A device that is not there is not listed.
 */
export function peerIfindexes(detailedJson: string, devices: readonly string[]): number[] {
  const wanted = new Set(devices);
  const links = JSON.parse(detailedJson || '[]') as DetailedLink[];
  return links
    .filter(
      (l) =>
        l.ifname !== undefined &&
        wanted.has(l.ifname) &&
        typeof l.ifindex === 'number' &&
        l.ifindex > 0 &&
        PEER_KINDS.has(l.linkinfo?.info_kind ?? '') &&
        typeof l.link_netnsid === 'number' &&
        l.link_netnsid >= 0 &&
        l.qdisc === 'noqueue',
    )
    .map((l) => l.ifindex as number)
    .sort((a, b) => a - b);
}

/** A `peer_devs` key or value: a u32 in host order, as the program's fib->ifindex is. */
export function ifindexBytes(ifindex: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(ifindex >>> 0);
  return out;
}
