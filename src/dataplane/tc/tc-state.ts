import { isIPv4 } from '../../model/ipv4.js';
import type { TcOptions } from './options.js';
import type { FilterState, NodeInfo, QdiscInfo, TableInfo } from './parse-tc.js';
import { isPoliceCookieOf, policeLimitsOfActions, type PoliceLimit } from './police.js';
import {
  DESTINATION_OFFSET,
  generationOfTable,
  SOURCE_OFFSET,
  type HashKey,
  type LeafKind,
  type TreeKind,
  type U32Link,
} from './u32-layout.js';

/** What sfip finds on a device, interpreted: whose objects they are and which generation of each tree is live. */

export interface OwnedLeaf {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  readonly handle: string;
  readonly kind: LeafKind;
  readonly key: string;
  /** nat leaves: the address the key becomes. */
  readonly to: string;
  /** The rate limits policed before the translation (empty for none). */
  readonly police: readonly PoliceLimit[];
  /** gate leaves: where they jump. */
  readonly target?: number;
  readonly targetHash?: HashKey | null;
  readonly packets: number;
  readonly bytes: number;
}

export interface RootLink {
  readonly handle: string;
  readonly target: number;
  readonly hash: HashKey | null;
  /** Entered only by packets carrying the hairpin mark. */
  readonly gated: boolean;
}

export interface TreeState {
  readonly kind: TreeKind;
  readonly parent: string;
  readonly priority: number;
  readonly tables: readonly TableInfo[];
  readonly rootLink: RootLink | undefined;
  readonly links: readonly U32Link[];
  readonly leaves: readonly OwnedLeaf[];
  readonly generation: 0 | 1 | undefined;
  /**
   * Tables of the other generation, left by a swap: the kernel frees a replaced filter after an RCU grace period,
   * so the old generation may still be in use for a moment after the swap. A later plan deletes them.
   */
  readonly stale: readonly TableInfo[];
  /** Links and gates inside stale tables, so that they can be deleted parents first. */
  readonly staleEdges: readonly (readonly [number, number])[];
  /** Why this tree is not one clean generation; any problem makes the plan rebuild the device. */
  readonly problems: readonly string[];
}

export type DeviceLayout = TcOptions['egress'] | 'none' | 'mixed';

export interface DeviceState {
  readonly device: string;
  readonly role: 'gateway' | 'internal';
  readonly layout: DeviceLayout;
  readonly qdiscs: readonly QdiscInfo[];
  /** Qdiscs and filters that sfip did not make. */
  readonly foreign: readonly string[];
  readonly trees: readonly TreeState[];
}

/** Where to read filters from, given the qdiscs found. */
export interface FilterParents {
  readonly ingress: string | undefined;
  readonly egress: string | undefined;
  readonly layout: DeviceLayout;
  readonly foreignQdiscs: readonly string[];
}

const DEFAULT_ROOT_HANDLE = '0:';

export function filterParentsOf(qdiscs: readonly QdiscInfo[], role: 'gateway' | 'internal'): FilterParents {
  const ingress = qdiscs.find((q) => q.parent === 'ffff:fff1');
  const root = qdiscs.find((q) => q.root);
  const foreignQdiscs: string[] = [];
  // A root qdisc with handle 0: is the kernel's default (noqueue, pfifo_fast, mq...): nobody configured it.
  const htbRoot = role === 'gateway' && root?.kind === 'htb' && root.handle === '10:';
  // Internal devices only use the ingress hook, so their root qdisc is none of sfip's business.
  if (role === 'gateway' && root && root.handle !== DEFAULT_ROOT_HANDLE && !htbRoot) {
    foreignQdiscs.push(`root qdisc ${root.kind} ${root.handle}`);
  }
  const clsact = ingress?.kind === 'clsact';
  const plainIngress = ingress?.kind === 'ingress';
  let layout: DeviceLayout;
  if (role === 'internal') layout = clsact ? 'clsact' : plainIngress ? 'htb' : 'none';
  else if (clsact && !htbRoot) layout = 'clsact';
  else if (plainIngress && htbRoot) layout = 'htb';
  else layout = !ingress && !htbRoot ? 'none' : 'mixed';
  return {
    ingress: clsact ? 'ffff:fff2' : plainIngress ? 'ffff:' : undefined,
    egress: clsact ? 'ffff:fff3' : htbRoot ? '10:' : undefined,
    layout,
    foreignQdiscs,
  };
}

const isRootTable = (id: number) => id >= 0x800 && id <= 0x8ff;

/** 0xff -> last octet (0), 0xff00 -> 1, ...; anything else -> undefined. */
export function octetOfMask(mask: number): number | undefined {
  for (let octet = 0; octet < 4; octet++) if (mask === 0xff * 2 ** (8 * octet)) return octet;
  return undefined;
}

function hashOf(link: NonNullable<NodeInfo['link']>): HashKey | null {
  if (link.hashMask === 0) return null;
  const octet = octetOfMask(link.hashMask);
  return { octet: octet ?? -1, offset: link.hashOffset };
}

const EXPECTED_LEAVES: Record<TreeKind, readonly LeafKind[]> = {
  inbound: ['natDestination'],
  outbound: ['natSource'],
  hairpin: ['natDestinationMark', 'gate'],
  hairpinSource: ['natSource'],
};

