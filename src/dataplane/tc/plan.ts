import { badRequest } from '../../model/errors.js';
import {
  limitsKey,
  type BackendPlan,
  type BackendState,
  type DesiredRouter,
  type FloatingMapping,
} from '../types.js';
import { describeNamespace } from '../common/gateway-addresses.js';
import { joinSteps, type BatchStep } from './batch.js';
import { checkTarget, netfilterNames, routerCookie } from './naming.js';
import type { TcOptions } from './options.js';
import { policeText } from './police.js';
import {
  hairpinRules,
  jumpKey,
  jumpRules,
  renderNetfilterDelta,
  renderNetfilterFull,
  structuralChains,
} from './render-netfilter.js';
import { renderIpsetDelta, renderIpsetFull } from './render-ipset.js';
import {
  deleteNodeLine,
  deletePriorityLine,
  deleteTableLine,
  gatewayParent,
  generationLines,
  INTERNAL_EGRESS,
  INTERNAL_INGRESS,
  leafLine,
  qdiscSetupLines,
  rootLinkLine,
  type FilterContext,
} from './render-tc.js';
import type { DeviceState, OwnedLeaf, TreeState } from './tc-state.js';
import {
  gateTargetsOf,
  layoutTree,
  skeletonOf,
  type TreeKind,
  type U32Layout,
  type U32Leaf,
} from './u32-layout.js';

