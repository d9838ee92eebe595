import type { DesiredRouter, FloatingMapping, RateLimit } from '../types.js';
import { limitsKey, parseLimitsKey } from '../types.js';

/**
 * QoS rate limits in nftables: four sets keyed by the floating address, one per direction and unit, whose every
 * element carries its own `limit rate over …` (a Neutron limit holds per floating IP, never shared by the
 * floating IPs of one policy). A lookup that matches evaluates the element's limit, and the rule drops only what
 * exceeds it: `ip daddr @qos_in_pps drop`. A floating IP without limits is in none of the sets; the lookup misses
 * and its packets go on. A limit change deletes and re-adds that floating IP's elements in the router's one
 * transaction.
 *
 * Why elements and not named `limit` objects referenced through maps (`limit name ip daddr map @m`): that works on
 * this kernel and nft 1.0.6 too, but nft then fetches every named object of the namespace before any element
 * change, in any table: measured through the agent's nft channel with 10,000 limited floating IPs (20,000
 * objects), one limit change took 50 ms and even a translation change of an unlimited floating IP 37-58 ms,
 * against 0.3 ms and 0.2 ms with limits in set elements.
 *
 * Both directions are keyed by the floating address: inbound before translation (in the raw prerouting chain),
 * outbound after the source rewrite (in the stateless postrouting chain). A floating IP that moves to another
 * fixed IP keeps its limit elements untouched, as it keeps its counters.
 */
export interface QosSet {
  readonly name: string;
  readonly direction: RateLimit['direction'];
  readonly unit: RateLimit['unit'];
}

export const QOS_SETS: readonly QosSet[] = [
  { name: 'qos_in_bw', direction: 'ingress', unit: 'kbit' },
  { name: 'qos_in_pps', direction: 'ingress', unit: 'packets' },
  { name: 'qos_out_bw', direction: 'egress', unit: 'kbit' },
  { name: 'qos_out_pps', direction: 'egress', unit: 'packets' },
];

/**
 * nft 1.0.6 takes elements with a limit only into a set that declares one; this template never applies, since
 * every element sfip adds carries its own limit (an element added by hand without one would get it, and show
 * as drift).
 */
const TEMPLATE: Record<RateLimit['unit'], string> = {
  kbit: 'limit rate over 1 bytes/second burst 1 bytes',
  packets: 'limit rate over 1/second burst 1 packets',
};

export const QOS_DECLARATIONS = QOS_SETS.map((s) => `set ${s.name} { type ipv4_addr; ${TEMPLATE[s.unit]}; }`);
export const QOS_EXPECTED_SETS = QOS_SETS.map((s) => `${s.name} ipv4_addr limit`);

const setsOf = (direction: RateLimit['direction']) => QOS_SETS.filter((s) => s.direction === direction);

/**
 * The sets some mapping has a limit in. Only these get a rule: every rule is a hash lookup for every packet the
 * chain sees, limited or not, so a router without limits of a kind pays nothing for them. The first limit of a
 * kind (or the last one's removal) therefore changes the table's structure, which rebuilds it in one transaction;
 * every other limit change stays an element change.
 */
const usedSets = (direction: RateLimit['direction'], mappings: readonly FloatingMapping[]) =>
  setsOf(direction).filter((set) => mappings.some((m) => (m.limits ?? []).some(inSet(set))));

/** Ingress limits, in the raw prerouting chain before anything rewrites the floating destination. */
export const inboundQosRules = (mappings: readonly FloatingMapping[]): string[] =>
  usedSets('ingress', mappings).map((s) => `ip daddr @${s.name} drop`);

/** Egress limits, in the stateless postrouting chain once the source is the floating address. */
export const outboundQosRules = (mappings: readonly FloatingMapping[]): string[] =>
  usedSets('egress', mappings).map((s) => `ip saddr @${s.name} drop`);

/** A kbit is 125 bytes: nftables counts bandwidth in bytes. */
const BYTES_PER_KBIT = 125;
const ELEMENTS_PER_STATEMENT = 4096;

