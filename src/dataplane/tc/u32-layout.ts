import { ipv4ToUint32, type IPv4 } from '../../model/ipv4.js';
import type { FloatingMapping } from '../types.js';
import type { TcOptions } from './options.js';
import { policeLimitsOf, type PoliceLimit } from './police.js';

/**
 * The u32 filter trees sfip installs, as pure data.
 *
 * - `inbound` (gateway device, ingress): keyed on the destination, the floating address; `nat ingress` rewrites it
 *   to the fixed address.
 * - `outbound` (gateway device, egress): keyed on the source, the fixed address; `nat egress` rewrites it to the
 *   floating address.
 * - `hairpin` (each internal device, ingress): a tree keyed on the source whose leaves, one per fixed address that
 *   has a floating IP, jump into a tree keyed on the destination; a floating address found there is rewritten to
 *   its fixed address and the packet is marked. So only traffic between two floating IPs is translated here.
 * - `hairpinSource` (each internal device, egress, next priority): entered only by marked packets; keyed on the
 *   source like `outbound`, it rewrites the sender's fixed address to its floating address on the way to the other VM.
 *
 * Together the hairpin trees let two VMs talk through each other's floating IPs without conntrack.
 */
export type TreeKind = 'inbound' | 'outbound' | 'hairpin' | 'hairpinSource';

/** Offsets of the IPv4 source and destination addresses, which u32 keys and hashes on. */
export const SOURCE_OFFSET = 12;
export const DESTINATION_OFFSET = 16;

/** One translation: the address a filter matches, and what it becomes. */
export interface NatEntry {
  readonly key: IPv4;
  readonly to: IPv4;
  /** Rate limits policed before the translation (gateway trees only; hairpin traffic is not limited). */
  readonly police?: readonly PoliceLimit[];
}

export type LeafKind = 'natDestination' | 'natSource' | 'natDestinationMark' | 'gate';

export interface U32Table {
  readonly id: number;
  /** 1 for a plain list, 256 for a hash table. */
  readonly divisor: number;
}

/** Picks a bucket by one octet of the address at an offset. */
export interface HashKey {
  /** 0 = last octet, 3 = first. */
  readonly octet: number;
  readonly offset: number;
}

/** A filter that only jumps into another table (matching everything). */
export interface U32Link {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  readonly target: number;
  /** Null for a plain jump (linear layout). */
  readonly hash: HashKey | null;
}

/** A filter for one address. A `gate` leaf jumps into `target` instead of translating. */
export interface U32Leaf {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  readonly kind: LeafKind;
  readonly entry: NatEntry;
  readonly target?: number;
  readonly targetHash?: HashKey | null;
}

export interface U32Layout {
  readonly kind: TreeKind;
  /** In creation order: a table always comes after every table it links to. */
  readonly tables: readonly U32Table[];
  readonly links: readonly U32Link[];
  readonly leaves: readonly U32Leaf[];
  /** The table the root link jumps to, and how it hashes. */
  readonly entryTable: number;
  readonly entryHash: HashKey | null;
}

type IdRange = readonly [number, number];

/**
 * Table ids are 12 bits, but sfip uses only 0x010-0x7ff. The kernel numbers each u32 instance's root table
 * 0x800 | n with a small n, and every instance on one qdisc shares one id space (a clsact's ingress and egress
 * too), so the trees of one qdisc split that range between them. Each tree gets two generations: a new
 * generation is built beside the live one and swapped in with one root-link replace.
 *
 * Why not 0x800-0xfff: Linux 6.1 from the 2024 fix "cls_u32: Fix u32's systematic failure to free IDR entries
 * for hnodes" until 6.1.190 ("cls_u32: fix manual hash table handle IDR aliasing") reserves a table given with an
 * id >= 0x800 under its whole handle but frees it under its 11-bit number, so the id stays taken after the table
 * is deleted: building that generation again, two swaps later, fails with "No space left on device" (ENOSPC).
 * Debian bookworm's kernel 6.1.0-50 (6.1.176) has the bug, 6.1.0-57 (6.1.192) has the fix. Ids below 0x800 are
 * reserved and freed under the same number by every kernel. See docs/tc.md.
 *
 * The hairpin tree holds two keyed trees per generation (destination and source), so it gets the larger share of
 * its qdisc: 10,000 floating IPs need 514 of its tables and 257 of the others' (test/dataplane/tc-layout.test.ts).
 */
