import { limitsKey, type BackendPlan, type DesiredRouter, type FloatingMapping } from '../types.js';
import { checkForwardingCapacity, floatingOfKey, forwardingEntries } from './forwarding.js';
import { PROGRAM_NAMES, programFor, type ProgramName, type TcDirection } from './layout.js';
import { nftSignature, renderTable, type MarkBits } from './nft.js';
import { generationName } from './object.js';
import { generationPaths } from './paths.js';
import {
  contentsGeneration,
  type EbpfActualRouter,
  type EbpfBatch,
  type EbpfState,
  type GenerationState,
} from './state.js';
import { chosenCapacity, entriesNeeded, keepsCapacity } from './capacity.js';
import { renderAttachBatch, type WantedAttachment } from './tc.js';
import { sameConfig, type RouterConfig } from './values.js';

export interface PlanSettings extends MarkBits {
  /** The most entries a router's maps may hold (the backend's `capacity` option); over it, a router is refused. */
  readonly capacity: number;
  /** The smallest maps a generation is built with (the backend's `minCapacity` option). */
  readonly minCapacity: number;
  /** The router's folder in bpffs. */
  readonly routerDir: string;
}

const DIRECTIONS: readonly TcDirection[] = ['ingress', 'egress'];

/**
 * The generation that carries the router: the live one while it is complete, built from the current object and
 * its size still fits `needed` (capacity.ts: a restart or resync with the same count keeps it, so no swap); else
 * the one the current object and the size chosen for `needed` name, found pinned or to be built.
 */
export function targetGeneration(state: EbpfState, needed: number, settings: PlanSettings) {
  const { minCapacity, capacity: maximum } = settings;
  const live = state.generations.find((g) => g.name === state.live);
  if (
    live?.capacity != null &&
    generationComplete(live) &&
    live.name === generationName(state.object, live.capacity) &&
    keepsCapacity(live.capacity, needed, minCapacity, maximum)
  ) {
    return { name: live.name, capacity: live.capacity, current: live };
  }
  const capacity = chosenCapacity(needed, minCapacity, maximum);
  const name = generationName(state.object, capacity);
  return { name, capacity, current: state.generations.find((g) => g.name === name) };
}

/**
 * Everything but map entries and addresses: generation, config, nft table, tc filters. `needed`: the entries the
 * router's maps must hold (a delta passes the count after it; its `desired` holds only the changed mappings).
 */
export function structureChanges(
  desired: DesiredRouter,
  actual: EbpfActualRouter,
  settings: PlanSettings,
  needed = entriesNeeded(desired.mappings.length, desired.forwardings),
) {
  const state = actual.ebpf;
  const { name: generation, capacity, current } = targetGeneration(state, needed, settings);
  // A complete generation the contents were not read from (one built and not yet swapped in when the agent died,
  // perhaps half filled) is built again: a difference against another generation's contents would leave it short.
  const build =
    !current ||
    !generationComplete(current) ||
    current.name !==
      contentsGeneration(
        state.live,
        state.generations.map((g) => g.name),
      );
  const config: RouterConfig = {
    gatewayIp: desired.gatewayIp,
    untrackMark: settings.untrackMark,
    hairpinMark: settings.hairpinMark,
    antiSpoofing: desired.antiSpoofing ?? true,
    portForwarding: (desired.forwardings ?? []).length > 0,
    fastPath: (state.fastPathAvailable ?? false) && (desired.fastPath ?? true),
    gatewayIfindex: state.gatewayIfindex ?? 0,
  };
  const configChanged = build || !current?.config || !sameConfig(current.config, config);
  const nft = sameList(state.nftSignature, nftSignature(desired, settings))
    ? null
    : renderTable(desired, settings);

  const wanted: WantedAttachment[] = [
    ...DIRECTIONS.map((direction) => ({
      device: desired.gatewayDevice,
      direction,
      program: programFor('gateway', direction),
    })),
    ...state.internalDevices.flatMap((device) =>
      DIRECTIONS.map((direction) => ({ device, direction, program: programFor('internal', direction) })),
    ),
  ];
  // Program ids of a generation that is about to be built are not known yet: everything is (re)attached.
  const ids = build ? {} : current.programIds;
  const hookOf = new Map(state.hooks.map((h) => [h.device, h]));
  const stale = wanted.filter((w) => {
    const id = ids[w.program];
    const attached = hookOf.get(w.device)?.attachments.find((a) => a.direction === w.direction);
    return id === undefined || attached?.programId !== id;
  });
  const wantedKeys = new Set(wanted.map((w) => `${w.device} ${w.direction}`));
  const detach = state.hooks.flatMap((h) =>
    h.attachments
      .filter((a) => !wantedKeys.has(`${a.device} ${a.direction}`))
      .map((a) => ({ device: a.device, direction: a.direction })),
  );
  const needClsact = [...new Set(stale.map((w) => w.device))].filter((d) => !hookOf.get(d)?.hasClsact);
  const paths = generationPaths(`${settings.routerDir}/${generation}`);
  const tc =
    stale.length + detach.length > 0 ? renderAttachBatch(stale, paths.program, needClsact, detach) : null;
  const dropGenerations = state.generations.map((g) => g.name).filter((g) => g !== generation);
  // Devices replaced (a new ifindex) or changed (a peer moved, a qdisc added) since the map was written follow
  // here; a router whose read knows nothing of them gets an empty map, so bpf_redirect, never a drop.
  const peers = listChanges(build ? [] : (state.peerMap ?? []), state.peerIfindexes ?? []);
  return { generation, capacity, build, config, configChanged, nft, tc, dropGenerations, peers };
}

