import { badRequest } from '../../model/errors.js';
import type { ActualRouter, DesiredRouter, FloatingMapping, Plan } from '../types.js';
import { describeNamespace } from '../common/gateway-addresses.js';
import { joinSteps, type BatchStep } from './batch.js';
import { netfilterNames, routerCookie } from './naming.js';
import type { TcOptions } from './options.js';
import {
  hairpinRules,
  jumpKey,
  jumpRules,
  renderNetfilterDelta,
  renderNetfilterFull,
  structuralChains,
  type ChainRules,
} from './render-netfilter.js';
import { renderIpsetDelta, renderIpsetFull } from './render-ipset.js';
import {
  deleteNodeLine,
  deleteTableLine,
  filterParent,
  generationLines,
  hashKeyMask,
  leafLine,
  qdiscSetupLines,
  rootLinkLine,
  type FilterContext,
} from './render-tc.js';
import type { DirectionState, TcDeviceState } from './tc-state.js';
import { KEY_OFFSET, layoutDirection, skeletonOf, type Direction, type U32Layout } from './u32-layout.js';

/** What the tc backend read from iptables and ipset for one router. */
export interface NetfilterState {
  /** sfip's chains that exist, with their rules. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** How often each of sfip's jump rules appears (see jumpKey). */
  readonly jumps: ReadonlyMap<string, number>;
  /** sfip's sets that exist, with their members. */
  readonly sets: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface TcActualRouter extends ActualRouter {
  readonly device: TcDeviceState;
  readonly netfilter: NetfilterState;
}

export function isTcActual(actual: ActualRouter): actual is TcActualRouter {
  return 'device' in actual && 'netfilter' in actual;
}

const DIRECTIONS: readonly Direction[] = ['inbound', 'outbound'];

/** The refusal when someone else's qdisc or filters sit on the gateway device. Nothing has been changed. */
export function foreignQdiscError(desired: DesiredRouter, foreign: readonly string[]): Error {
  return badRequest(
    `gateway device ${desired.gatewayDevice} in ${describeNamespace(desired.namespace)} already carries tc ` +
      `configuration sfip did not make (${foreign.join('; ')}); the tc backend leaves it alone and changed nothing. ` +
      `Remove it, or set the tc backend option takeOverForeignQdisc to let sfip replace it.`,
  );
}

/** Why tc needs its qdiscs rebuilt rather than patched; empty when patching works. */
export function tcRebuildReasons(
  device: TcDeviceState,
  desired: DesiredRouter,
  options: TcOptions,
): string[] {
  const reasons: string[] = [];
  if (device.layout !== options.egress) reasons.push(`layout is ${device.layout}, want ${options.egress}`);
  if (device.foreign.length > 0) reasons.push('taking over foreign configuration');
  for (const direction of DIRECTIONS) {
    const state = device[direction];
    if (!state) {
      reasons.push(`no ${direction} filters`);
      continue;
    }
    reasons.push(...state.problems.map((p) => `${direction}: ${p}`));
    // The kernel keeps a replaced filter's selector, so a root link with another hash key cannot be swapped.
    const want = layoutDirection(direction, desired.mappings, 0, options);
    const link = state.rootLink;
    const wantMask = want.entryHashOctet === null ? 0 : Number(hashKeyMask(want.entryHashOctet));
    const wantOffset = want.entryHashOctet === null ? 0 : KEY_OFFSET[direction];
    if (link && (link.hashMask !== wantMask || (wantMask !== 0 && link.hashOffset !== wantOffset))) {
      reasons.push(`${direction}: root link hashes differently (lookup changed)`);
    }
  }
  return reasons;
}

function context(
  desired: DesiredRouter,
  options: TcOptions,
  direction: Direction,
  parent?: string,
): FilterContext {
  return {
    device: desired.gatewayDevice,
    parent: parent ?? filterParent(direction, options.egress),
    priority: options.priority,
    direction,
    cookie: routerCookie(desired.routerId),
  };
}

function teardownLines(device: TcDeviceState, gatewayDevice: string): string[] {
  const lines: string[] = [];
  const ingress = device.qdiscs.find((q) => q.parent === 'ffff:fff1');
  if (ingress)
    lines.push(`qdisc del dev ${gatewayDevice} ${ingress.kind === 'clsact' ? 'clsact' : 'ingress'}`);
  const root = device.qdiscs.find((q) => q.root);
  if (root && root.handle !== '0:') lines.push(`qdisc del dev ${gatewayDevice} root`);
  return lines;
}

/** Fresh qdiscs, then generation 0 of both directions, then the root links that make them live. */
function tcRebuildLines(desired: DesiredRouter, device: TcDeviceState, options: TcOptions): string[] {
  const lines = [
    ...teardownLines(device, desired.gatewayDevice),
    ...qdiscSetupLines(desired.gatewayDevice, options.egress),
  ];
  const roots: string[] = [];
  for (const direction of DIRECTIONS) {
    const c = context(desired, options, direction);
    const layout = layoutDirection(direction, desired.mappings, 0, options);
    lines.push(...generationLines(c, layout));
    roots.push(rootLinkLine(c, layout));
  }
  return [...lines, ...roots];
}

/** Tables of the live generation, parents before children: the order in which the kernel lets them be deleted. */
function tablesTopDown(state: DirectionState): number[] {
  const children = new Map<number, number[]>();
  for (const l of state.links) children.set(l.table, [...(children.get(l.table) ?? []), l.target]);
  const order: number[] = [];
  const seen = new Set<number>();
  const visit = (id: number) => {
    if (seen.has(id)) return;
    seen.add(id);
    order.push(id);
    for (const child of children.get(id) ?? []) visit(child);
  };
  if (state.rootLink) visit(state.rootLink.target);
  for (const t of state.tables) visit(t.id);
  return order;
}

/** 0xff -> 0 (last octet), 0xff00 -> 1, ...; 0 (a plain jump) -> null; anything else -> NaN, which never matches. */
function octetOfMask(mask: number): number | null {
  if (mask === 0) return null;
  for (let octet = 0; octet < 4; octet++) if (mask === 0xff * 2 ** (8 * octet)) return octet;
  return Number.NaN;
}

function actualSkeleton(state: DirectionState): string {
  return skeletonOf({
    tables: state.tables,
    links: state.links.map((l) => ({ ...l, hashOctet: octetOfMask(l.hashMask) })),
    entryTable: state.rootLink?.target ?? -1,
    entryHashOctet: state.rootLink ? octetOfMask(state.rootLink.hashMask) : null,
  });
}

/** Leaf-level changes inside an unchanged tree: replace in place, add into free node ids, delete the rest. */
function leafDeltaLines(c: FilterContext, want: U32Layout, state: DirectionState): string[] {
  const have = new Map(state.leaves.map((l) => [l.key, l]));
  const wanted = new Map(want.leaves.map((l) => [l.entry.key as string, l]));
  const lines: string[] = [];
  const used = new Map<string, Set<number>>();
  const bucketKey = (t: number, b: number) => `${t}:${b}`;
  for (const l of state.leaves) {
    const k = bucketKey(l.table, l.bucket);
    used.set(k, (used.get(k) ?? new Set()).add(l.node));
  }
  for (const l of state.leaves) {
    const w = wanted.get(l.key);
    if (!w || w.table !== l.table || w.bucket !== l.bucket) {
      lines.push(deleteNodeLine(c, l.handle));
    }
  }
  for (const w of want.leaves) {
    const h = have.get(w.entry.key);
    if (h && h.table === w.table && h.bucket === w.bucket) {
      if (h.to !== w.entry.to) lines.push(leafLine(c, 'replace', { ...w, node: h.node }));
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

function tcPatchLines(desired: DesiredRouter, device: TcDeviceState, options: TcOptions): string[] {
  const lines: string[] = [];
  for (const direction of DIRECTIONS) {
    const state = device[direction]!;
    const c = context(desired, options, direction, state.parent);
    const generation = state.generation ?? 0;
    const want = layoutDirection(direction, desired.mappings, generation, options);
    if (skeletonOf(want) === actualSkeleton(state)) {
      lines.push(...leafDeltaLines(c, want, state));
      continue;
    }
    // The tree changed shape (a bucket filled up or emptied): build the other generation beside the live one, swap
    // the root link in one kernel operation, then delete the old generation.
    const next = layoutDirection(direction, desired.mappings, generation === 0 ? 1 : 0, options);
    lines.push(...generationLines(c, next), rootLinkLine(c, next, state.rootLink!.handle));
    lines.push(...tablesTopDown(state).map((id) => deleteTableLine(c, id)));
  }
  return lines;
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
    netfilter.chains.has(n.hairpinSnatChain) &&
    jumpRules(n).every((j) => netfilter.jumps.get(jumpKey(j)) === 1)
  );
}

/** Everything but the floating IPs themselves is as `desired` wants it. */
export function structureMatches(
  desired: DesiredRouter,
  device: TcDeviceState,
  netfilter: NetfilterState,
  options: TcOptions,
): boolean {
  const n = netfilterNames(desired.routerId);
  return (
    tcRebuildReasons(device, desired, options).length === 0 &&
    netfilterStructureMatches(desired, netfilter) &&
    netfilter.sets.has(n.fixedSet) &&
    netfilter.sets.has(n.floatingSet)
  );
}

function desiredSets(desired: DesiredRouter): Map<string, string[]> {
  const n = netfilterNames(desired.routerId);
  return new Map([
    [n.fixedSet, desired.mappings.map((m) => m.fixedIp as string)],
    [n.floatingSet, desired.mappings.map((m) => m.floatingIp as string)],
  ]);
}

export interface TcPlanDetail {
  readonly steps: BatchStep[];
  readonly rebuild: boolean;
}

/** The steps that bring one router from `actual` to `desired`, in a safe order. Pure. */
export function planSteps(desired: DesiredRouter, actual: TcActualRouter, options: TcOptions): TcPlanDetail {
  if (actual.device.foreign.length > 0 && !options.takeOverForeignQdisc) {
    throw foreignQdiscError(desired, actual.device.foreign);
  }
  const n = netfilterNames(desired.routerId);
  const hairpin: ChainRules[] = hairpinRules(n, desired.mappings);
  const sets = desiredSets(desired);
  const setsPresent = [...sets.keys()].every((s) => actual.netfilter.sets.has(s));
  const ipset = setsPresent
    ? renderIpsetDelta(sets, actual.netfilter.sets)
    : { additions: renderIpsetFull(sets), removals: null };
  const structureOk = netfilterStructureMatches(desired, actual.netfilter);
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
  const tcRebuild = tcRebuildReasons(actual.device, desired, options).length > 0;
  const tcLines = tcRebuild
    ? tcRebuildLines(desired, actual.device, options)
    : tcPatchLines(desired, actual.device, options);
  const steps: BatchStep[] = [
    { tool: 'ipset', text: ipset.additions ?? '' },
    { tool: 'iptables', text: iptables.additions ?? '' },
    { tool: 'tc', text: tcLines.length ? tcLines.join('\n') + '\n' : '' },
    { tool: 'iptables', text: iptables.removals ?? '' },
    { tool: 'ipset', text: ipset.removals ?? '' },
  ].filter((s) => s.text !== '') as BatchStep[];
  return { steps, rebuild: tcRebuild || !structureOk || !setsPresent };
}

export function mappingDelta(
  desired: DesiredRouter,
  inbound: ReadonlyMap<string, string>,
): { added: FloatingMapping[]; removed: FloatingMapping[] } {
  const want = new Map(desired.mappings.map((m) => [m.floatingIp as string, m.fixedIp as string]));
  return {
    added: desired.mappings.filter((m) => inbound.get(m.floatingIp) !== m.fixedIp),
    removed: [...inbound]
      .filter(([fip, fixed]) => want.get(fip) !== fixed)
      .map(([fip, fixed]) => ({ floatingIp: fip, fixedIp: fixed }) as FloatingMapping),
  };
}

export function planTc(desired: DesiredRouter, actual: TcActualRouter, options: TcOptions): Plan {
  const { steps, rebuild } = planSteps(desired, actual, options);
  const wantAddresses = new Set<string>(desired.mappings.map((m) => m.floatingIp));
  const { added, removed } = mappingDelta(desired, actual.inbound);
  return {
    target: desired,
    batch: joinSteps(steps),
    rebuild,
    addAddresses: desired.mappings.map((m) => m.floatingIp).filter((ip) => !actual.addresses.has(ip)),
    removeAddresses: [...actual.addresses].filter((ip) => !wantAddresses.has(ip)).sort(),
    added,
    removed,
  };
}