export const TABLE_ID_RANGES: Record<TreeKind, readonly [IdRange, IdRange]> = {
  // The gateway device: inbound on ingress, outbound on egress (one clsact qdisc, or ingress + htb).
  inbound: [
    [0x010, 0x20b],
    [0x20c, 0x407],
  ],
  outbound: [
    [0x408, 0x603],
    [0x604, 0x7ff],
  ],
  // Internal devices: hairpin on ingress, hairpinSource on egress of one clsact qdisc.
  hairpin: [
    [0x010, 0x28f],
    [0x290, 0x50f],
  ],
  hairpinSource: [
    [0x510, 0x687],
    [0x688, 0x7ff],
  ],
};

export function generationOfTable(kind: TreeKind, id: number): 0 | 1 | undefined {
  const [g0, g1] = TABLE_ID_RANGES[kind];
  if (id >= g0[0] && id <= g0[1]) return 0;
  if (id >= g1[0] && id <= g1[1]) return 1;
  return undefined;
}

/** u32 node ids are 12 bits: the kernel refuses more than 0xfff filters in one bucket. */
export const MAX_NODES_PER_BUCKET = 0xfff;
/** Linear layout: addresses per plain table before the next one starts. */
export const LINEAR_CHUNK = 4000;

const byKey = (a: NatEntry, b: NatEntry) => ipv4ToUint32(a.key) - ipv4ToUint32(b.key);

/** Police only where a limit applies: an empty list would make two equal leaves compare unequal. */
function withPolice(entry: NatEntry, limits: readonly PoliceLimit[]): NatEntry {
  return limits.length > 0 ? { ...entry, police: limits } : entry;
}

/** Floating -> fixed, sorted by floating address; with the floating IP's ingress limits when `limited`. */
export function destinationEntries(mappings: readonly FloatingMapping[], limited = false): NatEntry[] {
  return mappings
    .map((m) =>
      withPolice({ key: m.floatingIp, to: m.fixedIp }, limited ? policeLimitsOf(m.limits, 'ingress') : []),
    )
    .sort(byKey);
}

/** Fixed -> floating, sorted by fixed address; with the floating IP's egress limits when `limited`. */
export function sourceEntries(mappings: readonly FloatingMapping[], limited = false): NatEntry[] {
  return mappings
    .map((m) =>
      withPolice({ key: m.fixedIp, to: m.floatingIp }, limited ? policeLimitsOf(m.limits, 'egress') : []),
    )
    .sort(byKey);
}

export const octetOf = (ip: IPv4, octet: number): number => (ipv4ToUint32(ip) >>> (8 * octet)) & 0xff;

class TableIds {
  private next: number;
  constructor(private readonly range: IdRange) {
    this.next = range[0];
  }
  take(): number {
    if (this.next > this.range[1]) throw new Error('out of u32 table ids for this tree');
    return this.next++;
  }
  get remaining(): number {
    return this.range[1] - this.next + 1;
  }
}

interface Builder {
  readonly tables: U32Table[];
  readonly links: U32Link[];
  readonly leaves: U32Leaf[];
  readonly ids: TableIds;
}

type LeafOf = (entry: NatEntry) => Pick<U32Leaf, 'kind' | 'target' | 'targetHash'>;

function addLeaves(
  b: Builder,
  table: number,
  bucket: number,
  list: readonly NatEntry[],
  leafOf: LeafOf,
): void {
  if (list.length > MAX_NODES_PER_BUCKET) {
    throw new Error(`${list.length} addresses in one u32 bucket: the kernel allows ${MAX_NODES_PER_BUCKET}`);
  }
  list.forEach((entry, i) => b.leaves.push({ table, bucket, node: i + 1, entry, ...leafOf(entry) }));
}