/** The element's limit: it matches (and the rule drops) only what exceeds the rate once the burst is spent. */
function limitText(l: RateLimit): string {
  return l.unit === 'kbit'
    ? `limit rate over ${l.rate * BYTES_PER_KBIT} bytes/second burst ${l.burst * BYTES_PER_KBIT} bytes`
    : `limit rate over ${l.rate}/second burst ${l.burst} packets`;
}

const inSet = (set: QosSet) => (l: RateLimit) => l.direction === set.direction && l.unit === set.unit;

/** `add element` statements for the limits of some mappings. */
export function qosElementStatements(table: string, mappings: readonly FloatingMapping[]): string[] {
  return QOS_SETS.flatMap((set) => {
    const elements = mappings.flatMap((m) =>
      (m.limits ?? []).filter(inSet(set)).map((l) => `${m.floatingIp} ${limitText(l)}`),
    );
    return chunk(elements).map((es) => `add element ip ${table} ${set.name} { ${es.join(', ')} }`);
  });
}

/**
 * The statements that take the kernel's limits (`actual`: floating -> limitsKey, as read back or recorded) to
 * the desired ones, for the floating IPs whose limits differ: their elements are deleted, then the new ones
 * added, in the caller's transaction. Floating IPs whose limits are equal are not touched.
 */
export function qosDelta(
  table: string,
  desired: DesiredRouter,
  actual: ReadonlyMap<string, string>,
): string[] {
  const want = new Map(desired.mappings.map((m) => [m.floatingIp as string, m]));
  const stale: [string, RateLimit[]][] = [];
  for (const [fip, key] of actual) {
    if (limitsKey(want.get(fip)?.limits) !== key) stale.push([fip, parseLimitsKey(key)]);
  }
  const fresh = desired.mappings.filter((m) => m.limits && limitsKey(m.limits) !== actual.get(m.floatingIp));
  const deletes = QOS_SETS.flatMap((set) => {
    const keys = stale.filter(([, ls]) => ls.some(inSet(set))).map(([fip]) => fip);
    return chunk(keys).map((ks) => `delete element ip ${table} ${set.name} { ${ks.join(', ')} }`);
  });
  return [...deletes, ...qosElementStatements(table, fresh)];
}

/** An element's limit as `nft -j` lists it. */
export interface NftLimit {
  readonly rate?: number;
  readonly per?: string;
  readonly inv?: boolean;
  readonly rate_unit?: string;
  readonly burst?: number;
  readonly burst_unit?: string;
}

const UNIT_BYTES: Readonly<Record<string, number>> = { bytes: 1, kbytes: 1024, mbytes: 1024 * 1024 };

/**
 * floating -> limitsKey from the QoS sets' elements (set name -> floating -> its limit, or null for an element
 * without one). A limit not as sfip renders it (not `over`, not per second, bytes in a packet set) yields a key
 * no desired state has, so the next plan replaces it.
 */
export function limitsFromElements(
  elements: ReadonlyMap<string, ReadonlyMap<string, NftLimit | null>>,
): Map<string, string> {
  const byFip = new Map<string, RateLimit[]>();
  for (const set of QOS_SETS) {
    for (const [fip, o] of elements.get(set.name) ?? []) {
      const ok = o !== null && o.per === 'second' && o.inv === true;
      const bytesLimit = o?.rate_unit !== undefined;
      const scale = (value: number | undefined, unit: string | undefined) =>
        bytesLimit ? ((value ?? 0) * (UNIT_BYTES[unit ?? 'bytes'] ?? NaN)) / BYTES_PER_KBIT : (value ?? 0);
      const limit: RateLimit = {
        direction: set.direction,
        unit: set.unit,
        rate: ok && bytesLimit === (set.unit === 'kbit') ? scale(o.rate, o.rate_unit) : -1,
        burst: scale(o?.burst, o?.burst_unit ?? o?.rate_unit),
      };
      byFip.set(fip, [...(byFip.get(fip) ?? []), limit]);
    }
  }
  return new Map(
    [...byFip].map(([fip, ls]) => [
      fip,
      limitsKey(ls.sort((a, b) => a.direction.localeCompare(b.direction) || a.unit.localeCompare(b.unit))),
    ]),
  );
}

function chunk<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ELEMENTS_PER_STATEMENT)
    out.push(items.slice(i, i + ELEMENTS_PER_STATEMENT));
  return out;
}