/** What the tc backend read from iptables and ipset for one router. */
export interface NetfilterState {
  /** sfip's chains that exist, with their rules. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** How often each of sfip's jump rules appears (see jumpKey). */
  readonly jumps: ReadonlyMap<string, number>;
  /** sfip's sets that exist, with their members. */
  readonly sets: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface TcActualRouter extends BackendState {
  /** The gateway device first, then internal devices (those holding one of the router's subnets, and any device
   *  that still carries this router's hairpin filters). */
  readonly devices: readonly DeviceState[];
  /** Devices whose addresses lie in the router's internal subnets. */
  readonly internalDevices: readonly string[];
  readonly netfilter: NetfilterState;
}

/** A tree sfip wants somewhere. */
export interface TreeSlot {
  readonly kind: TreeKind;
  readonly parent: string;
  readonly priority: number;
  /** Entered only by packets carrying the hairpin mark. */
  readonly gated: boolean;
}

export function treeSlots(role: 'gateway' | 'internal', options: TcOptions): TreeSlot[] {
  // Each tree has its own priority: u32 instances on one qdisc share their tables, and the kernel lists every table
  // of the same priority under each of them, so a shared priority would mix the ingress and egress trees.
  if (role === 'gateway') {
    return [
      {
        kind: 'inbound',
        parent: gatewayParent('ingress', options.egress),
        priority: options.priority,
        gated: false,
      },
      {
        kind: 'outbound',
        parent: gatewayParent('egress', options.egress),
        priority: options.priority + 1,
        gated: false,
      },
    ];
  }
  return [
    { kind: 'hairpin', parent: INTERNAL_INGRESS, priority: options.priority, gated: false },
    { kind: 'hairpinSource', parent: INTERNAL_EGRESS, priority: options.priority + 1, gated: true },
  ];
}

/** The refusal when someone else's qdisc or filters sit on a device. Nothing has been changed. */
export function foreignQdiscError(desired: DesiredRouter, devices: readonly DeviceState[]): Error {
  const found = devices
    .filter((d) => d.foreign.length > 0)
    .map((d) => `${d.device}: ${d.foreign.join(', ')}`)
    .join('; ');
  return badRequest(
    `tc configuration sfip did not make is already in ${describeNamespace(desired.namespace)} (${found}); the tc ` +
      `backend leaves it alone and changed nothing. Remove it, or set the tc backend option takeOverForeignQdisc ` +
      `to let sfip replace it.`,
  );
}

function context(device: string, slot: TreeSlot, desired: DesiredRouter, options: TcOptions): FilterContext {
  return {
    device,
    parent: slot.parent,
    priority: slot.priority,
    cookie: routerCookie(desired.routerId),
    hairpinMark: options.hairpinMark,
  };
}

const sameHash = (a: { octet: number; offset: number } | null, b: { octet: number; offset: number } | null) =>
  a === b || (a !== null && b !== null && a.octet === b.octet && a.offset === b.offset);

/** Why a device needs its qdiscs rebuilt rather than patched; empty when patching works. */
export function deviceRebuildReasons(
  device: DeviceState,
  desired: DesiredRouter,
  options: TcOptions,
): string[] {
  const reasons: string[] = [];
  const layout = device.role === 'internal' ? 'clsact' : options.egress;
  if (device.layout !== layout) reasons.push(`layout is ${device.layout}, want ${layout}`);
  if (device.foreign.length > 0) reasons.push('taking over foreign configuration');
  for (const slot of treeSlots(device.role, options)) {
    const tree = device.trees.find((t) => t.kind === slot.kind);
    if (!tree || tree.parent !== slot.parent || tree.priority !== slot.priority) {
      reasons.push(`no ${slot.kind} tree`);
      continue;
    }
    reasons.push(...tree.problems.map((p) => `${slot.kind}: ${p}`));
    // The kernel keeps a replaced filter's selector, so a root link with another hash cannot be swapped.
    const want = layoutTree(slot.kind, desired.mappings, 0, options);
    if (tree.rootLink && !sameHash(tree.rootLink.hash, want.entryHash)) {
      reasons.push(`${slot.kind}: root link hashes differently (lookup changed)`);
    }
  }
  return reasons;
}

function teardownLines(device: DeviceState): string[] {
  const lines: string[] = [];
  const ingress = device.qdiscs.find((q) => q.parent === 'ffff:fff1');
  if (ingress)
    lines.push(`qdisc del dev ${device.device} ${ingress.kind === 'clsact' ? 'clsact' : 'ingress'}`);
  const root = device.qdiscs.find((q) => q.root);
  if (device.role === 'gateway' && root && root.handle !== '0:')
    lines.push(`qdisc del dev ${device.device} root`);
  return lines;
}

/** Fresh qdiscs, then generation 0 of each tree, then the root links that make them live. */
function deviceRebuildLines(device: DeviceState, desired: DesiredRouter, options: TcOptions): string[] {
  const lines = [...teardownLines(device), ...qdiscSetupLines(device.device, options.egress, device.role)];
  const roots: string[] = [];
  for (const slot of treeSlots(device.role, options)) {
    const c = context(device.device, slot, desired, options);
    const layout = layoutTree(slot.kind, desired.mappings, 0, options);
    lines.push(...generationLines(c, layout));
    roots.push(rootLinkLine(c, layout, slot.gated));
  }
  return [...lines, ...roots];
}

/**
 * Tables in an order the kernel lets them be deleted: a table only after every table that links to it (deleting a
 * table drops its links). Gates make the hairpin tree a graph, not a tree, hence a real topological order.
 */
export function deletionOrder(
  tables: readonly number[],
  edges: readonly (readonly [number, number])[],
): number[] {
  const inSet = new Set(tables);
  const parents = new Map<number, Set<number>>(tables.map((t) => [t, new Set<number>()]));
  for (const [from, to] of edges)
    if (inSet.has(from) && inSet.has(to) && from !== to) parents.get(to)!.add(from);
  const order: number[] = [];
  const done = new Set<number>();
  while (order.length < tables.length) {
    const ready = tables.filter((t) => !done.has(t) && [...parents.get(t)!].every((p) => done.has(p)));
    if (ready.length === 0) throw new Error('u32 tables link in a cycle');
    for (const t of ready) {
      done.add(t);
      order.push(t);
    }
  }
  return order;
}

function liveEdges(tree: TreeState): (readonly [number, number])[] {
  return [
    ...tree.links.map((l) => [l.table, l.target] as const),
    ...tree.leaves.filter((l) => l.kind === 'gate').map((l) => [l.table, l.target!] as const),
  ];
}

function actualSkeleton(tree: TreeState): string {
  return skeletonOf({
    tables: tree.tables,
    links: tree.links,
    entryTable: tree.rootLink?.target ?? -1,
    entryHash: tree.rootLink?.hash ?? null,
    gateTargets: gateTargetsOf(tree.leaves),
  });
}

const leafId = (kind: string, key: string) => `${kind} ${key}`;

function sameContent(have: OwnedLeaf, want: U32Leaf): boolean {
  if (want.kind === 'gate')
    return have.target === want.target && sameHash(have.targetHash ?? null, want.targetHash ?? null);
  return have.to === want.entry.to && policeText(have.police) === policeText(want.entry.police);
}

/** Leaf changes inside an unchanged tree: replace in place, add into free node ids, delete the rest. */
function leafDeltaLines(c: FilterContext, want: U32Layout, tree: TreeState): string[] {
  const have = new Map(tree.leaves.map((l) => [leafId(l.kind, l.key), l]));
  const wanted = new Map(want.leaves.map((l) => [leafId(l.kind, l.entry.key), l]));
  const lines: string[] = [];
  const used = new Map<string, Set<number>>();
  const bucketKey = (t: number, b: number) => `${t}:${b}`;
  for (const l of tree.leaves) {
    const k = bucketKey(l.table, l.bucket);
    used.set(k, (used.get(k) ?? new Set()).add(l.node));
  }
  for (const l of tree.leaves) {
    const w = wanted.get(leafId(l.kind, l.key));
    if (!w || w.table !== l.table || w.bucket !== l.bucket) lines.push(deleteNodeLine(c, l.handle));
  }
  for (const w of want.leaves) {
    const h = have.get(leafId(w.kind, w.entry.key));
    if (h && h.table === w.table && h.bucket === w.bucket) {
      if (!sameContent(h, w)) lines.push(leafLine(c, 'replace', { ...w, node: h.node }));
      continue;
    }
    const k = bucketKey(w.table, w.bucket);
    const taken = used.get(k) ?? new Set<number>();
    let node = 1;
    while (taken.has(node)) node++;
    if (node > 0xfff) throw new Error(`u32 bucket ${k} is full`);
    used.set(k, taken.add(node));
    lines.push(leafLine(c, 'add', { ...w, node }));
  }
  return lines;
}

interface TcLines {
  readonly now: string[];
  /** Deletions of a generation just swapped out, run once the kernel let go of it (see TreeState.stale). */
  readonly settled: string[];
}

function devicePatchLines(device: DeviceState, desired: DesiredRouter, options: TcOptions): TcLines {
  const now: string[] = [];
  const settled: string[] = [];
  for (const slot of treeSlots(device.role, options)) {
    const tree = device.trees.find((t) => t.kind === slot.kind)!;
    const c = context(device.device, slot, desired, options);
    // Left by an earlier swap whose deletion the kernel refused at the time.
    const stale = deletionOrder(
      tree.stale.map((t) => t.id),
      tree.staleEdges,
    ).map((id) => deleteTableLine(c, id));
    const generation = tree.generation ?? 0;
    const want = layoutTree(slot.kind, desired.mappings, generation, options);
    if (skeletonOf({ ...want, gateTargets: gateTargetsOf(want.leaves) }) === actualSkeleton(tree)) {
      now.push(...leafDeltaLines(c, want, tree));
      settled.push(...stale);
      continue;
    }
    // A swap builds in the stale tables' ids, so they must go first.
    now.push(...stale);
    // The tree changed shape (a bucket filled up or emptied): build the other generation beside the live one, swap
    // the root link in one kernel operation, then delete the old generation once the kernel released it.
    const next = layoutTree(slot.kind, desired.mappings, generation === 0 ? 1 : 0, options);
    now.push(...generationLines(c, next), rootLinkLine(c, next, slot.gated, tree.rootLink!.handle));
    settled.push(
      ...deletionOrder(
        tree.tables.map((t) => t.id),
        liveEdges(tree),
      ).map((id) => deleteTableLine(c, id)),
    );
  }
  return { now, settled };
}

/** A device that carries this router's hairpin filters but no longer holds one of its subnets. */
function staleDeviceLines(device: DeviceState, options: TcOptions): string[] {
  if (device.foreign.length === 0) return teardownLines(device);
  return treeSlots('internal', options)
    .filter((slot) => device.trees.some((t) => t.kind === slot.kind))
    .map((slot) => deletePriorityLine(device.device, slot.parent, slot.priority));
}

function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);
}

