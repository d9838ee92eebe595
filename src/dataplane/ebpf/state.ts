import type { BackendState } from '../types.js';
import type { ProgramName } from './layout.js';
import type { BpfObject } from './object.js';
import type { DeviceHooks } from './tc.js';
import type { RouterConfig } from './values.js';

/** One generation folder of a router in bpffs, as read back. */
export interface GenerationState {
  readonly name: string;
  /** Every map is pinned with the layout the programs expect, the capacity-sized ones all of one size. */
  readonly mapsMatch: boolean;
  /**
   * The entries its capacity-sized maps were made with (fip2fixed's max_entries); null when that map is missing.
   * The generation belongs to the current object only when its name is generationName(object, capacity).
   */
  readonly capacity: number | null;
  /** Pinned programs by name, with the ids tc reports for them. */
  readonly programIds: Partial<Record<ProgramName, number>>;
  readonly config: RouterConfig | null;
}

/** What the eBPF backend found for a router, beyond the common fields plan() compares. */
export interface EbpfState {
  readonly object: BpfObject;
  readonly generations: readonly GenerationState[];
  /** The generation whose program runs on the gateway device's ingress hook; null when none is attached. */
  readonly live: string | null;
  /** Null when the router's nft table does not exist. */
  readonly nftSignature: readonly string[] | null;
  /** Every device of the namespace with its clsact qdisc and this backend's filters. */
  readonly hooks: readonly DeviceHooks[];
  /** Devices holding an address in one of the desired internal subnets. */
  readonly internalDevices: readonly string[];
  /** The gateway device's ifindex in the router's namespace (0 in records from before the fast path). */
  readonly gatewayIfindex?: number;
  /**
   * The ifindexes of the gateway and internal devices the fast path may redirect to a peer (peer-devices.ts), as
   * the devices are now, and those the live generation's `peer_devs` map holds. Absent: none.
   */
  readonly peerIfindexes?: readonly number[];
  readonly peerMap?: readonly number[];
  /** The kernel runs the fast path: the loaded object has it (fast-path.ts). Absent: no. */
  readonly fastPathAvailable?: boolean;
  /** The internal subnets the live generation's anti-spoofing knows (CIDR text). */
  readonly internalNets: readonly string[];
  /** The live generation's port-forwarding maps, as forwarding.ts writes them; absent: none read (empty). */
  readonly forwardIn?: ReadonlyMap<string, string>;
  readonly forwardOut?: ReadonlyMap<string, string>;
}

/**
 * The generation a read takes the map contents from: the live one (what translates packets now), else the first
 * pinned. Only that generation may be written by difference against them; any other is built again.
 */
export function contentsGeneration(live: string | null, names: readonly string[]): string | undefined {
  return live ?? names[0];
}

/** What the eBPF backend's read returns: the common fields, and what it found of its own objects. */
export interface EbpfActualRouter extends BackendState {
  readonly ebpf: EbpfState;
}

/**
 * The batch one apply runs, in order: build a generation if needed (maps, programs, contents), otherwise change
 * map entries in batches; then the nft table, then one tc batch (attach, swap, detach), then drop old
 * generations. Serialised as JSON into Plan.batch, so a plan can be logged and compared.
 */
