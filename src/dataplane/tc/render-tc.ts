import type { TcOptions } from './options.js';
import { policeArgs } from './police.js';
import type { HashKey, U32Layout, U32Leaf } from './u32-layout.js';

/**
 * Lines of a `tc -batch` file. Everything here is pure text; device names and router ids are validated before they
 * reach it (naming.ts), so no line can carry a second command.
 */

export type EgressLayout = TcOptions['egress'];

/** Where the gateway device's filters hang in a layout. */
export function gatewayParent(hook: 'ingress' | 'egress', egress: EgressLayout): string {
  if (hook === 'ingress') return egress === 'clsact' ? 'ffff:fff2' : 'ffff:';
  return egress === 'clsact' ? 'ffff:fff3' : '10:';
}

/**
 * Internal devices always get clsact: hairpin rewrites the destination at their ingress and the source at the egress
 * of the device towards the other VM. (Rewriting the source at ingress would make the packet arrive from one of the
 * router's own addresses, which the kernel drops as a martian.) The egress option is about the gateway device.
 */
export const INTERNAL_INGRESS = 'ffff:fff2';
export const INTERNAL_EGRESS = 'ffff:fff3';

export function qdiscSetupLines(
  device: string,
  egress: EgressLayout,
  role: 'gateway' | 'internal',
): string[] {
  if (egress === 'clsact' || role === 'internal') return [`qdisc add dev ${device} clsact`];
  // The seed's layout: an ingress qdisc, and an htb root whose unclassified packets go out directly.
  return [`qdisc add dev ${device} handle ffff: ingress`, `qdisc add dev ${device} root handle 10: htb`];
}

const h = (n: number) => n.toString(16);
const tableHandle = (id: number) => `${h(id)}:`;
const nodeHandle = (table: number, bucket: number, node: number) => `${h(table)}:${h(bucket)}:${h(node)}`;
const bucketRef = (table: number, bucket: number) => `${h(table)}:${h(bucket)}:`;

export function hashKeyMask(octet: number): string {
  return `0x${(0xff * 2 ** (8 * octet)).toString(16).padStart(8, '0')}`;
}

const hashKey = (hash: HashKey | null | undefined) =>
  hash ? ` hashkey mask ${hashKeyMask(hash.octet)} at ${hash.offset}` : '';

const markText = (mark: number) => `0x${mark.toString(16).padStart(8, '0')}`;

export interface FilterContext {
  readonly device: string;
  readonly parent: string;
  readonly priority: number;
  /** The router id without dashes: each action's cookie, which marks the filter as this router's. */
  readonly cookie: string;
  /** The packet mark bit that carries "destination rewritten" from the hairpin tree to the next priority. */
  readonly hairpinMark: number;
}

const prefix = (c: FilterContext) => `dev ${c.device} parent ${c.parent} protocol ip prio ${c.priority}`;

/**
 * One address: match it as a whole 32-bit word and act. `nat ingress` rewrites the destination, `nat egress` the
 * source; both fix the IP and TCP/UDP checksums and the header quoted in ICMP errors. A hairpin destination also
 * sets the mark and lets classification `continue` to the next priority, which rewrites the source.
 */
export function leafArgs(c: FilterContext, leaf: U32Leaf): string {
  const { key, to } = leaf.entry;
  const police = policeArgs(c.cookie, leaf.entry.police);
  switch (leaf.kind) {
    case 'natDestination':
      return `match ip dst ${key}/32 ${police}action nat ingress ${key}/32 ${to} cookie ${c.cookie}`;
    case 'natSource':
      return `match ip src ${key}/32 ${police}action nat egress ${key}/32 ${to} cookie ${c.cookie}`;
    case 'natDestinationMark': {
      const mark = markText(c.hairpinMark);
      return `match ip dst ${key}/32 action nat ingress ${key}/32 ${to} pipe cookie ${c.cookie} action skbedit mark ${mark}/${mark} continue cookie ${c.cookie}`;
    }
    case 'gate':
      return `match ip src ${key}/32 link ${tableHandle(leaf.target!)}${hashKey(leaf.targetHash)}`;
  }
}

export function leafLine(c: FilterContext, verb: 'add' | 'replace', leaf: U32Leaf): string {
  return `filter ${verb} ${prefix(c)} handle ${nodeHandle(leaf.table, leaf.bucket, leaf.node)} u32 ht ${bucketRef(leaf.table, leaf.bucket)} ${leafArgs(c, leaf)}`;
}

export function deleteNodeLine(c: FilterContext, handle: string): string {
  return `filter del ${prefix(c)} handle ${handle} u32`;
}

export function deleteTableLine(c: FilterContext, id: number): string {
  return `filter del ${prefix(c)} handle ${tableHandle(id)} u32`;
}

/** Removes a whole priority (every table and filter of that classifier instance). */
export function deletePriorityLine(device: string, parent: string, priority: number): string {
  return `filter del dev ${device} parent ${parent} protocol ip prio ${priority}`;
}

/**
 * A whole generation of one tree, in an order the kernel accepts: tables before anything points into them,
 * leaves before links, so a table is complete before any packet can reach it. The root link comes separately.
 */
export function generationLines(c: FilterContext, layout: U32Layout): string[] {
  return [
    ...layout.tables.map(
      (t) => `filter add ${prefix(c)} handle ${tableHandle(t.id)} u32 divisor ${t.divisor}`,
    ),
    ...layout.leaves.map((leaf) => leafLine(c, 'add', leaf)),
    ...layout.links.map(
      (l) =>
        `filter add ${prefix(c)} handle ${nodeHandle(l.table, l.bucket, l.node)} u32 ht ${bucketRef(l.table, l.bucket)} match u32 0 0 link ${tableHandle(l.target)}${hashKey(l.hash)}`,
    ),
  ];
}

/**
 * The one filter in the classifier's root table, jumping into the live generation (only for marked packets when
 * `gated`). Adding it without `ht` puts it in the root table, whatever id the kernel gave that. Replacing it swaps
 * generations in one kernel operation; the kernel keeps a replaced node's selector, so the hash key must already be
 * the same (plan.ts checks).
 */
export function rootLinkLine(
  c: FilterContext,
  layout: U32Layout,
  gated: boolean,
  replaceHandle?: string,
): string {
  const mark = markText(c.hairpinMark);
  const match = gated ? `match mark ${mark} ${mark}` : 'match u32 0 0';
  const link = `${match} link ${tableHandle(layout.entryTable)}${hashKey(layout.entryHash)}`;
  if (replaceHandle === undefined) return `filter add ${prefix(c)} u32 ${link}`;
  const rootTable = replaceHandle.split(':')[0];
  return `filter replace ${prefix(c)} handle ${replaceHandle} u32 ht ${rootTable}: ${link}`;
}
