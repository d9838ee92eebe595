import { createHash } from 'node:crypto';
import { isUuid } from '../../model/index.js';
import type { DesiredRouter, FloatingMapping } from '../types.js';
import { antiSpoofingRules, SOURCE_MACS, sourceMacElement, sourceMacsDeclaration } from './anti-spoofing.js';
import { ICMP_MAPS, inboundIcmpRules, outboundIcmpRules, rawAddress } from './icmp-errors.js';
import {
  inboundQosRules,
  outboundQosRules,
  QOS_DECLARATIONS,
  qosDelta,
  qosElementStatements,
} from './qos.js';
import {
  forwardingDigest,
  forwardingElements,
  forwardingRules,
  PF_ICMP_DECLARATIONS,
  PF_MAP_DECLARATIONS,
  PF_SET_DECLARATIONS,
} from './port-forwarding.js';
import { FIXED_SET, FLOATING_SET, membershipDeclarations } from './membership.js';
import { splitByInputDevice } from './raw-split.js';

/** nft table and map names. `dnat` and `snat` are nft keywords, so the maps are named by direction instead. */
export const INBOUND_MAP = 'fip2fixed';
export const OUTBOUND_MAP = 'fixed2fip';
/**
 * Per-floating-IP traffic counters: plain sets of floating addresses whose every element carries an nft counter
 * (the `counter` flag in the set declaration). A set element's counter counts each lookup that matches it, so
 * each set is looked up by exactly one rule, once per packet: the translation maps are looked up several times
 * per packet by different rules and could not count packets. Keyed by the floating address in both directions,
 * so a floating IP that moves to another fixed IP keeps its counters.
 */
export const COUNT_IN_SET = 'fipcount_in';
export const COUNT_OUT_SET = 'fipcount_out';
export const COUNTER_SETS = [COUNT_IN_SET, COUNT_OUT_SET] as const;
const TABLE_PREFIX = 'sfip_';
const ELEMENTS_PER_STATEMENT = 4096;

export interface NftOptions {
  /**
   * Packet mark bit set on hairpin packets (floating IP to floating IP through the same router), so that
   * postrouting also rewrites their source. Change it if another component on the router uses this bit.
   */
  readonly hairpinMark: number;
}

export const DEFAULT_NFT_OPTIONS: NftOptions = { hairpinMark: 0x10000000 };

/**
 * Each router owns one table, named after its id, so several routers can share a namespace. The id goes into nft
 * input as text, so anything but a UUID is refused here, whatever the caller checked before.
 */
export function tableName(routerId: string): string {
  if (!isUuid(routerId))
    throw new Error(
      `Router id '${routerId}' is not a lower-case UUID: the nftables backend names its table by it`,
    );
  return TABLE_PREFIX + routerId.replace(/-/g, '');
}

export function routerIdOfTable(name: string): string | undefined {
  const hex = name.startsWith(TABLE_PREFIX) ? name.slice(TABLE_PREFIX.length) : '';
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
}

export interface ChainSpec {
  readonly name: string;
  /** Absent for a regular chain, reached only by `jump`. */
  readonly base?: {
    readonly type: 'filter' | 'nat';
    readonly hook: 'prerouting' | 'postrouting';
    /** Numeric priority, as `nft -j` reports it. */
    readonly priority: number;
  };
  readonly rules: readonly string[];
  /**
   * Folded into every rule comment of the chain: the port forwardings' digest, so that a forwarding change shows
   * as a structure change (and rebuilds the table in one transaction). Absent without forwardings.
   */
  readonly salt?: string;
}

/** Past this many, the comments kept start again empty: a few rules per router, each router's few variants. */
const MAX_COMMENTS = 4_096;
const comments = new Map<string, string>();

/**
 * A rule's comment carries a hash of its text, so drift in any rule is seen by reading comments back. Kept by
 * text (the hash is a pure function of it): every delta plans against the table's structure signature, and
 * hashing its rules again each time was about 1.3 % of the daemon's CPU in a fill over 100 routers (eBPF).
 */
export function ruleComment(chain: string, rule: string, salt?: string): string {
  const text = salt === undefined ? `${chain}\n${rule}` : `${chain}\n${rule}\n${salt}`;
  let comment = comments.get(text);
  if (comment === undefined) {
    comment = 'sfip:' + createHash('sha256').update(text).digest('hex').slice(0, 12);
    if (comments.size >= MAX_COMMENTS) comments.clear();
    comments.set(text, comment);
  }
  return comment;
}

