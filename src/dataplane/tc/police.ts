import { limitsKey, type RateLimit } from '../types.js';
import type { ActionInfo } from './parse-tc.js';

/**
 * Floating-IP rate limits on the tc backend: `police` actions in front of the `nat` action of the floating IP's own
 * u32 leaf, keyed by address through the backend's hash tables, so a limit change replaces that one filter. The
 * inbound leaf (keyed on the floating address) carries the `ingress` limits, the outbound leaf (keyed on the fixed
 * address) the `egress` ones. See docs/tc.md for why police and not htb classes.
 *
 * A policer passes conforming packets on to the next action (`pipe`) and drops the rest, without a queue: what it
 * lets through is burst + rate x time, as on nftables and eBPF. act_police refuses a byte rate and a packet rate in
 * one action, so a floating IP with both gets two policers, bytes first.
 */
export interface PoliceLimit {
  readonly unit: RateLimit['unit'];
  /** kbit/s or packets/s. */
  readonly rate: number;
  /** kbit or packets. */
  readonly burst: number;
}

const U32_MAX = 0xffffffff;

/** The limits of one direction, in the order the policers are installed (bytes, then packets). */
export function policeLimitsOf(
  limits: readonly RateLimit[] | undefined,
  direction: RateLimit['direction'],
): PoliceLimit[] {
  return (limits ?? [])
    .filter((l) => l.direction === direction)
    .map(({ unit, rate, burst }) => ({ unit, rate, burst }))
    .sort((a, b) => a.unit.localeCompare(b.unit));
}

/** Comparable text of a leaf's policers ('' for none): what the plan compares between kernel and desired. */
export function policeText(limits: readonly PoliceLimit[] | undefined): string {
  return (limits ?? []).map((l) => `${l.unit} ${l.rate}/${l.burst}`).join(', ');
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/**
 * iproute2 6.1 prints a policer's byte rate and burst only as rounded text ("rate 10Mbit burst 1000Kb"), not in
 * its JSON, so the asked rate and burst travel in the action's 16-byte cookie: the router's tag (the first half
 * of its cookie, which says the policer is this router's), then rate and burst as two 32-bit numbers. Packet
 * rates are in the JSON and are read from the kernel's own fields as well.
 */
export function policeCookie(routerCookie: string, limit: PoliceLimit): string {
  if (!Number.isInteger(limit.rate) || !Number.isInteger(limit.burst))
    throw new Error(`police ${limit.unit} rate ${limit.rate} and burst ${limit.burst} must be whole numbers`);
  if (limit.rate < 1 || limit.rate > U32_MAX || limit.burst < 1 || limit.burst > U32_MAX)
    throw new Error(`police ${limit.unit} rate ${limit.rate} or burst ${limit.burst} is out of range`);
  return `${routerCookie.slice(0, 16)}${hex8(limit.rate)}${hex8(limit.burst)}`;
}

export const isPoliceCookieOf = (routerCookie: string, cookie: string | undefined): boolean =>
  cookie !== undefined && /^[0-9a-f]{32}$/.test(cookie) && cookie.startsWith(routerCookie.slice(0, 16));

/** `action police ...` for each limit, each conforming packet piped on to the next action (the nat). */
export function policeArgs(routerCookie: string, limits: readonly PoliceLimit[] | undefined): string {
  return (limits ?? [])
    .map((l) => {
      const cookie = policeCookie(routerCookie, l);
      const rate =
        l.unit === 'kbit'
          ? `rate ${l.rate}kbit burst ${l.burst}kbit`
          : `pkts_rate ${l.rate} pkts_burst ${l.burst}`;
      return `action police ${rate} conform-exceed drop/pipe cookie ${cookie} `;
    })
    .join('');
}

/**
 * The limits a leaf's policers hold, or why they are not sfip's. A packet-rate policer whose kernel fields differ
 * from its cookie reads as what the kernel holds, so the plan replaces it.
 */
export function policeLimitsOfActions(
  routerCookie: string,
  actions: readonly ActionInfo[],
): PoliceLimit[] | string {
  const limits: PoliceLimit[] = [];
  for (const a of actions) {
    if (!isPoliceCookieOf(routerCookie, a.cookie)) return 'has a policer without this router’s cookie';
    const rate = Number.parseInt(a.cookie!.slice(16, 24), 16);
    const burst = Number.parseInt(a.cookie!.slice(24), 16);
    if (a.pktsRate !== undefined && a.pktsRate > 0) {
      limits.push({ unit: 'packets', rate: a.pktsRate, burst: a.pktsBurst ?? 0 });
    } else {
      limits.push({ unit: 'kbit', rate, burst });
    }
  }
  return limits;
}

interface PolicedLeaf {
  readonly key: string;
  readonly to: string;
  readonly police: readonly PoliceLimit[];
}

/**
 * floating -> `limitsKey` of what the gateway device polices, for floating IPs with any limit: inbound leaves are
 * keyed on the floating address (ingress limits), outbound leaves on the fixed one (egress limits).
 */
export function limitsOfLeaves(
  inbound: readonly PolicedLeaf[],
  outbound: readonly PolicedLeaf[],
): Map<string, string> {
  const byFloating = new Map<string, RateLimit[]>();
  const add = (floating: string, direction: RateLimit['direction'], police: readonly PoliceLimit[]) => {
    if (police.length === 0) return;
    const list = byFloating.get(floating) ?? [];
    list.push(...police.map((p) => ({ direction, ...p })));
    byFloating.set(floating, list);
  };
  for (const leaf of inbound) add(leaf.key, 'ingress', leaf.police);
  for (const leaf of outbound) add(leaf.to, 'egress', leaf.police);
  // Sorted as desired.ts sorts a policy's limits, so equal limits give equal keys.
  return new Map(
    [...byFloating].map(([floating, limits]) => [
      floating,
      limitsKey(
        limits.sort((a, b) => a.direction.localeCompare(b.direction) || a.unit.localeCompare(b.unit)),
      ),
    ]),
  );
}