export interface EbpfBatch {
  readonly routerId: string;
  /** Null: the generation the backend's current object and `capacity` name (resolved when applying). */
  readonly generation: string | null;
  /** Create the generation from scratch (its maps get every mapping; its programs are loaded). */
  readonly build: boolean;
  /** The generation's map size (entries): what a build creates its maps with. */
  readonly capacity: number;
  readonly inbound: { readonly remove: readonly string[]; readonly set: readonly [string, string][] };
  readonly outbound: { readonly remove: readonly string[]; readonly set: readonly [string, string][] };
  /** Anti-spoofing: fixed IP -> port MAC, and the internal subnets. */
  readonly macs: { readonly remove: readonly string[]; readonly set: readonly [string, string][] };
  readonly internalNets: { readonly remove: readonly string[]; readonly set: readonly string[] };
  /** Port forwarding: pf_in and pf_out entries (forwarding.ts). */
  readonly forwardIn: { readonly remove: readonly string[]; readonly set: readonly [string, string][] };
  readonly forwardOut: { readonly remove: readonly string[]; readonly set: readonly [string, string][] };
  /** QoS: floating IP -> the `limitsKey` of its token buckets (qos.ts); a set replaces all four. */
  readonly qos?: { readonly remove: readonly string[]; readonly set: readonly [string, string][] };
  /** Fast path: `peer_devs` ifindexes (peer-devices.ts). Absent in batches from before it: nothing to change. */
  readonly peerDevices?: { readonly remove: readonly number[]; readonly set: readonly number[] };
  /** Floating IPs whose counters go with them. */
  readonly removeCounters: readonly string[];
  readonly config: RouterConfig | null;
  readonly nft: string | null;
  readonly tc: string | null;
  readonly dropGenerations: readonly string[];
}

/** A batch as a reader wants to see it (logs, golden files): one line per change, nft and tc text verbatim. */
export function formatEbpfBatch(batch: EbpfBatch): string {
  const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
  const lines = [
    `router ${batch.routerId}`,
    `generation ${batch.generation ?? '(current)'}${batch.build ? ` (build, capacity ${batch.capacity})` : ''}`,
    ...(batch.config
      ? [
          `config gateway ${batch.config.gatewayIp} untrack ${hex(batch.config.untrackMark)} hairpin ${hex(batch.config.hairpinMark)} anti-spoofing ${batch.config.antiSpoofing ? 'on' : 'off'} port-forwarding ${batch.config.portForwarding ? 'on' : 'off'} fast-path ${batch.config.fastPath ? 'on' : 'off'} gateway-ifindex ${batch.config.gatewayIfindex}`,
        ]
      : []),
    ...batch.inbound.remove.map((k) => `fip2fixed delete ${k}`),
    ...batch.inbound.set.map(([k, v]) => `fip2fixed set ${k} -> ${v}`),
    ...batch.outbound.remove.map((k) => `fixed2fip delete ${k}`),
    ...batch.outbound.set.map(([k, v]) => `fixed2fip set ${k} -> ${v}`),
    ...batch.macs.remove.map((k) => `fixed_macs delete ${k}`),
    ...batch.macs.set.map(([k, v]) => `fixed_macs set ${k} -> ${v}`),
    ...batch.internalNets.remove.map((k) => `internal_nets delete ${k}`),
    ...batch.internalNets.set.map((k) => `internal_nets set ${k}`),
    ...batch.forwardIn.remove.map((k) => `pf_in delete ${k}`),
    ...batch.forwardIn.set.map(([k, v]) => `pf_in set ${k} -> ${v}`),
    ...batch.forwardOut.remove.map((k) => `pf_out delete ${k}`),
    ...batch.forwardOut.set.map(([k, v]) => `pf_out set ${k} -> ${v}`),
    ...(batch.qos?.remove ?? []).map((k) => `qos delete ${k}`),
    ...(batch.qos?.set ?? []).map(([k, v]) => `qos set ${k} -> ${v}`),
    ...(batch.peerDevices?.remove ?? []).map((i) => `peer_devs delete ${i}`),
    ...(batch.peerDevices?.set ?? []).map((i) => `peer_devs set ${i}`),
    ...batch.removeCounters.map((k) => `counters delete ${k}`),
    ...(batch.nft ? ['--- nft -f', batch.nft.trimEnd()] : []),
    ...(batch.tc ? ['--- tc -batch', batch.tc.trimEnd()] : []),
    ...batch.dropGenerations.map((g) => `drop generation ${g}`),
  ];
  return lines.join('\n') + '\n';
}