const RAW = -300;
const DSTNAT = -100;
const SRCNAT = 100;

/** The rules of a router's table. Everything except the two maps' elements. */
export function chainsFor(desired: DesiredRouter, options: NftOptions = DEFAULT_NFT_OPTIONS): ChainSpec[] {
  const gw = JSON.stringify(desired.gatewayDevice);
  const mark = `0x${options.hairpinMark.toString(16).padStart(8, '0')}`;
  const internal = desired.internalCidrs.length > 0 ? `{ ${desired.internalCidrs.join(', ')} }` : null;
  const forwardings = desired.forwardings ?? [];
  const pf =
    forwardings.length > 0
      ? forwardingRules(gw, mark, internal, desired.gatewayIp, FIXED_SET, FLOATING_SET, INBOUND_MAP)
      : undefined;
  const antiSpoofing = antiSpoofingRules(desired, internal, FIXED_SET);
  // Outbound and east-west traffic of a fixed IP that has a floating IP is never tracked either; its source is
  // rewritten in postrouting. Replies to the router's gateway address stay tracked: they belong to the stateful
  // hairpin below. Once untracked, the last rule has nothing left to do. Last in the raw rules, and the whole of
  // RAW_NOT_FLOATING_CHAIN.
  const untracked = [
    `ip saddr @${FIXED_SET} ip daddr != ${desired.gatewayIp} notrack accept`,
    `ip daddr @${FIXED_SET} notrack`,
  ];
  const salt = forwardings.length > 0 ? { salt: forwardingDigest(forwardings) } : {};
  const translation = [
    // Counts every packet addressed to a floating IP, before anything rewrites the destination (so hairpin
    // packets and ICMP errors count too). A lookup that misses costs one hash probe and changes nothing.
    // QoS ingress limits, before the count: the counters show what was let through.
    ...inboundQosRules(),
    `ip daddr @${COUNT_IN_SET}`,
    // ICMP errors first: their quoted header must be translated too (see icmp-errors.ts).
    `meta l4proto icmp jump ${ICMP_IN_CHAIN}`,
    ...(pf?.rawIcmp ?? []),
    ...(pf?.rawHairpin ?? []),
    // An internal address without a floating IP reaching a floating IP (hairpin) cannot be translated
    // statelessly: the reply must come back through the router, which needs conntrack's SNAT. Leave it tracked
    // and let the nat chains below handle it, as Neutron does for every floating IP.
    ...(internal
      ? [`iifname != ${gw} ip saddr ${internal} ip saddr != @${FIXED_SET} ip daddr @${FLOATING_SET} return`]
      : []),
    // Hairpin between two floating IPs: remember it, so postrouting rewrites the source too and both ends
    // see floating addresses.
    `iifname != ${gw} ip daddr @${FLOATING_SET} meta mark set meta mark | ${mark}`,
    // Inbound: floating -> fixed, from any device, and untracked. This chain sits at priority raw (-300),
    // ahead of conntrack (-200), so NOTRACK lands before conntrack ever sees the packet. The seed's recipe
    // rewrote in tc ingress, which runs before all of netfilter, so its raw rule matching the floating
    // address never fired; here the rewrite and the NOTRACK happen in one rule.
    // A translated packet is done here (`accept` ends this chain only): the NOTRACK rules below would only set
    // NOTRACK again, at a hash lookup each.
    ...(pf?.rawTranslate ?? []),
    `ip daddr set ip daddr map @${INBOUND_MAP} notrack accept`,
    ...untracked,
  ];
  const spoof = splitByInputDevice(antiSpoofing, gw);
  const rest = splitByInputDevice(translation, gw);
  // A VM's packet that is no ICMP error and not addressed to a floating IP can match none of the rules between the
  // anti-spoofing and the untracking ones: the QoS ingress sets, the count set and the translation map hold the
  // mappings' floating addresses only (read-back brings each back to the desired mappings), and the hairpin rules
  // test @fips. So it goes straight to the untracking rules: two lookups instead of seven for a floating IP's
  // outbound traffic, three instead of nine for the shared SNAT's (docs/nftables.md). Port forwardings add rules
  // keyed on their own addresses in between, so not with those.
  const fromGateway = [...spoof.fromGateway, ...rest.fromGateway];
  const inside = [
    ...spoof.fromInside,
    ...(pf ? [] : [`meta l4proto != icmp ip daddr != @${FLOATING_SET} goto ${RAW_NOT_FLOATING_CHAIN}`]),
    ...rest.fromInside,
  ];
  const postrouting = [
    // Every rule below acts only on packets leaving by the gateway or marked as hairpin: anything else (inbound
    // traffic on its way to a VM, east-west traffic) is done here, at two compares instead of every lookup below.
    `oifname != ${gw} meta mark & ${mark} != ${mark} accept`,
    // Forwarded ports first: a VM's forwarded port leaves with the forwarding's address even if the VM has a
    // 1:1 floating IP of its own (that rule then misses, the source being floating already).
    ...(pf?.postrouting ?? []),
    // Outbound: fixed -> floating towards the gateway device. A map miss ends the rule, so other traffic is
    // left alone.
    `oifname ${gw} ip saddr set ip saddr map @${OUTBOUND_MAP}`,
    `meta mark & ${mark} == ${mark} ip saddr set ip saddr map @${OUTBOUND_MAP}`,
    // QoS egress limits, keyed by the floating source the two rules above wrote.
    ...outboundQosRules(),
    // Counts every packet that leaves with a floating source, after the two rewrites above and before the ICMP
    // chains (which only touch the quoted header).
    `ip saddr @${COUNT_OUT_SET}`,
    // ICMP errors leaving by the gateway (from a VM, or generated by the router itself about a packet it had
    // already translated) and hairpin errors quote a fixed destination that the receiver knows as floating.
    `oifname ${gw} meta l4proto icmp jump ${ICMP_OUT_CHAIN}`,
    `meta mark & ${mark} == ${mark} meta l4proto icmp jump ${ICMP_OUT_CHAIN}`,
  ];
  const natPrerouting = [
    // Only tracked packets reach nat chains, so this sees just the stateful hairpin case from the raw chain. A map
    // miss ends the rule, so no membership test is needed first.
    `dnat to ip daddr map @${INBOUND_MAP}`,
    ...(pf?.natPrerouting ?? []),
  ];
  const natPostrouting = internal
    ? [
        // Shared SNAT for everything without a floating IP: this is what keeps conntrack hooked here.
        `oifname ${gw} ip saddr ${internal} snat to ${desired.gatewayIp}`,
        `ct status dnat oifname != ${gw} ip saddr ${internal} snat to ${desired.gatewayIp}`,
      ]
    : [];
  return [
    { name: ICMP_IN_CHAIN, rules: inboundIcmpRules() },
    { name: ICMP_OUT_CHAIN, rules: outboundIcmpRules() },
    ...(pf ? [] : [{ name: RAW_NOT_FLOATING_CHAIN, rules: untracked }]),
    { name: RAW_FROM_GATEWAY_CHAIN, rules: fromGateway, ...salt },
    {
      name: 'raw_prerouting',
      base: { type: 'filter', hook: 'prerouting', priority: RAW },
      // One compare sends the gateway's traffic to its own list (raw-split.ts); the rest is the inside's.
      rules: [`iifname ${gw} goto ${RAW_FROM_GATEWAY_CHAIN}`, ...inside],
      ...salt,
    },
    {
      name: 'stateless_postrouting',
      base: { type: 'filter', hook: 'postrouting', priority: SRCNAT - 10 },
      rules: postrouting,
    },
    {
      name: 'nat_prerouting',
      base: { type: 'nat', hook: 'prerouting', priority: DSTNAT },
      rules: natPrerouting,
    },
    {
      name: 'nat_postrouting',
      base: { type: 'nat', hook: 'postrouting', priority: SRCNAT },
      rules: natPostrouting,
    },
  ];
}