/** True when iptables holds exactly sfip's structural chains and one of each jump. */
export function netfilterStructureMatches(desired: DesiredRouter, netfilter: NetfilterState): boolean {
  const n = netfilterNames(desired.routerId);
  return (
    structuralChains(desired).every((c) => sameRules(netfilter.chains.get(c.chain), c.rules)) &&
    netfilter.chains.has(n.hairpinDnatChain) &&
    jumpRules(n).every((j) => netfilter.jumps.get(jumpKey(j)) === 1)
  );
}

function desiredSets(desired: DesiredRouter): Map<string, string[]> {
  const n = netfilterNames(desired.routerId);
  return new Map([
    [n.fixedSet, desired.mappings.map((m) => m.fixedIp as string)],
    [n.floatingSet, desired.mappings.map((m) => m.floatingIp as string)],
  ]);
}

const wantedDevice = (actual: TcActualRouter, d: DeviceState) =>
  d.role === 'gateway' || actual.internalDevices.includes(d.device);

/** Everything but the floating IPs themselves is as `desired` wants it. */
export function structureMatches(
  desired: DesiredRouter,
  actual: TcActualRouter,
  options: TcOptions,
): boolean {
  const n = netfilterNames(desired.routerId);
  return (
    actual.devices.every(
      (d) => wantedDevice(actual, d) && deviceRebuildReasons(d, desired, options).length === 0,
    ) &&
    netfilterStructureMatches(desired, actual.netfilter) &&
    actual.netfilter.sets.has(n.fixedSet) &&
    actual.netfilter.sets.has(n.floatingSet)
  );
}

