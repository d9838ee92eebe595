import type { DesiredRouter, FloatingMapping } from '../types.js';
import { netfilterNames, type NetfilterNames } from './naming.js';

/**
 * The iptables and ipset side of the tc backend. Rules are written exactly as `iptables-save` prints them back, so
 * reading them is a plain text comparison.
 */

export type NetfilterTable = 'raw' | 'nat';

export interface ChainRules {
  readonly table: NetfilterTable;
  readonly chain: string;
  readonly rules: readonly string[];
}

export interface JumpRule {
  readonly table: NetfilterTable;
  readonly builtin: 'PREROUTING' | 'POSTROUTING';
  /** The rule as iptables-save prints it, without `-A BUILTIN`. */
  readonly rule: string;
}

/**
 * The chains whose rules depend only on the router (device, gateway address, subnets), not on its floating IPs.
 * The sets carry the addresses, so adding a floating IP never rewrites a rule here.
 */
export function structuralChains(desired: DesiredRouter): ChainRules[] {
  const n = netfilterNames(desired.routerId);
  const gw = desired.gatewayDevice;
  const raw = [
    // Hairpin (inside -> a floating address) stays tracked, so that the nat chains below can translate it and its
    // replies statefully, as Neutron does. Nothing from outside takes this path.
    `! -i ${gw} -m set --match-set ${n.floatingSet} dst -j RETURN`,
    // Inbound. Hook order: a packet entering the gateway device passes tc ingress (sch_handle_ingress) before
    // netfilter's PREROUTING, so act_nat has already rewritten the destination from the floating to the fixed
    // address when this raw rule sees it. Matching the floating address here, as the seed's recipe did
    // (`-d <floating> -j NOTRACK`), never fires, and conntrack keeps an UNREPLIED entry for every inbound flow
    // (test/guest/seed-recipe.guest.ts shows it). So: the fixed address, on packets from the gateway device.
    `-i ${gw} -m set --match-set ${n.fixedSet} dst -j CT --notrack`,
    // Outbound. tc egress runs after netfilter's POSTROUTING, so here the source is still the fixed address; the
    // rewrite to the floating address happens later, on the way out of the gateway device. Replies to the router's
    // own gateway address stay tracked: they belong to hairpin connections SNATed to it below.
    `! -d ${desired.gatewayIp}/32 -m set --match-set ${n.fixedSet} src -j CT --notrack`,
    // East-west traffic to a fixed address that has a floating IP: untracked both ways, like the replies above.
    `! -i ${gw} -m set --match-set ${n.fixedSet} dst -j CT --notrack`,
  ];
  const natPre = [
    // Only new tracked connections reach nat chains; one set lookup keeps every non-hairpin one cheap.
    `-m set ! --match-set ${n.floatingSet} dst -j RETURN`,
    `! -i ${gw} -j ${n.hairpinDnatChain}`,
  ];
  const natPost = [
    // Shared SNAT for ports without a floating IP. This is also what keeps conntrack hooked in the namespace, so the
    // tests' "0 conntrack entries" for floating IPs means something.
    ...desired.internalCidrs.map((cidr) => `-s ${cidr} -o ${gw} -j SNAT --to-source ${desired.gatewayIp}`),
    // Hairpin from a VM without a floating IP: the source becomes the router's address, so the reply comes back
    // through the router to be un-NATed. Between two floating IPs, tc on the internal device translates instead.
    ...desired.internalCidrs.map(
      (cidr) => `-s ${cidr} ! -o ${gw} -m conntrack --ctstate DNAT -j SNAT --to-source ${desired.gatewayIp}`,
    ),
  ];
  return [
    { table: 'raw', chain: n.rawChain, rules: raw },
    { table: 'nat', chain: n.natPreChain, rules: natPre },
    { table: 'nat', chain: n.natPostChain, rules: natPost },
  ];
}

/**
 * Per-floating-IP DNAT for hairpin connections from VMs without a floating IP. Only the first packet of such a
 * connection walks this chain; everything else skipped it after one set lookup.
 */
