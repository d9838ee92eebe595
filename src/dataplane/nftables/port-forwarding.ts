import { createHash } from 'node:crypto';
import type { ForwardingRule } from '../types.js';

/**
 * Stateless port forwarding in nftables (docs/port-forwarding.md). Five maps keyed by concatenations, each
 * element one port (ranges are expanded, so every lookup is one exact hash probe whatever the count):
 *
 *   pf_in_addr   floating . proto . external port -> internal address   (inbound, first rewrite)
 *   pf_in_port   internal . proto . external port -> internal port      (inbound, keyed after the first rewrite)
 *   pf_out_port  internal . proto . internal port -> external port      (outbound, first rewrite)
 *   pf_out_addr  internal . proto . external port -> floating           (outbound, keyed after the first rewrite)
 *   pf_dnat      floating . proto . external port -> internal . port    (the stateful hairpin only)
 *
 * nft cannot set two packet fields from one concatenated map value statelessly, so each direction is two
 * statements in one rule, the second keyed on the packet as the first left it. That is unambiguous because the
 * model lets an internal address receive a given external port and protocol through one floating IP only, and
 * lets an internal address, protocol and port be the target of one forwarding only.
 */
export const PF_IN_ADDR = 'pf_in_addr';
export const PF_IN_PORT = 'pf_in_port';
export const PF_OUT_PORT = 'pf_out_port';
export const PF_OUT_ADDR = 'pf_out_addr';
export const PF_DNAT = 'pf_dnat';

const KEY_IN = 'ip daddr . meta l4proto . th dport';
const KEY_OUT = 'ip saddr . meta l4proto . th sport';

export const PF_MAP_DECLARATIONS: readonly (readonly [string, string])[] = [
  [PF_IN_ADDR, `typeof ${KEY_IN} : ip daddr`],
  [PF_IN_PORT, `typeof ${KEY_IN} : th dport`],
  [PF_OUT_PORT, `typeof ${KEY_OUT} : th sport`],
  [PF_OUT_ADDR, `typeof ${KEY_OUT} : ip saddr`],
  [PF_DNAT, `typeof ${KEY_IN} : ip daddr . th dport`],
];

/**
 * The inbound and outbound keys again, as plain sets, for the rules that only test whether a packet belongs to a
 * forwarding: Debian 12's 6.1 kernel refuses a lookup in a map that loads no value (see membership.ts).
 */
export const PF_IN_KEYS = 'pf_in_keys';
export const PF_OUT_KEYS = 'pf_out_keys';
export const PF_SET_DECLARATIONS: readonly (readonly [string, string])[] = [
  [PF_IN_KEYS, `typeof ${KEY_IN}`],
  [PF_OUT_KEYS, `typeof ${KEY_OUT}`],
];

/*
 * ICMP errors about forwarded flows quote the header of the packet that caused them, address and port, which the
 * maps above do not touch (see icmp-errors.ts for the 1:1 case and the checksum trick used here too: the quoted
 * fields are rewritten with raw payload writes, which carry no checksum update, and a per-element 16-bit
 * compensation word goes into a header field the ICMP type leaves zero). Offsets, in bits from the ICMP header,
 * assume a quoted IP header without options: protocol 136, source 160, destination 192, source port 224,
 * destination port 240.
 */
const Q_PROTO = '@th,136,8';
const Q_SADDR = '@th,160,32';
const Q_DADDR = '@th,192,32';
const Q_SPORT = '@th,224,16';
const Q_DPORT = '@th,240,16';
const WORD_4 = '@th,32,16';
const WORD_6 = '@th,48,16';
/** Errors leaving: the quoted destination is the internal socket. */
const Q_OUT = `${Q_DADDR} . ${Q_PROTO} . ${Q_DPORT}`;
/** Errors arriving: the quoted source is the floating socket. */
const Q_IN = `${Q_SADDR} . ${Q_PROTO} . ${Q_SPORT}`;

