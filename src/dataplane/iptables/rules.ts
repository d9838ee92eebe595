import type { DesiredRouter, FloatingMapping } from '../types.js';
import { chainName, jumpComment, JUMPS, type ChainRole, type IptablesTable } from './chains.js';

export interface IptablesOptions {
  /**
   * Mark set on packets entering through the gateway device, and its mask. Neutron's L3 agent uses
   * `external_ingress_mark = 0x2` with ROUTER_MARK_MASK 0xffff; the hairpin SNAT rule skips marked packets so
   * that only internal senders reaching a floating IP are source-NATed to the gateway address.
   */
  readonly externalIngressMark: number;
  readonly markMask: number;
}

export const DEFAULT_IPTABLES_OPTIONS: IptablesOptions = { externalIngressMark: 0x2, markMask: 0xffff };

/**
 * Every rule is written exactly as `iptables-save` prints it back (canonical match order, /32 on host
 * addresses, lower-case hex marks), so drift detection compares text. The golden and round-trip tests hold
 * that promise.
 */
export const dnatRule = (m: FloatingMapping) => `-d ${m.floatingIp}/32 -j DNAT --to-destination ${m.fixedIp}`;
export const floatSnatRule = (m: FloatingMapping) => `-s ${m.fixedIp}/32 -j SNAT --to-source ${m.floatingIp}`;

/**
 * Neutron's port-forwarding DNAT: one rule per forwarding (N:1 as a --dport range), N:N expanded port by port,
 * since plain DNAT to a port range picks any port of it rather than keeping the offset.
 */
export function forwardingDnatRules(desired: DesiredRouter): string[] {
  return (desired.forwardings ?? []).flatMap((f) => {
    const head = `-d ${f.floatingIp}/32 -p ${f.protocol} -m ${f.protocol} --dport`;
    if (f.internalPortStart === f.internalPortEnd) {
      const ports =
        f.externalPortStart === f.externalPortEnd
          ? `${f.externalPortStart}`
          : `${f.externalPortStart}:${f.externalPortEnd}`;
      return [`${head} ${ports} -j DNAT --to-destination ${f.fixedIp}:${f.internalPortStart}`];
    }
    return Array.from(
      { length: f.externalPortEnd - f.externalPortStart + 1 },
      (_, i) =>
        `${head} ${f.externalPortStart + i} -j DNAT --to-destination ${f.fixedIp}:${f.internalPortStart + i}`,
    );
  });
}

/** A port-forwarding DNAT rule as iptables-save prints it. */
export const FORWARDING_DNAT_RULE =
  /^-d \d+\.\d+\.\d+\.\d+\/32 -p (tcp|udp) -m \1 --dport \d+(:\d+)? -j DNAT --to-destination \d+\.\d+\.\d+\.\d+:\d+$/;

const DNAT_RULE = /^-d (\d+\.\d+\.\d+\.\d+)\/32 -j DNAT --to-destination (\d+\.\d+\.\d+\.\d+)$/;
const FLOAT_SNAT_RULE = /^-s (\d+\.\d+\.\d+\.\d+)\/32 -j SNAT --to-source (\d+\.\d+\.\d+\.\d+)$/;

/** floating -> fixed from a DNAT rule; undefined for anything else (which is then drift). */
export function parseDnatRule(spec: string): [string, string] | undefined {
  const m = DNAT_RULE.exec(spec);
  return m ? [m[1]!, m[2]!] : undefined;
}

/** fixed -> floating from a float-snat rule. */
export function parseFloatSnatRule(spec: string): [string, string] | undefined {
  const m = FLOAT_SNAT_RULE.exec(spec);
  return m ? [m[1]!, m[2]!] : undefined;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** The per-router rules that do not depend on the floating IPs: Neutron's gateway rules. */
export function structureRules(
  desired: DesiredRouter,
  options: IptablesOptions = DEFAULT_IPTABLES_OPTIONS,
): Record<'mark' | 'POSTROUTING' | 'snat', string[]> {
  const gw = desired.gatewayDevice;
  const mark = `${hex(options.externalIngressMark)}/${hex(options.markMask)}`;
  return {
    // mangle: remember that a packet came in from outside, so the hairpin SNAT below leaves it alone.
    mark: [`-i ${gw} -j MARK --set-xmark ${mark}`],
    // Traffic between internal networks keeps its addresses, unless it was DNATed to a floating IP's fixed IP
    // (hairpin), which must go through the snat chain so the reply comes back through the router.
    POSTROUTING: [`! -i ${gw} ! -o ${gw} -m conntrack ! --ctstate DNAT -j ACCEPT`],
    snat: [
      // float-snat first: a fixed IP with a floating IP must leave with that address, never the shared one.
      `-j ${chainName(desired.routerId, 'float-snat')}`,
      // Shared SNAT for everything else leaving through the gateway: this is where conntrack earns its keep.
      `-o ${gw} -j SNAT --to-source ${desired.gatewayIp}`,
      // Hairpin from an internal sender without a floating IP: reply must return via the router to be un-DNATed.
      `-m mark ! --mark ${mark} -m conntrack --ctstate DNAT -j SNAT --to-source ${desired.gatewayIp}`,
    ],
  };
}

/** All rules of every owned chain, floating IPs included, in chain order. */
export function ownedRules(
  desired: DesiredRouter,
  options: IptablesOptions = DEFAULT_IPTABLES_OPTIONS,
): Record<ChainRole, string[]> {
  return {
    ...structureRules(desired, options),
    PREROUTING: [...forwardingDnatRules(desired), ...desired.mappings.map(dnatRule)],
    // Neutron DNATs locally generated traffic too, so the router itself reaches floating IPs.
    OUTPUT: [...forwardingDnatRules(desired), ...desired.mappings.map(dnatRule)],
    'float-snat': desired.mappings.map(floatSnatRule),
  };
}

export interface JumpRule {
  readonly table: IptablesTable;
  /** The built-in chain holding the jump. */
  readonly from: string;
  /** Rule spec without `-A <chain>`, as iptables-save prints it. */
  readonly spec: string;
}

export function jumpRules(routerId: string): JumpRule[] {
  return JUMPS.map((j) => ({
    table: j.table,
    from: j.from,
    spec: `-m comment --comment "${jumpComment(routerId)}" -j ${chainName(routerId, j.to)}`,
  }));
}