const ICMP_IN_CHAIN = 'icmp_errors_in';
const RAW_FROM_GATEWAY_CHAIN = 'raw_from_gateway';
const RAW_NOT_FLOATING_CHAIN = 'raw_not_floating';
const ICMP_OUT_CHAIN = 'icmp_errors_out';

/** Every map of the table: the two that translate packets, and the four that translate quoted headers. */
interface MapSpec {
  readonly name: string;
  readonly declaration: string;
  readonly element: (m: FloatingMapping) => string;
  readonly keyedBy: 'floating' | 'fixed';
  /** How a key of this map is written in a `delete element` statement. */
  readonly key: (ip: string) => string;
}

export const MAPS: readonly MapSpec[] = [
  {
    name: INBOUND_MAP,
    declaration: 'type ipv4_addr : ipv4_addr',
    element: (m) => `${m.floatingIp} : ${m.fixedIp}`,
    keyedBy: 'floating',
    key: (ip) => ip,
  },
  {
    name: OUTBOUND_MAP,
    declaration: 'type ipv4_addr : ipv4_addr',
    element: (m) => `${m.fixedIp} : ${m.floatingIp}`,
    keyedBy: 'fixed',
    key: (ip) => ip,
  },
  ...ICMP_MAPS.map((m) => ({ ...m, key: rawAddress })),
];