export const PF_ICMP_OUT_OUTER = 'pf_icmp_out_outer';
export const PF_ICMP_OUT_CSUM = 'pf_icmp_out_csum';
export const PF_ICMP_OUT_PORT = 'pf_icmp_out_port';
export const PF_ICMP_OUT_ADDR = 'pf_icmp_out_addr';
export const PF_ICMP_IN_OUTER = 'pf_icmp_in_outer';
export const PF_ICMP_IN_CSUM = 'pf_icmp_in_csum';
export const PF_ICMP_IN_ADDR = 'pf_icmp_in_addr';
export const PF_ICMP_IN_PORT = 'pf_icmp_in_port';

export const PF_ICMP_DECLARATIONS: readonly (readonly [string, string])[] = [
  [PF_ICMP_OUT_OUTER, `typeof ip saddr . ${Q_PROTO} . ${Q_DPORT} : ip saddr`],
  [PF_ICMP_OUT_CSUM, `typeof ${Q_OUT} : ${WORD_6}`],
  [PF_ICMP_OUT_PORT, `typeof ${Q_OUT} : ${Q_DPORT}`],
  [PF_ICMP_OUT_ADDR, `typeof ${Q_OUT} : ${Q_DADDR}`],
  [PF_ICMP_IN_OUTER, `typeof ${Q_IN} : ip daddr`],
  [PF_ICMP_IN_CSUM, `typeof ${Q_IN} : ${WORD_6}`],
  [PF_ICMP_IN_ADDR, `typeof ${Q_IN} : ${Q_SADDR}`],
  [PF_ICMP_IN_PORT, `typeof ${Q_IN} : ${Q_SPORT}`],
];

const PROTO_NUMBER = { tcp: 6, udp: 17 } as const;
const uint32 = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
const fold = (n: number): number => {
  let s = n;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
};
/** One's complement sum of an address's two words and a port. */
const socketSum = (ip: string, port: number) => {
  const n = uint32(ip);
  return fold(Math.floor(n / 0x10000) + (n & 0xffff) + port);
};
/** The word that keeps the ICMP checksum valid when a quoted (address, port) changes `from` -> `to`. */
export const socketCompensation = (fromIp: string, fromPort: number, toIp: string, toPort: number): number =>
  fold(socketSum(fromIp, fromPort) + (~socketSum(toIp, toPort) & 0xffff));

/** The quoted-header rules of one direction: three, for the places the compensation word can go. */
function quotedRules(prefix: string, statements: (word: string) => string): string[] {
  return [
    `${prefix}icmp type { time-exceeded, parameter-problem } ${WORD_6} 0 ${statements(WORD_6)}`,
    `${prefix}icmp type destination-unreachable icmp code != frag-needed ${WORD_6} 0 ${statements(WORD_6)}`,
    `${prefix}icmp type destination-unreachable icmp code frag-needed ${WORD_4} 0 ${statements(WORD_4)}`,
  ];
}

/** How `nft -j` names the PF maps' types (parse.ts builds the same strings). */
export const PF_EXPECTED_MAPS: readonly string[] = [
  `${PF_IN_ADDR} ipv4_addr,inet_proto,inet_service:ipv4_addr`,
  `${PF_IN_PORT} ipv4_addr,inet_proto,inet_service:inet_service`,
  `${PF_OUT_PORT} ipv4_addr,inet_proto,inet_service:inet_service`,
  `${PF_OUT_ADDR} ipv4_addr,inet_proto,inet_service:ipv4_addr`,
  `${PF_DNAT} ipv4_addr,inet_proto,inet_service:ipv4_addr . inet_service`,
  `${PF_ICMP_OUT_OUTER} ipv4_addr,integer,integer:ipv4_addr`,
  ...[
    PF_ICMP_OUT_CSUM,
    PF_ICMP_OUT_PORT,
    PF_ICMP_OUT_ADDR,
    PF_ICMP_IN_CSUM,
    PF_ICMP_IN_ADDR,
    PF_ICMP_IN_PORT,
  ].map((name) => `${name} integer,integer,integer:integer`),
  `${PF_ICMP_IN_OUTER} integer,integer,integer:ipv4_addr`,
  ...[PF_IN_KEYS, PF_OUT_KEYS].map((name) => `${name} ipv4_addr.inet_proto.inet_service`),
];