export interface TcPlanDetail {
  readonly steps: BatchStep[];
  readonly rebuild: boolean;
}

/**
 * The steps that bring one router from `actual` to `desired`, in a safe order: addresses are untracked (ipset) and
 * hairpin rules exist before tc starts translating them; tc stops before they are tracked again. Pure.
 */
export function planSteps(desired: DesiredRouter, actual: TcActualRouter, options: TcOptions): TcPlanDetail {
  checkTarget(desired);
  if (actual.devices.some((d) => d.foreign.length > 0) && !options.takeOverForeignQdisc) {
    throw foreignQdiscError(desired, actual.devices);
  }
  const n = netfilterNames(desired.routerId);
  const sets = desiredSets(desired);
  const setsPresent = [...sets.keys()].every((s) => actual.netfilter.sets.has(s));
  const ipset = setsPresent
    ? renderIpsetDelta(sets, actual.netfilter.sets)
    : { additions: renderIpsetFull(sets), removals: null };
  const structureOk = netfilterStructureMatches(desired, actual.netfilter);
  const hairpin = hairpinRules(n, desired.mappings);
  const iptables = structureOk
    ? renderNetfilterDelta(hairpin, actual.netfilter.chains)
    : {
        additions: renderNetfilterFull(
          [...structuralChains(desired), ...hairpin],
          jumpRules(n),
          actual.netfilter.jumps,
        ),
        removals: null,
      };
  let rebuilt = false;
  const tcLines: string[] = [];
  const settledLines: string[] = [];
  for (const device of actual.devices) {
    if (!wantedDevice(actual, device)) {
      tcLines.push(...staleDeviceLines(device, options));
    } else if (deviceRebuildReasons(device, desired, options).length > 0) {
      rebuilt = true;
      tcLines.push(...deviceRebuildLines(device, desired, options));
    } else {
      const lines = devicePatchLines(device, desired, options);
      tcLines.push(...lines.now);
      settledLines.push(...lines.settled);
    }
  }
  const steps: BatchStep[] = [
    { tool: 'ipset', text: ipset.additions ?? '' },
    { tool: 'iptables', text: iptables.additions ?? '' },
    { tool: 'tc', text: tcLines.length ? tcLines.join('\n') + '\n' : '' },
    { tool: 'tcSettled', text: settledLines.length ? settledLines.join('\n') + '\n' : '' },
    { tool: 'iptables', text: iptables.removals ?? '' },
    { tool: 'ipset', text: ipset.removals ?? '' },
  ];
  return { steps: steps.filter((s) => s.text !== ''), rebuild: rebuilt || !structureOk || !setsPresent };
}

/**
 * Which floating IPs change: a new or moved translation, or (when the kernel's limits are known) a limit change,
 * which replaces that floating IP's leaves and nothing else.
 */
export function mappingDelta(
  desired: DesiredRouter,
  inbound: ReadonlyMap<string, string>,
  limits?: ReadonlyMap<string, string>,
): { added: FloatingMapping[]; removed: FloatingMapping[] } {
  const want = new Map(desired.mappings.map((m) => [m.floatingIp as string, m.fixedIp as string]));
  const limitsChanged = (m: FloatingMapping) =>
    limits !== undefined && (limits.get(m.floatingIp) ?? '') !== limitsKey(m.limits);
  return {
    added: desired.mappings.filter((m) => inbound.get(m.floatingIp) !== m.fixedIp || limitsChanged(m)),
    removed: [...inbound]
      .filter(([fip, fixed]) => want.get(fip) !== fixed)
      .map(([fip, fixed]) => ({ floatingIp: fip, fixedIp: fixed }) as FloatingMapping),
  };
}

export function planTc(desired: DesiredRouter, actual: TcActualRouter, options: TcOptions): BackendPlan {
  const { steps, rebuild } = planSteps(desired, actual, options);
  const { added, removed } = mappingDelta(desired, actual.inbound, actual.limits);
  return {
    target: desired,
    batch: joinSteps(steps),
    rebuild,
    added,
    removed,
  };
}
