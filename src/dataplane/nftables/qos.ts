import type { DesiredRouter, FloatingMapping, RateLimit } from '../types.js';
import { limitsKey } from '../types.js';

/**
 * QoS rate limits in nftables: one named `limit` object per floating IP, direction and unit (a Neutron limit
 * holds per floating IP, never shared by the floating IPs of one policy), referenced through four maps keyed
 * by the floating address: `limit name ip daddr map @qos_in_bw drop` drops what exceeds the object's rate
 * (`rate over`). A limit change is an element and object update in the router's one transaction; a floating
 * IP without limits is in none of the maps, and the lookup miss lets its packets on.
 *
 * Both directions are keyed by the floating address: inbound before translation (in the raw prerouting chain),
 * outbound after the source rewrite (in the stateless postrouting chain). A floating IP that moves to another
 * fixed IP keeps its limit elements untouched, as it keeps its counters.
 */
export interface QosMap {
  readonly name: string;
  readonly direction: RateLimit['direction'];
  readonly unit: RateLimit['unit'];
}

export const QOS_MAPS: readonly QosMap[] = [
  { name: 'qos_in_bw', direction: 'ingress', unit: 'kbit' },
  { name: 'qos_in_pps', direction: 'ingress', unit: 'packets' },
  { name: 'qos_out_bw', direction: 'egress', unit: 'kbit' },
  { name: 'qos_out_pps', direction: 'egress', unit: 'packets' },
];

export const QOS_DECLARATIONS = QOS_MAPS.map((m) => `map ${m.name} { type ipv4_addr : limit; }`);
export const QOS_EXPECTED_MAPS = QOS_MAPS.map((m) => `${m.name} ipv4_addr:limit`);

const mapsOf = (direction: RateLimit['direction']) => QOS_MAPS.filter((m) => m.direction === direction);

/** Ingress limits, in the raw prerouting chain before anything rewrites the floating destination. */
export const inboundQosRules = (): string[] =>
  mapsOf('ingress').map((m) => `limit name ip daddr map @${m.name} drop`);

/** Egress limits, in the stateless postrouting chain once the source is the floating address. */
export const outboundQosRules = (): string[] =>
  mapsOf('egress').map((m) => `limit name ip saddr map @${m.name} drop`);

const tag = (direction: RateLimit['direction'], unit: RateLimit['unit']) =>
  `q${direction === 'ingress' ? 'in' : 'out'}_${unit === 'kbit' ? 'bw' : 'pps'}`;

/** `qin_bw_cb00710a`: direction, unit and the floating address in hex, so the read-back can tell whose it is. */
export function limitObjectName(floatingIp: string, limit: Pick<RateLimit, 'direction' | 'unit'>): string {
  const hex = floatingIp
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join('');
  return `${tag(limit.direction, limit.unit)}_${hex}`;
}

const OBJECT_NAME = /^q(in|out)_(bw|pps)_([0-9a-f]{8})$/;

function ofObjectName(
  name: string,
): { floatingIp: string; direction: RateLimit['direction']; unit: RateLimit['unit'] } | undefined {
  const match = OBJECT_NAME.exec(name);
  if (!match) return undefined;
  const hex = match[3]!;
  const floatingIp = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
  return {
    floatingIp,
    direction: match[1] === 'in' ? 'ingress' : 'egress',
    unit: match[2] === 'bw' ? 'kbit' : 'packets',
  };
}

/** A kbit is 125 bytes: nftables counts bandwidth in bytes. */
const BYTES_PER_KBIT = 125;

/** The object's body: it matches (and the rule drops) only what exceeds the rate once the burst is spent. */
function limitBody(l: RateLimit): string {
  return l.unit === 'kbit'
    ? `rate over ${l.rate * BYTES_PER_KBIT} bytes/second burst ${l.burst * BYTES_PER_KBIT} bytes`
    : `rate over ${l.rate}/second burst ${l.burst} packets`;
}

/** The objects and elements of some mappings' limits, as lines of a table body (`objects`) and statements. */
export function qosObjects(mappings: readonly FloatingMapping[]): string[] {
  return mappings.flatMap((m) =>
    (m.limits ?? []).map((l) => `limit ${limitObjectName(m.floatingIp, l)} { ${limitBody(l)} }`),
  );
}

export function qosElementStatements(table: string, mappings: readonly FloatingMapping[]): string[] {
  return QOS_MAPS.flatMap((map) => {
    const elements = mappings.flatMap((m) =>
      (m.limits ?? [])
        .filter((l) => l.direction === map.direction && l.unit === map.unit)
        .map(() => `${m.floatingIp} : "${limitObjectName(m.floatingIp, map)}"`),
    );
    return elements.length > 0 ? [`add element ip ${table} ${map.name} { ${elements.join(', ')} }`] : [];
  });
}