export function hairpinRules(n: NetfilterNames, mappings: readonly FloatingMapping[]): ChainRules[] {
  return [
    {
      table: 'nat',
      chain: n.hairpinDnatChain,
      rules: mappings.map((m) => `-d ${m.floatingIp}/32 -j DNAT --to-destination ${m.fixedIp}`),
    },
  ];
}

export function jumpRules(n: NetfilterNames): JumpRule[] {
  const c = `-m comment --comment "${n.jumpComment}"`;
  return [
    { table: 'raw', builtin: 'PREROUTING', rule: `${c} -j ${n.rawChain}` },
    { table: 'nat', builtin: 'PREROUTING', rule: `${c} -j ${n.natPreChain}` },
    { table: 'nat', builtin: 'POSTROUTING', rule: `${c} -j ${n.natPostChain}` },
  ];
}

/** Jumps as they are: how many times each of sfip's jump rules appears in its built-in chain. */
export type JumpCounts = ReadonlyMap<string, number>;
export const jumpKey = (j: JumpRule) => `${j.table} ${j.builtin} ${j.rule}`;

/**
 * iptables-restore input for `--noflush`: declaring a chain creates it or empties it, so the router's own chains are
 * rewritten whole in one commit while every other rule in the namespace stays as it is. Jumps are inserted only when
 * missing and duplicates are deleted, so rerunning never stacks them.
 */
export function renderNetfilterFull(
  chains: readonly ChainRules[],
  jumps: readonly JumpRule[],
  actualJumps: JumpCounts,
): string {
  const lines: string[] = [];
  for (const table of ['raw', 'nat'] as const) {
    const own = chains.filter((c) => c.table === table);
    lines.push(`*${table}`, ...own.map((c) => `:${c.chain} - [0:0]`));
    for (const j of jumps.filter((j) => j.table === table)) {
      const count = actualJumps.get(jumpKey(j)) ?? 0;
      if (count === 0) lines.push(`-I ${j.builtin} 1 ${j.rule}`);
      for (let i = 1; i < count; i++) lines.push(`-D ${j.builtin} ${j.rule}`);
    }
    for (const c of own) lines.push(...c.rules.map((r) => `-A ${c.chain} ${r}`));
    lines.push('COMMIT');
  }
  return lines.join('\n') + '\n';
}

/** Only the per-floating-IP rules that differ, as deletions and appends in one nat commit. Null when none do. */
export function renderNetfilterDelta(
  desired: readonly ChainRules[],
  actual: ReadonlyMap<string, readonly string[]>,
): { removals: string | null; additions: string | null } {
  const remove: string[] = [];
  const add: string[] = [];
  for (const c of desired) {
    const have = actual.get(c.chain) ?? [];
    const want = new Set(c.rules);
    const present = new Set(have);
    remove.push(...have.filter((r) => !want.has(r)).map((r) => `-D ${c.chain} ${r}`));
    add.push(...c.rules.filter((r) => !present.has(r)).map((r) => `-A ${c.chain} ${r}`));
  }
  const wrap = (lines: string[]) => (lines.length ? ['*nat', ...lines, 'COMMIT'].join('\n') + '\n' : null);
  return { removals: wrap(remove), additions: wrap(add) };
}

/** Removes everything the router owns in iptables: jumps first, then the emptied chains. */
export function renderNetfilterRemoval(
  n: NetfilterNames,
  presentChains: ReadonlySet<string>,
  actualJumps: JumpCounts,
): string | null {
  const lines: string[] = [];
  const chainsByTable: Record<'raw' | 'nat', string[]> = {
    raw: [n.rawChain],
    nat: [n.natPreChain, n.natPostChain, n.hairpinDnatChain],
  };
  for (const table of ['raw', 'nat'] as const) {
    const body: string[] = [];
    for (const j of jumpRules(n).filter((j) => j.table === table)) {
      for (let i = 0; i < (actualJumps.get(jumpKey(j)) ?? 0); i++) body.push(`-D ${j.builtin} ${j.rule}`);
    }
    const chains = chainsByTable[table].filter((c) => presentChains.has(c));
    body.push(...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`));
    if (body.length) lines.push(`*${table}`, ...body, 'COMMIT');
  }
  return lines.length ? lines.join('\n') + '\n' : null;
}