/**
 * The table's structure as `nft -j` reports it back: first every base chain (type, hook, priority), then every
 * rule by its comment, chain by chain in creation order.
 */
export function structureSignature(chains: readonly ChainSpec[]): string[] {
  return [
    ...chains.map(
      (c) => `chain ${c.name} ${c.base?.type ?? '-'} ${c.base?.hook ?? '-'} ${c.base?.priority ?? '-'}`,
    ),
    ...chains.flatMap((c) => c.rules.map((r) => `rule ${c.name} ${ruleComment(c.name, r, c.salt)}`)),
  ];
}

/**
 * The whole table in one transaction. `add` then `delete` makes the delete safe when the table does not exist
 * yet (nft 1.0.6 has no `destroy`); the kernel applies the file atomically, so packets see either the old
 * table or the new one, never neither.
 */
export function renderFull(desired: DesiredRouter, options: NftOptions = DEFAULT_NFT_OPTIONS): string {
  const table = tableName(desired.routerId);
  const lines = [
    `add table ip ${table}`,
    `delete table ip ${table}`,
    ...tableLines(desired, options),
    ...addElements(table, desired.mappings),
    ...fewElements(desired),
    ...sourceMacStatements(
      'add',
      table,
      desired.mappings.flatMap((m) => (m.fixedMac ? [[m.fixedMac, m.fixedIp]] : [])),
    ),
  ];
  return lines.join('\n') + '\n';
}

/**
 * A router's table that does not exist yet, without the eleven elements per floating IP of the translation maps,
 * quoted-header maps, counter, membership and source-MAC sets: those follow through the element loader
 * (element-load.ts). The QoS and port-forwarding elements (only the limited floating IPs, and the forwardings) are
 * in. `create` fails the transaction if the table appeared since it was read: then the caller applies renderFull.
 */
export function renderStructure(desired: DesiredRouter, options: NftOptions = DEFAULT_NFT_OPTIONS): string {
  const table = tableName(desired.routerId);
  // The comment must come with the `create`: a table's comment is set when it is created (nft 1.0.6 also ignores
  // the contents of a `create table ... { }` block, hence the block after it).
  return (
    [
      `create table ip ${table} { ${tableComment(desired)}; }`,
      ...tableLines(desired, options),
      ...fewElements(desired),
    ].join('\n') + '\n'
  );
}

const tableComment = (desired: DesiredRouter) =>
  `comment "sfip router ${desired.routerId}: managed by sfip, changes are reverted"`;

/** The table's declarations, chains and rules. */
function tableLines(desired: DesiredRouter, options: NftOptions): string[] {
  const table = tableName(desired.routerId);
  const chains = chainsFor(desired, options);
  const forwardings = desired.forwardings ?? [];
  return [
    `table ip ${table} {`,
    `  ${tableComment(desired)}`,
    ...MAPS.map((m) => `  map ${m.name} { ${m.declaration}; }`),
    `  ${sourceMacsDeclaration}`,
    ...COUNTER_SETS.map((name) => `  set ${name} { type ipv4_addr; counter; }`),
    ...membershipDeclarations.map((d) => `  ${d}`),
    ...QOS_DECLARATIONS.map((d) => `  ${d}`),
    ...(forwardings.length > 0
      ? [
          ...[...PF_MAP_DECLARATIONS, ...PF_ICMP_DECLARATIONS].map(
            ([name, type]) => `  map ${name} { ${type}; }`,
          ),
          ...PF_SET_DECLARATIONS.map(([name, type]) => `  set ${name} { ${type}; }`),
        ]
      : []),
    ...chains.flatMap((c) => [
      `  chain ${c.name} {`,
      ...(c.base
        ? [`    type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority}; policy accept;`]
        : []),
      ...c.rules.map((r) => `    ${r} comment "${ruleComment(c.name, r, c.salt)}"`),
      `  }`,
    ]),
    `}`,
  ];
}