/**
 * The statements that take the kernel's limits (`actual`: floating -> limitsKey, as read back or recorded)
 * to the desired ones, for the floating IPs whose limits differ: their elements and objects are deleted, then
 * the new objects and elements added, all in the caller's transaction. Floating IPs whose limits are equal
 * are not touched.
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
  const deletes = QOS_MAPS.flatMap((map) => {
    const keys = stale.filter(([, ls]) =>
      ls.some((l) => l.direction === map.direction && l.unit === map.unit),
    );
    return keys.length > 0
      ? [`delete element ip ${table} ${map.name} { ${keys.map(([fip]) => fip).join(', ')} }`]
      : [];
  });
  const objectDeletes = stale.flatMap(([fip, ls]) =>
    ls.map((l) => `delete limit ip ${table} ${limitObjectName(fip, l)}`),
  );
  const objectAdds = qosObjects(fresh).map((body) => `add ${body.replace(/^limit /, `limit ip ${table} `)}`);
  return [...deletes, ...objectDeletes, ...objectAdds, ...qosElementStatements(table, fresh)];
}

/** The inverse of `limitsKey` (the kernel's current limits of one floating IP, to delete them). */
export function parseLimitsKey(key: string): RateLimit[] {
  if (!key) return [];
  return key.split('; ').map((part) => {
    const [direction, rates, unit] = part.split(' ');
    const [rate, burst] = (rates ?? '').split('/').map(Number);
    return {
      direction: direction === 'ingress' ? 'ingress' : 'egress',
      unit: unit === 'kbit' ? 'kbit' : 'packets',
      rate: rate ?? 0,
      burst: burst ?? 0,
    };
  });
}

/** A limit object as `nft -j` lists it. */
export interface NftLimitObject {
  readonly name: string;
  readonly rate?: number;
  readonly per?: string;
  readonly inv?: boolean;
  readonly rate_unit?: string;
  readonly burst?: number;
  readonly burst_unit?: string;
}

const UNIT_BYTES: Readonly<Record<string, number>> = { bytes: 1, kbytes: 1024, mbytes: 1024 * 1024 };

/**
 * floating -> limitsKey from the limit objects of a listing (a terse listing has them too: they are not set
 * elements). An object that is not as sfip renders it (another rate unit, not `over`, not per second) yields
 * a key no desired state has, so the next plan replaces it.
 */
export function limitsFromObjects(objects: readonly NftLimitObject[]): Map<string, string> {
  const byFip = new Map<string, RateLimit[]>();
  for (const o of objects) {
    const owner = ofObjectName(o.name);
    if (!owner) continue;
    const ok = o.per === 'second' && o.inv === true;
    const bytesLimit = o.rate_unit !== undefined;
    const scale = (value: number | undefined, unit: string | undefined) =>
      bytesLimit ? ((value ?? 0) * (UNIT_BYTES[unit ?? 'bytes'] ?? NaN)) / BYTES_PER_KBIT : (value ?? 0);
    const limit: RateLimit = {
      direction: owner.direction,
      unit: owner.unit,
      rate: ok && bytesLimit === (owner.unit === 'kbit') ? scale(o.rate, o.rate_unit) : -1,
      burst: scale(o.burst, o.burst_unit ?? o.rate_unit),
    };
    byFip.set(owner.floatingIp, [...(byFip.get(owner.floatingIp) ?? []), limit]);
  }
  return new Map(
    [...byFip].map(([fip, ls]) => [
      fip,
      limitsKey(ls.sort((a, b) => a.direction.localeCompare(b.direction) || a.unit.localeCompare(b.unit))),
    ]),
  );
}

/**
 * A full listing (with elements): every limit object is the element of its own floating address in its map,
 * and every element names its own object. Anything else (an element deleted or repointed by hand) is drift
 * that only a rebuild repairs safely.
 */
export function qosConsistent(
  objectNames: ReadonlySet<string>,
  elements: ReadonlyMap<string, ReadonlyMap<string, string>>,
): boolean {
  let elementCount = 0;
  for (const map of QOS_MAPS) {
    for (const [fip, name] of elements.get(map.name) ?? []) {
      elementCount++;
      if (name !== limitObjectName(fip, map) || !objectNames.has(name)) return false;
    }
  }
  const owned = [...objectNames].filter((n) => OBJECT_NAME.test(n)).length;
  return owned === elementCount && owned === objectNames.size;
}
