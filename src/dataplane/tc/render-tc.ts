import type { Direction, NatEntry, U32Layout, U32Leaf } from './u32-layout.js';
import { KEY_OFFSET } from './u32-layout.js';
import type { TcOptions } from './options.js';

/**
 * Lines of a `tc -batch` file. Everything here is pure text; device names and router ids are validated before they
 * reach it (naming.ts), so no line can carry a second command.
 */

export type EgressLayout = TcOptions['egress'];

/** Where each direction's filters hang in a layout. */
export function filterParent(direction: Direction, egress: EgressLayout): string {
  if (direction === 'inbound') return egress === 'clsact' ? 'ffff:fff2' : 'ffff:';
  return egress === 'clsact' ? 'ffff:fff3' : '10:';
}

export function qdiscSetupLines(device: string, egress: EgressLayout): string[] {
  return egress === 'clsact'
    ? [`qdisc add dev ${device} clsact`]
    : // The seed's layout: an ingress qdisc, and an htb root whose unclassified packets go out directly.
      [`qdisc add dev ${device} handle ffff: ingress`, `qdisc add dev ${device} root handle 10: htb`];
}

const h = (n: number) => n.toString(16);
const tableHandle = (id: number) => `${h(id)}:`;
const nodeHandle = (table: number, bucket: number, node: number) => `${h(table)}:${h(bucket)}:${h(node)}`;
const bucketRef = (table: number, bucket: number) => `${h(table)}:${h(bucket)}:`;

export function hashKeyMask(octet: number): string {
  return `0x${(0xff * 2 ** (8 * octet)).toString(16).padStart(8, '0')}`;
}

function hashKey(direction: Direction, octet: number | null): string {
  return octet === null ? '' : ` hashkey mask ${hashKeyMask(octet)} at ${KEY_OFFSET[direction]}`;
}

export interface FilterContext {
  readonly device: string;
  readonly parent: string;
  readonly priority: number;
  readonly direction: Direction;
  /** The router id without dashes: each nat action's cookie. */
  readonly cookie: string;
}

const prefix = (c: FilterContext) => `dev ${c.device} parent ${c.parent} protocol ip prio ${c.priority}`;

/**
 * One floating IP in one direction: match the address as a whole 32-bit word and rewrite it. `nat ingress` rewrites
 * the destination, `nat egress` the source; both fix the IP and TCP/UDP checksums and the header quoted in ICMP
 * errors. The cookie marks the filter as sfip's, for this router.
 */
export function natFilterArgs(c: FilterContext, entry: NatEntry): string {
  const field = c.direction === 'inbound' ? 'dst' : 'src';
  const kind = c.direction === 'inbound' ? 'ingress' : 'egress';
  return `match ip ${field} ${entry.key}/32 action nat ${kind} ${entry.key}/32 ${entry.to} cookie ${c.cookie}`;
}

export function leafLine(c: FilterContext, verb: 'add' | 'replace', leaf: U32Leaf): string {
  return `filter ${verb} ${prefix(c)} handle ${nodeHandle(leaf.table, leaf.bucket, leaf.node)} u32 ht ${bucketRef(leaf.table, leaf.bucket)} ${natFilterArgs(c, leaf.entry)}`;
}

export function deleteNodeLine(c: FilterContext, handle: string): string {
  return `filter del ${prefix(c)} handle ${handle} u32`;
}

export function deleteTableLine(c: FilterContext, id: number): string {
  return `filter del ${prefix(c)} handle ${tableHandle(id)} u32`;
}

/**
 * A whole generation of one direction's tables, in an order the kernel accepts: tables before anything points into
 * them, leaves before links, so a table is complete before any packet can reach it. The root link comes separately.
 */
export function generationLines(c: FilterContext, layout: U32Layout): string[] {
  return [
    ...layout.tables.map(
      (t) => `filter add ${prefix(c)} handle ${tableHandle(t.id)} u32 divisor ${t.divisor}`,
    ),
    ...layout.leaves.map((leaf) => leafLine(c, 'add', leaf)),
    ...layout.links.map(
      (l) =>
        `filter add ${prefix(c)} handle ${nodeHandle(l.table, l.bucket, l.node)} u32 ht ${bucketRef(l.table, l.bucket)} match u32 0 0 link ${tableHandle(l.target)}${hashKey(c.direction, l.hashOctet)}`,
    ),
  ];
}

/**
 * The one filter in the classifier's root table, jumping into the live generation. Adding it without `ht` puts it in
 * the root table, whatever id the kernel gave that. Replacing it swaps generations in one kernel operation; the
 * kernel keeps a replaced node's selector, so the hash key must already be the same (plan.ts checks).
 */
export function rootLinkLine(c: FilterContext, layout: U32Layout, replaceHandle?: string): string {
  const link = `match u32 0 0 link ${tableHandle(layout.entryTable)}${hashKey(c.direction, layout.entryHashOctet)}`;
  if (replaceHandle === undefined) return `filter add ${prefix(c)} u32 ${link}`;
  const rootTable = replaceHandle.split(':')[0];
  return `filter replace ${prefix(c)} handle ${replaceHandle} u32 ht ${rootTable}: ${link}`;
}

/** Deletes tables parents first: deleting a table drops its links, which frees the tables below it. */
export function deleteGenerationLines(
  c: FilterContext,
  tableIdsInCreationOrder: readonly number[],
): string[] {
  return [...tableIdsInCreationOrder].reverse().map((id) => deleteTableLine(c, id));
}