/** The QoS and port-forwarding elements: few (limited floating IPs, forwardings), and typed in nft's syntax. */
function fewElements(desired: DesiredRouter): string[] {
  const table = tableName(desired.routerId);
  return [
    ...qosElementStatements(table, desired.mappings),
    ...[...forwardingElements(desired.forwardings ?? [])].flatMap(([name, elements]) =>
      chunk(elements).map((es) => `add element ip ${table} ${name} { ${es.join(', ')} }`),
    ),
  ];
}

/** Only the map changes, when the structure is already right. Null when nothing differs. */
export function renderDelta(
  desired: DesiredRouter,
  inbound: ReadonlyMap<string, string>,
  outbound: ReadonlyMap<string, string>,
  macs: ReadonlyMap<string, string> = new Map(),
  limits: ReadonlyMap<string, string> = new Map(),
): { text: string | null; added: FloatingMapping[]; removed: FloatingMapping[] } {
  const table = tableName(desired.routerId);
  if (holdsExactly(desired.mappings, inbound, outbound, macs)) {
    const qos = qosDelta(table, desired, limits);
    return { text: qos.length ? qos.join('\n') + '\n' : null, added: [], removed: [] };
  }
  // Plain loops, each map walked once: at a restart with 100,000 floating IPs nothing differs, and spreading every
  // map into arrays of pairs to find that out cost seconds.
  const want = new Map<string, string>();
  const wantOut = new Map<string, string>();
  const wantMac = new Map<string, string>();
  for (const m of desired.mappings) {
    want.set(m.floatingIp, m.fixedIp);
    wantOut.set(m.fixedIp, m.floatingIp);
    if (m.fixedMac) wantMac.set(m.fixedIp, m.fixedMac);
  }
  const deleteIn: string[] = [];
  const removed: FloatingMapping[] = [];
  // The counter sets hold exactly the inbound map's keys (read-back checks it), so they change only when a
  // floating address appears or disappears: a moved floating IP keeps counting from where it was.
  // So does the floating membership set; the fixed one follows the outbound map's keys the same way.
  const uncount: string[] = [];
  for (const [fip, fixed] of inbound) {
    if (want.get(fip) !== fixed) {
      deleteIn.push(fip);
      removed.push({ floatingIp: fip, fixedIp: fixed } as FloatingMapping);
    }
    if (!want.has(fip)) uncount.push(fip);
  }
  const deleteOut: string[] = [];
  const unfix: string[] = [];
  for (const [fixed, fip] of outbound) {
    if (wantOut.get(fixed) !== fip) deleteOut.push(fixed);
    if (!wantOut.has(fixed)) unfix.push(fixed);
  }
  const addIn: FloatingMapping[] = [];
  const addOut: FloatingMapping[] = [];
  const count: string[] = [];
  for (const m of desired.mappings) {
    if (inbound.get(m.floatingIp) !== m.fixedIp) addIn.push(m);
    if (outbound.get(m.fixedIp) !== m.floatingIp) addOut.push(m);
    if (!inbound.has(m.floatingIp)) count.push(m.floatingIp);
  }
  const fix: string[] = [];
  for (const fixed of wantOut.keys()) if (!outbound.has(fixed)) fix.push(fixed);
  const lines = MAPS.flatMap((map) => {
    const deletes = map.keyedBy === 'floating' ? deleteIn : deleteOut;
    const adds = map.keyedBy === 'floating' ? addIn : addOut;
    return [
      ...chunk(deletes).map(
        (keys) => `delete element ip ${table} ${map.name} { ${keys.map(map.key).join(', ')} }`,
      ),
      ...chunk(adds).map((ms) => `add element ip ${table} ${map.name} { ${ms.map(map.element).join(', ')} }`),
    ];
  });
  const macDeletes: string[][] = [];
  for (const [fixed, mac] of macs) if (wantMac.get(fixed) !== mac) macDeletes.push([mac, fixed]);
  const macAdds: string[][] = [];
  for (const [fixed, mac] of wantMac) if (macs.get(fixed) !== mac) macAdds.push([mac, fixed]);
  lines.push(
    ...sourceMacStatements('delete', table, macDeletes),
    ...sourceMacStatements('add', table, macAdds),
  );
  const keyChanges: [string, string[], string[]][] = [
    ...COUNTER_SETS.map((set): [string, string[], string[]] => [set, uncount, count]),
    [FLOATING_SET, uncount, count],
    [FIXED_SET, unfix, fix],
  ];
  lines.push(
    ...keyChanges.flatMap(([set, deletes, adds]) => [
      ...chunk(deletes).map((keys) => `delete element ip ${table} ${set} { ${keys.join(', ')} }`),
      ...chunk(adds).map((keys) => `add element ip ${table} ${set} { ${keys.join(', ')} }`),
    ]),
  );
  lines.push(...qosDelta(table, desired, limits));
  return { text: lines.length ? lines.join('\n') + '\n' : null, added: addIn, removed };
}

