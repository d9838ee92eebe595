/**
 * What the eBPF programs in bpf/sfip_nat.c and this backend agree on: map names and sizes, program names,
 * where a router's objects are pinned, and how its tc filters are marked. Change both sides together.
 */

/** Every router's pinned objects live under this folder, one sub-folder per router id. */
export const PIN_ROOT = '/sys/fs/bpf/sfip';

export const MAP_NAMES = [
  'fip2fixed',
  'fixed2fip',
  'counters',
  'config',
  'fixed_macs',
  'internal_nets',
  'pf_in',
  'pf_out',
  'pf_frags',
  'qos',
  'peer_devs',
] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** BPF map types as the kernel numbers them (uapi/linux/bpf.h), and as bpftool spells them. */
export interface MapSpec {
  readonly name: MapName;
  readonly kernelType: number;
  readonly bpftoolType: string;
  readonly keySize: number;
  readonly valueSize: number;
  /** Null: sized by the backend's capacity option. */
  readonly maxEntries: number | null;
  /** BPF_F_NO_PREALLOC (1) for the hashes: memory grows with the entries actually present. */
  readonly flags: number;
}

const HASH = 1;
const ARRAY = 2;
const PERCPU_HASH = 5;
const LRU_HASH = 9;
const LPM_TRIE = 11;
const NO_PREALLOC = 1;

export const MAP_SPECS: readonly MapSpec[] = [
  {
    name: 'fip2fixed',
    kernelType: HASH,
    bpftoolType: 'hash',
    keySize: 4,
    valueSize: 4,
    maxEntries: null,
    flags: NO_PREALLOC,
  },
  {
    name: 'fixed2fip',
    kernelType: HASH,
    bpftoolType: 'hash',
    keySize: 4,
    valueSize: 4,
    maxEntries: null,
    flags: NO_PREALLOC,
  },
  // struct fip_counters: in_packets, in_bytes, out_packets, out_bytes (u64 each), one copy per CPU.
  {
    name: 'counters',
    kernelType: PERCPU_HASH,
    bpftoolType: 'percpu_hash',
    keySize: 4,
    valueSize: 32,
    maxEntries: null,
    flags: NO_PREALLOC,
  },
  // struct router_config: gateway_ip, untrack_mark, hairpin_mark, flags, gateway_ifindex (u32 each).
  {
    name: 'config',
    kernelType: ARRAY,
    bpftoolType: 'array',
    keySize: 4,
    valueSize: 20,
    maxEntries: 1,
    flags: 0,
  },
  // Anti-spoofing: fixed IP -> its port's MAC (struct port_mac: 6 bytes and 2 of padding).
  {
    name: 'fixed_macs',
    kernelType: HASH,
    bpftoolType: 'hash',
    keySize: 4,
    valueSize: 8,
    maxEntries: null,
    flags: NO_PREALLOC,
  },
  // Anti-spoofing: the router's internal subnets (struct net_key: prefix length in host order, then the address).
  {
    name: 'internal_nets',
    kernelType: LPM_TRIE,
    bpftoolType: 'lpm_trie',
    keySize: 8,
    valueSize: 4,
    maxEntries: 1024,
    flags: NO_PREALLOC,
  },
  // Port forwarding: struct pf_key (address, port in network order, protocol, pad) -> struct pf_val (address,
  // port, pad). One entry per port of a range, so sized like the floating-IP maps.
  {
    name: 'pf_in',
    kernelType: HASH,
    bpftoolType: 'hash',
    keySize: 8,
    valueSize: 8,
    maxEntries: null,
    flags: NO_PREALLOC,
  },
  {
    name: 'pf_out',
    kernelType: HASH,
    bpftoolType: 'hash',
    keySize: 8,
    valueSize: 8,
    maxEntries: null,
    flags: NO_PREALLOC,
  },
  // The programs' own: a fragmented datagram's first fragment's verdict, for its later fragments (struct
  // frag_key -> struct frag_val). LRU, so old datagrams make room; the agent never writes it.
  {
    name: 'pf_frags',
    kernelType: LRU_HASH,
    bpftoolType: 'lru_hash',
    keySize: 12,
    valueSize: 8,
    maxEntries: 4096,
    flags: 0,
  },
  // QoS: floating address -> struct qos_limits, four token buckets (qos.ts); only floating IPs with limits.
  {
    name: 'qos',
    kernelType: HASH,
    bpftoolType: 'hash',
    keySize: 4,
    valueSize: 128,
    maxEntries: null,
    flags: NO_PREALLOC,
  },
  // Fast path: ifindex (host order) -> 1 for the devices a packet may be handed to with bpf_redirect_peer
  // (peer-devices.ts). A router has a handful of devices; 1,024 leaves room for a router with many subnets.
  {
    name: 'peer_devs',
    kernelType: HASH,
    bpftoolType: 'hash',
    keySize: 4,
    valueSize: 4,
    maxEntries: 1024,
    flags: NO_PREALLOC,
  },
];

export const PROGRAM_NAMES = ['gw_ingress', 'gw_egress', 'int_ingress', 'int_egress'] as const;
export type ProgramName = (typeof PROGRAM_NAMES)[number];

/**
 * tc filters of this backend carry this priority and handle on every device it attaches to: that is how it
 * finds, replaces and removes its own filters and nobody else's. The same number marks sfip's floating
 * addresses (their route metric), so one number says "sfip" everywhere.
 */
export const TC_PRIORITY = 24347;
export const TC_HANDLE = 1;

export type TcDirection = 'ingress' | 'egress';

/** Which program runs where: the gateway device's two hooks, and the same two on each internal device. */
export function programFor(role: 'gateway' | 'internal', direction: TcDirection): ProgramName {
  if (role === 'gateway') return direction === 'ingress' ? 'gw_ingress' : 'gw_egress';
  return direction === 'ingress' ? 'int_ingress' : 'int_egress';
}
