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

export interface ActionInfo {
  /** `nat`, `skbedit`, ... */
  readonly kind: string;
  /** nat: which address it rewrites (ingress: destination, egress: source), from what (with /prefix) to what. */
  readonly direction?: 'ingress' | 'egress';
  readonly oldAddress?: string;
  readonly newAddress?: string;
  /** skbedit: the mark and mask it sets. */
  readonly mark?: number;
  /** police: a packet-rate policer's rate and burst (a byte-rate policer's are not in tc's JSON: police.ts). */
  readonly pktsRate?: number;
  readonly pktsBurst?: number;
  readonly markMask?: number;
  readonly control: string;
  readonly cookie: string | undefined;
  readonly packets: number;
  readonly bytes: number;
}

/** One u32 filter node: a jump, a translation, or both absent (someone else's). */
export interface NodeInfo {
  readonly table: number;
  readonly bucket: number;
  readonly node: number;
  /** As tc prints it, for `filter replace` and `filter del`. */
  readonly handle: string;
  /** The one 32-bit key: the address (when the mask is whole), its offset; absent for match-all nodes. */
  readonly matchAddress: string | undefined;
  readonly matchOffset: number | undefined;
  readonly matchAll: boolean;
  readonly fwmark: { readonly value: number; readonly mask: number } | undefined;
  readonly link:
    { readonly target: number; readonly hashMask: number; readonly hashOffset: number } | undefined;
  readonly actions: readonly ActionInfo[];
}

export interface FilterState {
  readonly tables: readonly TableInfo[];
  readonly nodes: readonly NodeInfo[];
  /** Filters at other priorities, of other kinds or protocols: someone else's. */
  readonly foreign: readonly string[];
}

interface RawAction {
  type?: unknown;
  kind?: unknown;
  direction?: unknown;
  old_addr?: unknown;
  new_addr?: unknown;
  mark?: unknown;
  mask?: unknown;
  pkts_rate?: unknown;
  pkts_burst?: unknown;
  cookie?: unknown;
  control_action?: { type?: unknown };
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
    fwmark_value?: unknown;
    fwmark_mask?: unknown;
    match?: { value?: unknown; mask?: unknown; off?: unknown };
    actions?: RawAction[];
  };
}

const hex = (text: unknown): number => Number.parseInt(String(text ?? '0').replace(/^0x/, '') || '0', 16);
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

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

function parseAction(a: RawAction): ActionInfo {
  const kind = String(a.type ?? a.kind ?? '');
  return {
    kind,
    ...(kind === 'nat' && {
      direction: a.direction === 'egress' ? ('egress' as const) : ('ingress' as const),
      oldAddress: String(a.old_addr ?? ''),
      newAddress: String(a.new_addr ?? ''),
    }),
    ...(kind === 'skbedit' &&
      a.mark !== undefined && { mark: num(a.mark), markMask: hex(a.mask ?? 'ffffffff') }),
    ...(kind === 'police' &&
      a.pkts_rate !== undefined && { pktsRate: num(a.pkts_rate), pktsBurst: num(a.pkts_burst) }),
    control: String(a.control_action?.type ?? ''),
    cookie: typeof a.cookie === 'string' ? a.cookie : undefined,
    packets: num(a.stats?.packets),
    bytes: num(a.stats?.bytes),
  };
}

/**
 * Reads one filter list (one parent). Only u32 filters for IPv4 at sfip's priorities are parsed; everything else is
 * listed as foreign.
 */
export function parseFilters(
  json: string,
  priorities: readonly number[],
  where: string,
): Map<number, FilterState> {
  const list = JSON.parse(json || '[]') as RawFilter[];
  const byPriority = new Map(
    priorities.map((p) => [
      p,
      { tables: [] as TableInfo[], nodes: [] as NodeInfo[], foreign: [] as string[] },
    ]),
  );
  const foreign = new Set<string>();
  for (const f of list) {
    const mine = typeof f.pref === 'number' ? byPriority.get(f.pref) : undefined;
    if (!mine || f.kind !== 'u32' || f.protocol !== 'ip') {
      foreign.add(`${where} filter pref ${String(f.pref)} ${String(f.kind)} protocol ${String(f.protocol)}`);
      continue;
    }
    const o = f.options;
    if (!o || typeof o.fh !== 'string') continue; // the classifier's own header line
    const [table, bucket, node] = parseU32Handle(o.fh);
    if (node === 0) {
      mine.tables.push({ id: table, divisor: num(o.ht_divisor) });
      continue;
    }
    const m = o.match;
    mine.nodes.push({
      table,
      bucket,
      node,
      handle: o.fh,
      matchAddress: m && m.mask === 'ffffffff' ? hexToIPv4(String(m.value ?? '')) : undefined,
      matchOffset: m ? num(m.off) : undefined,
      matchAll: m !== undefined && String(m.mask) === '0',
      fwmark:
        o.fwmark_value !== undefined ? { value: hex(o.fwmark_value), mask: hex(o.fwmark_mask) } : undefined,
      link:
        typeof o.link === 'string'
          ? { target: parseU32Handle(o.link)[0], hashMask: hex(o.hash_mask), hashOffset: num(o.hash_off) }
          : undefined,
      actions: (o.actions ?? []).map(parseAction),
    });
  }
  const firstPriority = priorities[0];
  if (firstPriority !== undefined) byPriority.get(firstPriority)!.foreign.push(...foreign);
  return byPriority;
}