/**
 * Whether the maps hold exactly these mappings, and the anti-spoofing set exactly their MACs: what a restart finds
 * at 100,000 floating IPs. One lookup per map and mapping, and no map built; the full diff below builds three
 * and makes four times the lookups (0.5-1 s there). Equal sizes and every mapping found mean nothing else is
 * held; duplicate addresses in `mappings` make the sizes differ, and the full diff decides.
 */
function holdsExactly(
  mappings: readonly FloatingMapping[],
  inbound: ReadonlyMap<string, string>,
  outbound: ReadonlyMap<string, string>,
  macs: ReadonlyMap<string, string>,
): boolean {
  if (inbound.size !== mappings.length || outbound.size !== mappings.length) return false;
  let withMac = 0;
  for (const m of mappings) {
    if (inbound.get(m.floatingIp) !== m.fixedIp || outbound.get(m.fixedIp) !== m.floatingIp) return false;
    if (m.fixedMac) {
      withMac++;
      if (macs.get(m.fixedIp) !== m.fixedMac) return false;
    }
  }
  return macs.size === withMac;
}

/**
 * Which mappings a plan adds and removes (the inbound map decides: it holds one element per mapping), without
 * rendering any text: a rebuild renders the whole table instead, and rendering a delta of 100,000 elements only
 * to count them cost a second.
 */
export function mappingChanges(
  desired: DesiredRouter,
  inbound: ReadonlyMap<string, string>,
): { added: FloatingMapping[]; removed: FloatingMapping[] } {
  const want = new Map(desired.mappings.map((m) => [m.floatingIp as string, m.fixedIp as string]));
  const removed = [...inbound]
    .filter(([fip, fixed]) => want.get(fip) !== fixed)
    .map(([fip, fixed]) => ({ floatingIp: fip, fixedIp: fixed }) as FloatingMapping);
  const added = desired.mappings.filter((m) => inbound.get(m.floatingIp) !== m.fixedIp);
  return { added, removed };
}

function addElements(table: string, mappings: readonly FloatingMapping[]): string[] {
  return chunk(mappings).flatMap((ms) => [
    ...MAPS.map((map) => `add element ip ${table} ${map.name} { ${ms.map(map.element).join(', ')} }`),
    ...[...COUNTER_SETS, FLOATING_SET].map(
      (set) => `add element ip ${table} ${set} { ${ms.map((m) => m.floatingIp).join(', ')} }`,
    ),
    `add element ip ${table} ${FIXED_SET} { ${ms.map((m) => m.fixedIp).join(', ')} }`,
  ]);
}

function sourceMacStatements(verb: 'add' | 'delete', table: string, pairs: readonly string[][]): string[] {
  return chunk(pairs).map(
    (ps) =>
      `${verb} element ip ${table} ${SOURCE_MACS} { ${ps.map(([mac, ip]) => sourceMacElement(mac!, ip!)).join(', ')} }`,
  );
}

function chunk<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ELEMENTS_PER_STATEMENT)
    out.push(items.slice(i, i + ELEMENTS_PER_STATEMENT));
  return out;
}
