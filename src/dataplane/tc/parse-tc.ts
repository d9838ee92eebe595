/** Parsers for `tc -j qdisc show` and `tc -j -s filter show`: only what the tc backend reads back. */

export interface QdiscInfo {
  readonly kind: string;
  /** As tc prints it: `10:`, `ffff:`, `0:`. */
  readonly handle: string;
  readonly root: boolean;
  /** `ffff:fff1` for ingress and clsact; absent for root qdiscs. */
  readonly parent: string | undefined;
}

interface RawQdisc {
  kind?: unknown;
  handle?: unknown;
  root?: unknown;
  parent?: unknown;
}

export function parseQdiscs(json: string): QdiscInfo[] {
  const list = JSON.parse(json || '[]') as RawQdisc[];
  return list.map((q) => ({
    kind: String(q.kind ?? ''),
    handle: String(q.handle ?? ''),
    root: q.root === true,
    parent: typeof q.parent === 'string' ? q.parent : undefined,
  }));
}

export interface TableInfo {
  readonly id: number;
  readonly divisor: number;
}

export interface LinkInfo {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  /** The node's handle as tc prints it, for `filter replace`. */
  readonly handle: string;
  readonly target: number;
  /** Hash key mask and offset; 0 and 0 for a plain jump. */
  readonly hashMask: number;
  readonly hashOffset: number;
}

export interface NatActionInfo {
  readonly direction: 'ingress' | 'egress';
  /** The address (with its /prefix) the action rewrites, and what it becomes. */
  readonly oldAddress: string;
  readonly newAddress: string;
  readonly cookie: string | undefined;
  readonly packets: number;
  readonly bytes: number;
}

export interface LeafInfo {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  readonly handle: string;
  /** The single 32-bit key the filter matches, as a dotted quad, and its offset in the IPv4 header. */
  readonly matchAddress: string | undefined;
  readonly matchOffset: number | undefined;
  readonly matchMask: string | undefined;
  /** Actions other than one nat action make the filter foreign. */
  readonly nat: NatActionInfo | undefined;
  readonly otherActions: readonly string[];
}

export interface FilterState {
  readonly tables: readonly TableInfo[];
  readonly links: readonly LinkInfo[];
  readonly leaves: readonly LeafInfo[];
  /** Filters at other priorities, of other kinds or protocols: someone else's. */
  readonly foreign: readonly string[];
}

interface RawAction {
  type?: unknown;
  direction?: unknown;
  old_addr?: unknown;
  new_addr?: unknown;
  cookie?: unknown;
  stats?: { packets?: unknown; bytes?: unknown };
}
interface RawFilter {
  protocol?: unknown;
  pref?: unknown;
  kind?: unknown;
  options?: {
    fh?: unknown;
    ht_divisor?: unknown;
    link?: unknown;
    hash_mask?: unknown;
    hash_off?: unknown;
    match?: { value?: unknown; mask?: unknown; off?: unknown };
    actions?: RawAction[];
  };
}

const hex = (text: string): number => Number.parseInt(text || '0', 16);

/** `10:b:1` -> [0x10, 0xb, 1]; `10:` -> [0x10, 0, 0]. */
export function parseU32Handle(fh: string): [number, number, number] {
  const [t = '0', b = '0', n = '0'] = fh.split(':');
  return [hex(t), hex(b), hex(n)];
}

function hexToIPv4(value: string): string | undefined {
  if (!/^[0-9a-f]{1,8}$/.test(value)) return undefined;
  const n = Number.parseInt(value, 16);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

/** Reads one filter list (one parent). Filters not of sfip's priority, kind and protocol are listed as foreign. */
export function parseFilters(json: string, priority: number, where: string): FilterState {
  const list = JSON.parse(json || '[]') as RawFilter[];
  const tables: TableInfo[] = [];
  const links: LinkInfo[] = [];
  const leaves: LeafInfo[] = [];
  const foreign = new Set<string>();
  for (const f of list) {
    if (f.pref !== priority || f.kind !== 'u32' || f.protocol !== 'ip') {
      foreign.add(`${where} filter pref ${String(f.pref)} ${String(f.kind)} protocol ${String(f.protocol)}`);
      continue;
    }
    const o = f.options;
    if (!o || typeof o.fh !== 'string') continue; // the classifier's own header line
    const [table, bucket, node] = parseU32Handle(o.fh);
    if (node === 0) {
      tables.push({ id: table, divisor: num(o.ht_divisor) });
      continue;
    }
    if (typeof o.link === 'string') {
      links.push({
        table,
        bucket,
        node,
        handle: o.fh,
        target: parseU32Handle(o.link)[0],
        hashMask: hex(String(o.hash_mask ?? '0')),
        hashOffset: num(o.hash_off),
      });
      continue;
    }
    const actions = o.actions ?? [];
    const nats = actions.filter((a) => a.type === 'nat');
    const n = nats.length === 1 ? nats[0] : undefined;
    leaves.push({
      table,
      bucket,
      node,
      handle: o.fh,
      matchAddress: o.match?.mask === 'ffffffff' ? hexToIPv4(String(o.match.value ?? '')) : undefined,
      matchOffset: o.match ? num(o.match.off) : undefined,
      matchMask: o.match ? String(o.match.mask ?? '') : undefined,
      nat: n
        ? {
            direction: n.direction === 'egress' ? 'egress' : 'ingress',
            oldAddress: String(n.old_addr ?? ''),
            newAddress: String(n.new_addr ?? ''),
            cookie: typeof n.cookie === 'string' ? n.cookie : undefined,
            packets: num(n.stats?.packets),
            bytes: num(n.stats?.bytes),
          }
        : undefined,
      otherActions: actions.filter((a) => a !== n).map((a) => String(a.type)),
    });
  }
  return { tables, links, leaves, foreign: [...foreign] };
}
