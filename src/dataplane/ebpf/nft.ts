import { isUuid } from '../../model/index.js';
import { ruleComment, structureSignature, type ChainSpec } from '../nftables/render.js';
import type { DesiredRouter } from '../types.js';

/**
 * The eBPF backend's own small nft table per router. The programs translate addresses; netfilter still has two
 * jobs that only it can do:
 *  - untrack: tc ingress runs before netfilter, and a program cannot set NOTRACK itself, so it sets a mark bit
 *    and the raw chain below (priority -300, ahead of conntrack at -200) turns the bit into `notrack`. Egress
 *    needs no rule: tc egress runs after POSTROUTING, and the outbound packet was already untracked when it
 *    entered the router through an internal device, whose program set the same bit.
 *  - shared SNAT for ports without a floating IP (stateful, as in Neutron), including hairpin from such a port
 *    to a floating IP of the same router, which the programs mark with the hairpin bit.
 * The table prefix differs from the nftables backend's (`sfip_`), so neither backend ever reads the other's.
 */
const TABLE_PREFIX = 'sfipbpf_';

export function tableName(routerId: string): string {
  // The id goes into nft input as text: anything but a UUID is refused here, whatever the caller checked.
  if (!isUuid(routerId))
    throw new Error(
      `Router id '${routerId}' is not a lower-case UUID: the eBPF backend names its table by it`,
    );
  return TABLE_PREFIX + routerId.replace(/-/g, '');
}

export function routerIdOfTable(name: string): string | undefined {
  const hex = name.startsWith(TABLE_PREFIX) ? name.slice(TABLE_PREFIX.length) : '';
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
}

export interface MarkBits {
  readonly untrackMark: number;
  readonly hairpinMark: number;
}

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

export function chainsFor(desired: DesiredRouter, marks: MarkBits): ChainSpec[] {
  const gw = JSON.stringify(desired.gatewayDevice);
  const untrack = hex(marks.untrackMark);
  const keep = hex(~marks.untrackMark >>> 0);
  const hairpin = hex(marks.hairpinMark);
  const internal = desired.internalCidrs.length > 0 ? `{ ${desired.internalCidrs.join(', ')} }` : null;
  return [
    {
      name: 'raw_prerouting',
      base: { type: 'filter', hook: 'prerouting', priority: -300 },
      // The programs ran in tc ingress, before any of netfilter: the packet already carries its fixed
      // destination and the bit. Clearing the bit afterwards leaves the mark as the router had it.
      rules: [`meta mark & ${untrack} == ${untrack} meta mark set meta mark & ${keep} notrack`],
    },
    {
      name: 'nat_postrouting',
      base: { type: 'nat', hook: 'postrouting', priority: 100 },
      rules: [
        // Hairpin from a port without a floating IP (int_ingress already rewrote the destination): SNAT to the
        // gateway address, as Neutron does, so the reply comes back through the router; the ct mark lets the
        // replies be found again on the way out.
        `meta mark & ${hairpin} == ${hairpin} ct mark set ct mark | ${hairpin} snat to ${desired.gatewayIp}`,
        // Shared SNAT for everything without a floating IP: what keeps conntrack hooked in this namespace.
        ...(internal ? [`oifname ${gw} ip saddr ${internal} snat to ${desired.gatewayIp}`] : []),
      ],
    },
    {
      name: 'hairpin_replies',
      base: { type: 'filter', hook: 'postrouting', priority: 110 },
      // tc egress runs after this hook: int_egress sees the bit and restores the floating source.
      rules: [`ct direction reply ct mark & ${hairpin} == ${hairpin} meta mark set meta mark | ${hairpin}`],
    },
  ];
}

export function nftSignature(desired: DesiredRouter, marks: MarkBits): string[] {
  return structureSignature(chainsFor(desired, marks));
}

/** The whole table in one transaction (add, delete, define: safe whether or not it exists). */
export function renderTable(desired: DesiredRouter, marks: MarkBits): string {
  const table = tableName(desired.routerId);
  return (
    [
      `add table ip ${table}`,
      `delete table ip ${table}`,
      `table ip ${table} {`,
      `  comment "sfip eBPF router ${desired.routerId}: managed by sfip, changes are reverted"`,
      ...chainsFor(desired, marks).flatMap((c) => [
        `  chain ${c.name} {`,
        `    type ${c.base!.type} hook ${c.base!.hook} priority ${c.base!.priority}; policy accept;`,
        ...c.rules.map((r) => `    ${r} comment "${ruleComment(c.name, r)}"`),
        `  }`,
      ]),
      `}`,
    ].join('\n') + '\n'
  );
}

export function renderDeleteTable(routerId: string): string {
  const table = tableName(routerId);
  return `add table ip ${table}\ndelete table ip ${table}\n`;
}