/** Every element of every PF map, in the text `nft` takes and parse.ts reads back. */
export function forwardingElements(rules: readonly ForwardingRule[]): Map<string, string[]> {
  const maps = new Map<string, string[]>(
    [...PF_MAP_DECLARATIONS, ...PF_ICMP_DECLARATIONS].map(([name]) => [name, []]),
  );
  const put = (name: string, element: string) => maps.get(name)!.push(element);
  for (const r of rules) {
    const many = r.internalPortStart !== r.internalPortEnd;
    const p = PROTO_NUMBER[r.protocol];
    const fixed = uint32(r.fixedIp);
    const floating = uint32(r.floatingIp);
    for (let ext = r.externalPortStart; ext <= r.externalPortEnd; ext++) {
      const int = many ? r.internalPortStart + (ext - r.externalPortStart) : r.internalPortStart;
      put(PF_IN_ADDR, `${r.floatingIp} . ${r.protocol} . ${ext} : ${r.fixedIp}`);
      put(PF_IN_PORT, `${r.fixedIp} . ${r.protocol} . ${ext} : ${int}`);
      put(PF_OUT_ADDR, `${r.fixedIp} . ${r.protocol} . ${ext} : ${r.floatingIp}`);
      put(PF_DNAT, `${r.floatingIp} . ${r.protocol} . ${ext} : ${r.fixedIp} . ${int}`);
      // N:1: a reply from the one internal port cannot know which external port the client used; it leaves
      // from the first (docs/port-forwarding.md).
      if (many || ext === r.externalPortStart) {
        put(PF_OUT_PORT, `${r.fixedIp} . ${r.protocol} . ${int} : ${ext}`);
        put(PF_ICMP_OUT_OUTER, `${r.fixedIp} . ${p} . ${int} : ${r.floatingIp}`);
        put(
          PF_ICMP_OUT_CSUM,
          `${fixed} . ${p} . ${int} : ${socketCompensation(r.fixedIp, int, r.floatingIp, ext)}`,
        );
        put(PF_ICMP_OUT_PORT, `${fixed} . ${p} . ${int} : ${ext}`);
      }
      // Raw-typed maps are written (and read back by `nft -j`) as decimal integers.
      put(PF_ICMP_OUT_ADDR, `${fixed} . ${p} . ${ext} : ${floating}`);
      put(PF_ICMP_IN_OUTER, `${floating} . ${p} . ${ext} : ${r.fixedIp}`);
      put(
        PF_ICMP_IN_CSUM,
        `${floating} . ${p} . ${ext} : ${socketCompensation(r.floatingIp, ext, r.fixedIp, int)}`,
      );
      put(PF_ICMP_IN_ADDR, `${floating} . ${p} . ${ext} : ${fixed}`);
      put(PF_ICMP_IN_PORT, `${fixed} . ${p} . ${ext} : ${int}`);
    }
  }
  // The key sets hold the keys of the maps the rules used to test membership in.
  const keys = (map: string) => maps.get(map)!.map((element) => element.split(' : ')[0]!);
  maps.set(PF_IN_KEYS, keys(PF_IN_ADDR));
  maps.set(PF_OUT_KEYS, keys(PF_OUT_PORT));
  return maps;
}

/** A digest of the forwardings, folded into the PF rules' comments: any change rebuilds the table atomically. */
export function forwardingDigest(rules: readonly ForwardingRule[]): string {
  const hash = createHash('sha256');
  for (const [name, elements] of forwardingElements(rules)) hash.update(`${name}\n${elements.join('\n')}\n`);
  return hash.digest('hex').slice(0, 16);
}

export interface ForwardingRules {
  /** raw prerouting, before the 1:1 hairpin rules: the stateful hairpin escape and the hairpin mark. */
  readonly rawHairpin: string[];
  /** raw prerouting, before the 1:1 inbound rewrite: the inbound rewrites and the outbound NOTRACK. */
  readonly rawTranslate: string[];
  /** stateless postrouting, before the 1:1 outbound rewrites. */
  readonly postrouting: string[];
  /** raw prerouting, right after the ICMP jump: errors about packets a forwarded port sent. */
  readonly rawIcmp: string[];
  /** nat prerouting: only tracked packets (the stateful hairpin) get here. */
  readonly natPrerouting: string[];
}