/**
 * Pure: what to change so the kernel carries `desired`. Never rebuilds what is right: an agent that restarts
 * finds its generation, filters and table as it left them and plans nothing, so no packet notices.
 * `actual` is this backend's own read (RouterDataplane keeps it current across applies; for a delta, narrowed to
 * the addresses that change, and `needed` the entries the router holds once it is applied: see structureChanges).
 */
export function planEbpf(
  desired: DesiredRouter,
  actual: EbpfActualRouter,
  settings: PlanSettings,
  needed?: number,
): BackendPlan {
  const structure = structureChanges(desired, actual, settings, needed);
  const { build } = structure;
  // One walk over the mappings fills every wanted map (100,000 at scale: no array of pairs per map).
  const wantIn = new Map<string, string>();
  const wantOut = new Map<string, string>();
  const wantMacs = new Map<string, string>();
  const wantQos = new Map<string, string>();
  for (const m of desired.mappings) {
    wantIn.set(m.floatingIp, m.fixedIp);
    wantOut.set(m.fixedIp, m.floatingIp);
    if (m.fixedMac) wantMacs.set(m.fixedIp, m.fixedMac.toLowerCase());
    if (m.limits?.length) wantQos.set(m.floatingIp, limitsKey(m.limits));
  }
  // What the maps that will translate hold now: nothing when their generation is about to be built.
  const haveIn = build ? new Map<string, string>() : actual.inbound;
  const haveOut = build ? new Map<string, string>() : actual.outbound;
  const { change: inbound, unchanged: inboundUnchanged } = diffCounting(haveIn, wantIn);
  const outbound = diff(haveOut, wantOut);
  // Anti-spoofing: port MACs of fixed IPs with floating IPs, and the internal subnets.
  const macs = diff(build ? new Map() : (actual.macs ?? new Map()), wantMacs);
  const haveNets = build ? [] : actual.ebpf.internalNets;
  const internalNets = listChanges(haveNets, desired.internalCidrs);
  checkCapacity(haveIn, inbound, settings.capacity, desired.routerId);
  // QoS token buckets: against what the live maps hold (read back), or the removed mappings' limits (a delta).
  const qos = diff(build ? new Map<string, string>() : (actual.limits ?? new Map()), wantQos);

  // Port forwarding: the read's maps are never narrowed (forwardings are structure; a delta never changes them).
  const forwardings = desired.forwardings ?? [];
  checkForwardingCapacity(forwardings, settings.capacity, desired.routerId);
  const wantForward = forwardingEntries(forwardings);
  const haveForward = build
    ? { inbound: new Map<string, string>(), outbound: new Map<string, string>() }
    : { inbound: actual.ebpf.forwardIn ?? new Map(), outbound: actual.ebpf.forwardOut ?? new Map() };
  const forwardIn = diff(haveForward.inbound, wantForward.inbound);
  const forwardOut = diff(haveForward.outbound, wantForward.outbound);
  // A floating IP that loses its last forwarding loses its counters, as one that loses its mapping.
  const stillForwarded = new Set([...wantForward.inbound.keys()].map(floatingOfKey));
  const unforwarded = [...new Set([...haveForward.inbound.keys()].map(floatingOfKey))].filter(
    (fip) => !wantIn.has(fip) && !stillForwarded.has(fip),
  );

  // added/removed describe what packets see: compare with the maps that translate now.
  const added = desired.mappings.filter((m) => actual.inbound.get(m.floatingIp) !== m.fixedIp);
  const removed: FloatingMapping[] = [];
  // Nothing is removed when every entry translating now is wanted as it is (see diff): a restart's plan skips
  // this walk over 100,000 entries.
  if (build || inboundUnchanged < actual.inbound.size) {
    actual.inbound.forEach((fixedIp, floatingIp) => {
      if (wantIn.get(floatingIp) !== fixedIp) removed.push({ floatingIp, fixedIp } as FloatingMapping);
    });
  }

  const batch: EbpfBatch = {
    routerId: desired.routerId,
    generation: structure.generation,
    build,
    capacity: structure.capacity,
    inbound,
    outbound,
    macs,
    internalNets,
    forwardIn,
    forwardOut,
    qos,
    peerDevices: structure.peers,
    removeCounters: build ? [] : [...new Set([...inbound.remove, ...unforwarded])].sort(),
    config: structure.configChanged ? structure.config : null,
    nft: structure.nft,
    tc: structure.tc,
    dropGenerations: structure.dropGenerations,
  };
  const changed =
    build ||
    structure.configChanged ||
    structure.nft !== null ||
    structure.tc !== null ||
    structure.dropGenerations.length > 0 ||
    structure.peers.remove.length + structure.peers.set.length > 0 ||
    [inbound, outbound, macs, internalNets, forwardIn, forwardOut, qos].some(
      (d) => d.remove.length + d.set.length > 0,
    );

  return {
    target: desired,
    batch: changed ? JSON.stringify(batch) : null,
    rebuild: build || structure.nft !== null || structure.tc !== null,
    added,
    removed,
  };
}