/** Reads one leaf; returns a string saying why it is not a well-formed sfip leaf of this tree. */
function ownedLeaf(kind: TreeKind, node: NodeInfo, hairpinMark: number, cookie: string): OwnedLeaf | string {
  const problem = (why: string) => `filter ${node.handle}: ${why}`;
  const key = node.matchAddress;
  if (!key || !isIPv4(key)) return problem('does not match one address');
  const base = { table: node.table, bucket: node.bucket, node: node.node, handle: node.handle, key };
  let leaf: OwnedLeaf;
  if (node.link) {
    if (node.actions.length > 0 || node.matchOffset !== SOURCE_OFFSET)
      return problem('is not a hairpin gate');
    leaf = {
      ...base,
      kind: 'gate',
      to: '',
      police: [],
      target: node.link.target,
      targetHash: hashOf(node.link),
      packets: 0,
      bytes: 0,
    };
  } else {
    const policers = node.actions.findIndex((a) => a.kind !== 'police');
    const police = policeLimitsOfActions(cookie, node.actions.slice(0, Math.max(policers, 0)));
    if (typeof police === 'string') return problem(police);
    const [nat, ...rest] = node.actions.slice(police.length);
    if (!nat || nat.kind !== 'nat') return problem('has no nat action after its policers');
    if (nat.cookie !== cookie) return problem('translates without this router’s cookie');
    if (police.length > 0 && (kind === 'hairpin' || kind === 'hairpinSource'))
      return problem('polices hairpin traffic');
    const marks = rest.length === 1 && rest[0]!.kind === 'skbedit';
    if (rest.length > 0 && !marks)
      return problem(`has other actions (${rest.map((a) => a.kind).join(', ')})`);
    if (marks && (rest[0]!.mark !== hairpinMark || rest[0]!.markMask !== hairpinMark)) {
      return problem('sets another mark');
    }
    const leafKind: LeafKind =
      nat.direction === 'egress' ? 'natSource' : marks ? 'natDestinationMark' : 'natDestination';
    const offset = leafKind === 'natSource' ? SOURCE_OFFSET : DESTINATION_OFFSET;
    if (node.matchOffset !== offset) return problem('matches the wrong field');
    if (nat.oldAddress !== `${key}/32` || !isIPv4(nat.newAddress ?? ''))
      return problem('rewrites another address');
    leaf = {
      ...base,
      kind: leafKind,
      to: nat.newAddress!,
      police,
      packets: nat.packets,
      bytes: nat.bytes,
    };
  }
  if (!EXPECTED_LEAVES[kind].includes(leaf.kind))
    return problem(`is a ${leaf.kind} filter in the ${kind} tree`);
  return leaf;
}

/**
 * Sorts one tree's filters into sfip's, someone else's, and drift. A translating filter counts as sfip's only when
 * its cookie is this router's id; gates and links carry no action, so only their priority says whose they are.
 */
export function interpretTree(
  kind: TreeKind,
  parent: string,
  priority: number,
  filters: FilterState,
  cookie: string,
  hairpinMark: number,
): { state: TreeState; foreign: string[] } {
  const foreign = [...filters.foreign];
  const problems: string[] = [];
  const leaves: OwnedLeaf[] = [];
  const links: U32Link[] = [];
  const rootLinks: RootLink[] = [];
  for (const node of filters.nodes) {
    const translating = node.actions.length > 0;
    const first = node.actions[0];
    // A limited leaf starts with its policers, whose cookies carry the router's tag and the limit (police.ts).
    const owned =
      first !== undefined &&
      (first.kind === 'police' ? isPoliceCookieOf(cookie, first.cookie) : first.cookie === cookie);
    if (translating && !owned) {
      foreign.push(`filter ${node.handle} at sfip's priority ${priority} without this router's cookie`);
      continue;
    }
    if (node.link && (node.matchAll || node.fwmark) && !translating) {
      const hash = hashOf(node.link);
      if (isRootTable(node.table)) {
        const gated = node.fwmark !== undefined;
        if (gated && (node.fwmark!.value !== hairpinMark || node.fwmark!.mask !== hairpinMark)) {
          problems.push(`root link ${node.handle} checks another mark`);
        }
        rootLinks.push({ handle: node.handle, target: node.link.target, hash, gated });
      } else {
        links.push({
          table: node.table,
          bucket: node.bucket,
          node: node.node,
          target: node.link.target,
          hash,
        });
      }
      continue;
    }
    const leaf = ownedLeaf(kind, node, hairpinMark, cookie);
    if (typeof leaf === 'string') problems.push(leaf);
    else leaves.push(leaf);
  }
  const allTables = filters.tables.filter((t) => !isRootTable(t.id));
  const rootLink = rootLinks.length === 1 ? rootLinks[0] : undefined;
  if (rootLinks.length !== 1) problems.push(`${rootLinks.length} root links instead of 1`);
  if (rootLink && rootLink.gated !== (kind === 'hairpinSource'))
    problems.push('root link gated the wrong way');
  const generation = rootLink ? generationOfTable(kind, rootLink.target) : undefined;
  if (rootLink && generation === undefined)
    problems.push(`root link into table ${rootLink.target.toString(16)}:`);
  const live = (id: number) => generation !== undefined && generationOfTable(kind, id) === generation;
  for (const t of allTables) {
    if (generationOfTable(kind, t.id) === undefined)
      problems.push(`table ${t.id.toString(16)}: is not sfip's`);
  }
  const stale = allTables.filter((t) => !live(t.id) && generationOfTable(kind, t.id) !== undefined);
  const staleEdges = [
    ...links.filter((l) => !live(l.table)).map((l) => [l.table, l.target] as const),
    ...leaves.filter((l) => !live(l.table) && l.kind === 'gate').map((l) => [l.table, l.target!] as const),
  ];
  return {
    state: {
      kind,
      parent,
      priority,
      tables: allTables.filter((t) => live(t.id)),
      rootLink,
      links: links.filter((l) => live(l.table)),
      leaves: leaves.filter((l) => live(l.table)),
      generation,
      stale,
      staleEdges,
      problems,
    },
    foreign,
  };
}