export function forwardingRules(
  gw: string,
  mark: string,
  internal: string | null,
  gatewayIp: string,
  /** The membership sets of fixed and floating addresses (membership.ts), and the inbound translation map. */
  fixedSet: string,
  floatingSet: string,
  inboundMap: string,
): ForwardingRules {
  const protocols = ['tcp', 'udp'] as const;
  const outbound = (p: string) =>
    `meta l4proto ${p} ${p} sport set ${KEY_OUT} map @${PF_OUT_PORT} ip saddr set ${KEY_OUT} map @${PF_OUT_ADDR}`;
  return {
    rawHairpin: [
      // A VM without a 1:1 floating IP reaching a forwarded port of its own router: stateful, as for 1:1.
      ...(internal
        ? [`iifname != ${gw} ip saddr ${internal} ip saddr != @${fixedSet} ${KEY_IN} @${PF_IN_KEYS} return`]
        : []),
      `iifname != ${gw} ${KEY_IN} @${PF_IN_KEYS} meta mark set meta mark | ${mark}`,
      // A forwarded internal port answering (or calling) a 1:1 floating IP of this router: without this rule the
      // 1:1 hairpin rule below would treat it as a VM without a floating IP and send it the stateful way, and the
      // other end would see the shared gateway address instead of FIP:external. Translated and marked here, so
      // postrouting rewrites its source to the forwarding's; `accept` skips the rest of this chain.
      `iifname != ${gw} ${KEY_OUT} @${PF_OUT_KEYS} ip daddr @${floatingSet} meta mark set meta mark | ${mark} ip daddr set ip daddr map @${inboundMap} notrack accept`,
    ],
    rawTranslate: [
      // Address first, then the port keyed on the new address; a miss in either map ends the rule.
      ...protocols.map(
        (p) =>
          `meta l4proto ${p} ip daddr set ${KEY_IN} map @${PF_IN_ADDR} ${p} dport set ${KEY_IN} map @${PF_IN_PORT} notrack`,
      ),
      // Replies and new flows from a forwarded internal port are never tracked either (except towards the
      // gateway address: the stateful hairpin's replies).
      `${KEY_OUT} @${PF_OUT_KEYS} ip daddr != ${gatewayIp} notrack`,
    ],
    rawIcmp: [
      // The outer destination first (keyed on the quoted header as it arrived), then the quoted source socket.
      `icmp type { destination-unreachable, time-exceeded, parameter-problem } ip daddr set ${Q_IN} map @${PF_ICMP_IN_OUTER} notrack`,
      ...quotedRules(
        '',
        (word) =>
          `${word} set ${Q_IN} map @${PF_ICMP_IN_CSUM} ${Q_SADDR} set ${Q_IN} map @${PF_ICMP_IN_ADDR} ${Q_SPORT} set ${Q_IN} map @${PF_ICMP_IN_PORT}`,
      ),
    ],
    postrouting: [
      // An error the internal port's VM sent (outer source = the VM) leaves from the floating address; one the
      // router generated keeps its own source. Then the quoted destination socket becomes the floating one.
      `oifname ${gw} icmp type { destination-unreachable, time-exceeded, parameter-problem } ip saddr set ip saddr . ${Q_PROTO} . ${Q_DPORT} map @${PF_ICMP_OUT_OUTER}`,
      ...quotedRules(
        `oifname ${gw} `,
        (word) =>
          `${word} set ${Q_OUT} map @${PF_ICMP_OUT_CSUM} ${Q_DPORT} set ${Q_OUT} map @${PF_ICMP_OUT_PORT} ${Q_DADDR} set ${Q_OUT} map @${PF_ICMP_OUT_ADDR}`,
      ),
      ...protocols.flatMap((p) => [
        `oifname ${gw} ${outbound(p)}`,
        `meta mark & ${mark} == ${mark} ${outbound(p)}`,
      ]),
    ],
    natPrerouting: [`meta l4proto { tcp, udp } dnat ip to ${KEY_IN} map @${PF_DNAT}`],
  };
}