export function generationComplete(g: GenerationState): boolean {
  return g.mapsMatch && PROGRAM_NAMES.every((p: ProgramName) => g.programIds[p] !== undefined);
}

/** What to remove from and set in `have` to make it `want` (see diffCounting). */
/** What to remove from and add to a short list (a router's subnets, its devices) holding `have` to hold `want`. */
export function listChanges<T>(have: readonly T[], want: readonly T[]): { remove: T[]; set: T[] } {
  return { remove: have.filter((x) => !want.includes(x)), set: want.filter((x) => !have.includes(x)) };
}

function diff(have: ReadonlyMap<string, string>, want: ReadonlyMap<string, string>) {
  return diffCounting(have, want).change;
}

/**
 * What to remove from and set in `have` to make it `want`, each sorted by key, and how many wanted entries `have`
 * holds as they are. Walked with forEach: a full pass diffs maps of 100,000 that are mostly equal, and spreading
 * them into arrays of pairs first cost more than the comparisons. `have` is walked only when some key of it may
 * be unwanted: keys are unique in both, so when as many wanted keys are held as `have` has keys, each key held is
 * wanted (a restart, where the two are equal, skips a third of the lookups).
 */
function diffCounting(have: ReadonlyMap<string, string>, want: ReadonlyMap<string, string>) {
  const set: [string, string][] = [];
  let held = 0;
  want.forEach((v, k) => {
    const had = have.get(k);
    if (had !== undefined) held++;
    if (had !== v) set.push([k, v]);
  });
  const remove: string[] = [];
  if (held < have.size) {
    have.forEach((_, k) => {
      if (!want.has(k)) remove.push(k);
    });
  }
  remove.sort();
  set.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { change: { remove, set }, unchanged: want.size - set.length };
}

/** A full map is refused before anything is written, naming the first floating IP that would not fit. */
function checkCapacity(
  have: ReadonlyMap<string, string>,
  change: { remove: readonly string[]; set: readonly [string, string][] },
  capacity: number,
  routerId: string,
): void {
  let size = have.size - change.remove.length;
  for (const [floatingIp, fixedIp] of change.set) {
    if (have.has(floatingIp)) continue;
    size++;
    if (size > capacity) {
      throw new Error(
        `Floating IP ${floatingIp} (fixed IP ${fixedIp}) does not fit: the eBPF maps of router ${routerId} hold at most ${capacity} floating IPs`,
      );
    }
  }
}

function sameList(a: readonly string[] | null, b: readonly string[]): boolean {
  return a !== null && a.length === b.length && a.every((x, i) => x === b[i]);
}
