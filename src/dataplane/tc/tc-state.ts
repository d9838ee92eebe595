import { isIPv4 } from '../../model/ipv4.js';
import type { TcOptions } from './options.js';
import type { FilterState, LeafInfo, LinkInfo, QdiscInfo, TableInfo } from './parse-tc.js';
import { generationOfTable, KEY_OFFSET, type Direction } from './u32-layout.js';

/** What sfip finds on the gateway device, interpreted: whose objects they are and which generation is live. */

export interface OwnedLeaf {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  readonly handle: string;
  readonly key: string;
  readonly to: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface DirectionState {
  readonly parent: string;
  readonly tables: readonly TableInfo[];
  /** The single filter in the classifier's root table that jumps into the live generation. */
  readonly rootLink: LinkInfo | undefined;
  readonly links: readonly LinkInfo[];
  readonly leaves: readonly OwnedLeaf[];
  readonly generation: 0 | 1 | undefined;
  /** Why this direction is not one clean generation; any problem makes the plan rebuild. */
  readonly problems: readonly string[];
}

export type DeviceLayout = TcOptions['egress'] | 'none' | 'mixed';

export interface TcDeviceState {
  readonly layout: DeviceLayout;
  readonly qdiscs: readonly QdiscInfo[];
  /** Qdiscs and filters that sfip did not make. */
  readonly foreign: readonly string[];
  readonly inbound: DirectionState | undefined;
  readonly outbound: DirectionState | undefined;
}

/** Where to read filters from, given the qdiscs found. */
export interface FilterParents {
  readonly inbound: string | undefined;
  readonly outbound: string | undefined;
  readonly layout: DeviceLayout;
  readonly foreignQdiscs: readonly string[];
}

const DEFAULT_ROOT_HANDLE = '0:';

export function filterParentsOf(qdiscs: readonly QdiscInfo[]): FilterParents {
  const ingress = qdiscs.find((q) => q.parent === 'ffff:fff1');
  const root = qdiscs.find((q) => q.root);
  const foreignQdiscs: string[] = [];
  // A root qdisc with handle 0: is the kernel's default (noqueue, pfifo_fast, mq...): nobody configured it.
  const htbRoot = root && root.handle !== DEFAULT_ROOT_HANDLE && root.kind === 'htb' && root.handle === '10:';
  if (root && root.handle !== DEFAULT_ROOT_HANDLE && !htbRoot) {
    foreignQdiscs.push(`root qdisc ${root.kind} ${root.handle}`);
  }
  if (ingress && ingress.kind !== 'clsact' && ingress.kind !== 'ingress') {
    foreignQdiscs.push(`ingress qdisc ${ingress.kind} ${ingress.handle}`);
  }
  const clsact = ingress?.kind === 'clsact';
  const layout: DeviceLayout =
    clsact && !htbRoot
      ? 'clsact'
      : ingress?.kind === 'ingress' && htbRoot
        ? 'htb'
        : !ingress && !htbRoot
          ? 'none'
          : 'mixed';
  return {
    inbound: clsact ? 'ffff:fff2' : ingress?.kind === 'ingress' ? 'ffff:' : undefined,
    outbound: clsact ? 'ffff:fff3' : htbRoot ? '10:' : undefined,
    layout,
    foreignQdiscs,
  };
}

const isRootTable = (id: number) => id >= 0x800 && id <= 0x8ff;

function ownedLeaf(direction: Direction, leaf: LeafInfo): OwnedLeaf | string {
  const nat = leaf.nat;
  const problem = (why: string) => `filter ${leaf.handle}: ${why}`;
  if (!nat) return problem('has no single nat action');
  if (leaf.otherActions.length > 0) return problem(`has other actions (${leaf.otherActions.join(', ')})`);
  const key = leaf.matchAddress;
  if (!key || !isIPv4(key) || leaf.matchOffset !== KEY_OFFSET[direction])
    return problem('matches the wrong field');
  if (nat.direction !== (direction === 'inbound' ? 'ingress' : 'egress'))
    return problem('rewrites the wrong way');
  if (nat.oldAddress !== `${key}/32` || !isIPv4(nat.newAddress)) return problem('rewrites another address');
  return {
    table: leaf.table,
    bucket: leaf.bucket,
    node: leaf.node,
    handle: leaf.handle,
    key,
    to: nat.newAddress,
    packets: nat.packets,
    bytes: nat.bytes,
  };
}

/**
 * Sorts one direction's filters into sfip's, someone else's, and drift. A nat filter at sfip's priority counts as
 * sfip's only when its cookie is this router's id.
 */
export function interpretDirection(
  direction: Direction,
  parent: string,
  filters: FilterState,
  cookie: string,
): { state: DirectionState; foreign: string[] } {
  const where = `${direction === 'inbound' ? 'ingress' : 'egress'} (parent ${parent})`;
  const foreign = [...filters.foreign];
  const problems: string[] = [];
  const leaves: OwnedLeaf[] = [];
  for (const leaf of filters.leaves) {
    if (leaf.nat?.cookie !== cookie) {
      foreign.push(`${where} filter ${leaf.handle} at sfip's priority without this router's cookie`);
      continue;
    }
    const owned = ownedLeaf(direction, leaf);
    if (typeof owned === 'string') problems.push(owned);
    else leaves.push(owned);
  }
  const rootLinks = filters.links.filter((l) => isRootTable(l.table));
  const links = filters.links.filter((l) => !isRootTable(l.table));
  const tables = filters.tables.filter((t) => !isRootTable(t.id));
  const rootLink = rootLinks.length === 1 ? rootLinks[0] : undefined;
  if (rootLinks.length !== 1) problems.push(`${rootLinks.length} root links instead of 1`);
  const generation = rootLink ? generationOfTable(direction, rootLink.target) : undefined;
  if (rootLink && generation === undefined)
    problems.push(`root link into table ${rootLink.target.toString(16)}:`);
  for (const t of tables) {
    if (generationOfTable(direction, t.id) !== generation) {
      problems.push(`table ${t.id.toString(16)}: is outside the live generation`);
    }
  }
  return { state: { parent, tables, rootLink, links, leaves, generation, problems }, foreign };
}
