/** How the tc backend lays out its qdiscs and filters. */
export interface TcOptions {
  /**
   * Where egress filters hang. `clsact` (default) runs them from the lock-free clsact egress hook; `htb` is the
   * seed's layout, an htb root qdisc `10:` whose filters run under the device's root qdisc lock. See docs/tc.md
   * for the measurement behind the default.
   */
  readonly egress: 'clsact' | 'htb';
  /**
   * `hashed` (default) finds a packet's filter through u32 hash tables keyed on the address, so the cost per
   * packet stays flat as floating IPs are added; `linear` is the seed's one-filter-after-another chain.
   */
  readonly lookup: 'hashed' | 'linear';
  /** The filter priority (tc `pref`) sfip owns; hairpin source rewriting also uses the next one. */
  readonly priority: number;
  /**
   * Packet mark bit that carries "destination rewritten" from the hairpin tree to the one that rewrites the source,
   * on internal devices. Change it if another component on the router uses this bit.
   */
  readonly hairpinMark: number;
  /**
   * A hash bucket holding more than this many addresses becomes a link to another 256-way table keyed on the
   * next octet, so lookups stay short when many addresses share a last octet.
   */
  readonly bucketLimit: number;
  /**
   * A qdisc or filter sfip did not create on the gateway device is reported and left alone (the router goes to
   * ERROR). With this set, sfip deletes it and installs its own layout instead.
   */
  readonly takeOverForeignQdisc: boolean;
}

export const DEFAULT_TC_OPTIONS: TcOptions = {
  egress: 'clsact',
  lookup: 'hashed',
  priority: 24347,
  hairpinMark: 0x10000000,
  bucketLimit: 4,
  takeOverForeignQdisc: false,
};
