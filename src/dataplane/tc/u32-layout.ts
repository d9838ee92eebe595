import { ipv4ToUint32, type IPv4 } from '../../model/ipv4.js';
import type { FloatingMapping } from '../types.js';
import type { TcOptions } from './options.js';

/**
 * The u32 filter tree for one direction, as pure data. Inbound filters are keyed on the destination (the floating
 * address, IPv4 header offset 16) and rewrite it with `nat ingress`; outbound filters are keyed on the source (the
 * fixed address, offset 12) and rewrite it with `nat egress`.
 */
export type Direction = 'inbound' | 'outbound';

export const KEY_OFFSET: Record<Direction, number> = { inbound: 16, outbound: 12 };

/** One `action nat`: the address the filter matches, and what it becomes. */
export interface NatEntry {
  readonly key: IPv4;
  readonly to: IPv4;
}

export interface U32Table {
  readonly id: number;
  /** 1 for a plain list, 256 for a hash table. */
  readonly divisor: number;
}

/** A filter that only jumps into another table; with `hashOctet` set, it picks the bucket by that octet. */
export interface U32Link {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  readonly target: number;
  /** 0 = last octet of the key, 3 = first; null for a plain jump (linear layout). */
  readonly hashOctet: number | null;
}

export interface U32Leaf {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  readonly entry: NatEntry;
}

export interface U32Layout {
  readonly direction: Direction;
  /** In creation order: a table always comes after every table it links to. */
  readonly tables: readonly U32Table[];
  readonly links: readonly U32Link[];
  readonly leaves: readonly U32Leaf[];
  /** The table the root link jumps to, and how it hashes. */
  readonly entryTable: number;
  readonly entryHashOctet: number | null;
}

/**
 * Table ids are 12 bits. The kernel numbers each u32 instance's root table 0x800 | n with a small n and both
 * directions of a clsact qdisc share one id space, so sfip keeps out of 0x800-0x8ff and gives each direction two
 * generations: a new generation is built beside the live one and swapped in with one root-link replace.
 */
export const TABLE_ID_RANGES: Record<
  Direction,
  readonly [readonly [number, number], readonly [number, number]]
> = {
  inbound: [
    [0x010, 0x3ff],
    [0x400, 0x7ff],
  ],
  outbound: [
    [0x900, 0xc7f],
    [0xc80, 0xfff],
  ],
};

export function generationOfTable(direction: Direction, id: number): 0 | 1 | undefined {
  const [g0, g1] = TABLE_ID_RANGES[direction];
  if (id >= g0[0] && id <= g0[1]) return 0;
  if (id >= g1[0] && id <= g1[1]) return 1;
  return undefined;
}

/** u32 node ids are 12 bits, and the kernel refuses more than 0xfff filters in one bucket. */
export const MAX_NODES_PER_BUCKET = 0xfff;
/** Linear layout: addresses per plain table before the next one starts. */
export const LINEAR_CHUNK = 4000;

export function natEntries(direction: Direction, mappings: readonly FloatingMapping[]): NatEntry[] {
  const entries = mappings.map((m) =>
    direction === 'inbound' ? { key: m.floatingIp, to: m.fixedIp } : { key: m.fixedIp, to: m.floatingIp },
  );
  return entries.sort((a, b) => ipv4ToUint32(a.key) - ipv4ToUint32(b.key));
}

export const octetOf = (ip: IPv4, octet: number): number => (ipv4ToUint32(ip) >>> (8 * octet)) & 0xff;

class TableIds {
  private next: number;
  constructor(private readonly range: readonly [number, number]) {
    this.next = range[0];
  }
  take(): number {
    if (this.next > this.range[1]) throw new Error('out of u32 table ids');
    return this.next++;
  }
  get remaining(): number {
    return this.range[1] - this.next + 1;
  }
}

/** Lays out one direction's filters for a generation. Pure and deterministic: the same input gives the same tree. */
export function layoutDirection(
  direction: Direction,
  mappings: readonly FloatingMapping[],
  generation: 0 | 1,
  options: Pick<TcOptions, 'lookup' | 'bucketLimit'>,
): U32Layout {
  const entries = natEntries(direction, mappings);
  const ids = new TableIds(TABLE_ID_RANGES[direction][generation]);
  const tables: U32Table[] = [];
  const links: U32Link[] = [];
  const leaves: U32Leaf[] = [];
  const addLeaves = (table: number, bucket: number, list: readonly NatEntry[]) => {
    if (list.length > MAX_NODES_PER_BUCKET) {
      throw new Error(
        `${list.length} addresses in one u32 bucket: the kernel allows ${MAX_NODES_PER_BUCKET}`,
      );
    }
    list.forEach((entry, i) => leaves.push({ table, bucket, node: i + 1, entry }));
  };

  if (options.lookup === 'linear') {
    const chunks: NatEntry[][] = [];
    for (let i = 0; i < entries.length; i += LINEAR_CHUNK) chunks.push(entries.slice(i, i + LINEAR_CHUNK));
    if (chunks.length <= 1) {
      const table = ids.take();
      addLeaves(table, 0, chunks[0] ?? []);
      tables.push({ id: table, divisor: 1 });
      return { direction, tables, links, leaves, entryTable: table, entryHashOctet: null };
    }
    // A miss in one chunk returns to the spine, which jumps into the next chunk: u32 keeps a stack of links.
    const spine = ids.take();
    chunks.forEach((chunk, i) => {
      const table = ids.take();
      addLeaves(table, 0, chunk);
      tables.push({ id: table, divisor: 1 });
      links.push({ table: spine, bucket: 0, node: i + 1, target: table, hashOctet: null });
    });
    tables.push({ id: spine, divisor: 1 });
    return { direction, tables, links, leaves, entryTable: spine, entryHashOctet: null };
  }

  // Hashed: 256 buckets on the last octet; a crowded bucket links to a table on the next octet, up to the first.
  const build = (list: readonly NatEntry[], octet: number): number => {
    const table = ids.take();
    const buckets = new Map<number, NatEntry[]>();
    for (const entry of list) {
      const b = octetOf(entry.key, octet);
      buckets.set(b, [...(buckets.get(b) ?? []), entry]);
    }
    for (const [bucket, inBucket] of [...buckets].sort((a, b) => a[0] - b[0])) {
      if (inBucket.length > options.bucketLimit && octet < 3 && ids.remaining > 0) {
        const child = build(inBucket, octet + 1);
        links.push({ table, bucket, node: 1, target: child, hashOctet: octet + 1 });
      } else {
        addLeaves(table, bucket, inBucket);
      }
    }
    tables.push({ id: table, divisor: 256 });
    return table;
  };
  const entryTable = build(entries, 0);
  return { direction, tables, links, leaves, entryTable, entryHashOctet: 0 };
}

/** The shape of a layout without its leaves: two layouts with the same skeleton differ only in leaf filters. */
export function skeletonOf(layout: {
  tables: readonly U32Table[];
  links: readonly U32Link[];
  entryTable: number;
  entryHashOctet: number | null;
}): string {
  const tables = [...layout.tables].map((t) => `${t.id}/${t.divisor}`).sort();
  const links = [...layout.links]
    .map((l) => `${l.table}:${l.bucket}:${l.node}>${l.target}@${l.hashOctet}`)
    .sort();
  return `entry ${layout.entryTable}@${layout.entryHashOctet} | tables ${tables.join(' ')} | links ${links.join(' ')}`;
}
