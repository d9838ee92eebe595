/** Tunables of the eBPF backend. */
export interface EbpfOptions {
  /**
   * Most entries one router's maps may hold (floating IPs; forwarded ports): a router over it is refused. Each
   * router's maps are sized to what it holds (capacity.ts), up to this. Lowering it below a router's current
   * maps rebuilds them smaller; raising it changes nothing until a router needs more. Default 262144.
   */
  readonly capacity: number;
  /**
   * The smallest maps a router gets (entries): a router below it never rebuilds to grow. 1,024 entries cost
   * 17 KB of bucket array a map, so small routers are cheap, and one growing from nothing first swaps at its
   * 1,025th floating IP. Default 1024.
   */
  readonly minCapacity: number;
  /**
   * Packet mark bit the programs set on floating-IP traffic; the router's nft table untracks packets that
   * carry it. Change it if something else on the router uses this bit. Default 0x10000000.
   */
  readonly untrackMark: number;
  /**
   * Packet and conntrack mark bit for hairpin traffic from a fixed IP without a floating IP, which goes
   * through shared SNAT (stateful). Default 0x20000000.
   */
  readonly hairpinMark: number;
  /** The compiled programs. Default: dist/bpf/sfip_nat.o of this package (built by scripts/build-bpf.sh). */
  readonly objectPath: string;
  /**
   * The same programs built without the fast path, for kernels whose tc programs lack bpf_fib_lookup,
   * bpf_check_mtu or bpf_redirect. Default: dist/bpf/sfip_nat_tc.o.
   */
  readonly tcObjectPath: string;
  /**
   * The programs with the fast path but without bpf_redirect_peer, for kernels whose tc programs lack it (every
   * packet the fast path forwards leaves through bpf_redirect). Default: dist/bpf/sfip_nat_nopeer.o.
   */
  readonly noPeerObjectPath: string;
  /** Where pinned objects live; tests never change it. Default /sys/fs/bpf/sfip. */
  readonly pinRoot: string;
}