/** Builds one keyed tree into `b`; returns its entry table and hash. */
function buildTree(
  b: Builder,
  entries: readonly NatEntry[],
  offset: number,
  leafOf: LeafOf,
  options: Pick<TcOptions, 'lookup' | 'bucketLimit'>,
): { entryTable: number; entryHash: HashKey | null } {
  if (options.lookup === 'linear') {
    const chunks: NatEntry[][] = [];
    for (let i = 0; i < entries.length; i += LINEAR_CHUNK) chunks.push(entries.slice(i, i + LINEAR_CHUNK));
    if (chunks.length <= 1) {
      const table = b.ids.take();
      addLeaves(b, table, 0, chunks[0] ?? [], leafOf);
      b.tables.push({ id: table, divisor: 1 });
      return { entryTable: table, entryHash: null };
    }
    // A miss in one chunk returns to the spine, which jumps into the next chunk: u32 keeps a stack of links.
    const spine = b.ids.take();
    chunks.forEach((chunk, i) => {
      const table = b.ids.take();
      addLeaves(b, table, 0, chunk, leafOf);
      b.tables.push({ id: table, divisor: 1 });
      b.links.push({ table: spine, bucket: 0, node: i + 1, target: table, hash: null });
    });
    b.tables.push({ id: spine, divisor: 1 });
    return { entryTable: spine, entryHash: null };
  }
  // Hashed: 256 buckets on the last octet; a crowded bucket links to a table on the next octet, up to the first.
  const build = (list: readonly NatEntry[], octet: number): number => {
    const table = b.ids.take();
    const buckets = new Map<number, NatEntry[]>();
    for (const entry of list) {
      const k = octetOf(entry.key, octet);
      const bucket = buckets.get(k);
      if (bucket) bucket.push(entry);
      else buckets.set(k, [entry]);
    }
    for (const [bucket, inBucket] of [...buckets].sort((x, y) => x[0] - y[0])) {
      if (inBucket.length > options.bucketLimit && octet < 3 && b.ids.remaining > 0) {
        const child = build(inBucket, octet + 1);
        b.links.push({ table, bucket, node: 1, target: child, hash: { octet: octet + 1, offset } });
      } else {
        addLeaves(b, table, bucket, inBucket, leafOf);
      }
    }
    b.tables.push({ id: table, divisor: 256 });
    return table;
  };
  return { entryTable: build(entries, 0), entryHash: { octet: 0, offset } };
}

/** Lays out one tree for a generation. Pure and deterministic: the same input gives the same tree. */
export function layoutTree(
  kind: TreeKind,
  mappings: readonly FloatingMapping[],
  generation: 0 | 1,
  options: Pick<TcOptions, 'lookup' | 'bucketLimit'>,
): U32Layout {
  const b: Builder = {
    tables: [],
    links: [],
    leaves: [],
    ids: new TableIds(TABLE_ID_RANGES[kind][generation]),
  };
  const leaf = (k: LeafKind) => () => ({ kind: k });
  let entry: { entryTable: number; entryHash: HashKey | null };
  switch (kind) {
    // The gateway device's trees carry the floating IPs' limits: inbound the ingress ones, outbound egress.
    case 'inbound':
      entry = buildTree(
        b,
        destinationEntries(mappings, true),
        DESTINATION_OFFSET,
        leaf('natDestination'),
        options,
      );
      break;
    case 'outbound':
      entry = buildTree(b, sourceEntries(mappings, true), SOURCE_OFFSET, leaf('natSource'), options);
      break;
    case 'hairpinSource':
      entry = buildTree(b, sourceEntries(mappings), SOURCE_OFFSET, leaf('natSource'), options);
      break;
    case 'hairpin': {
      const destination = buildTree(
        b,
        destinationEntries(mappings),
        DESTINATION_OFFSET,
        leaf('natDestinationMark'),
        options,
      );
      const gate = () => ({
        kind: 'gate' as const,
        target: destination.entryTable,
        targetHash: destination.entryHash,
      });
      entry = buildTree(b, sourceEntries(mappings), SOURCE_OFFSET, gate, options);
      break;
    }
  }
  return { kind, tables: b.tables, links: b.links, leaves: b.leaves, ...entry };
}

const hashText = (h: HashKey | null | undefined) => (h ? `${h.octet}@${h.offset}` : '-');

/**
 * The shape of a layout without its translations: tables, links, and where gate leaves jump. Two layouts with the
 * same skeleton differ only in leaf filters, which can be patched one by one.
 */
export function skeletonOf(layout: {
  tables: readonly U32Table[];
  links: readonly U32Link[];
  entryTable: number;
  entryHash: HashKey | null;
  gateTargets: readonly string[];
}): string {
  const tables = layout.tables.map((t) => `${t.id}/${t.divisor}`).sort();
  const links = layout.links
    .map((l) => `${l.table}:${l.bucket}:${l.node}>${l.target}@${hashText(l.hash)}`)
    .sort();
  return [
    `entry ${layout.entryTable}@${hashText(layout.entryHash)}`,
    `tables ${tables.join(' ')}`,
    `links ${links.join(' ')}`,
    `gates ${[...new Set(layout.gateTargets)].sort().join(' ')}`,
  ].join(' | ');
}

export function gateTargetsOf(
  leaves: readonly { kind: LeafKind; target?: number; targetHash?: HashKey | null }[],
): string[] {
  return leaves.filter((l) => l.kind === 'gate').map((l) => `${l.target}@${hashText(l.targetHash)}`);
}
