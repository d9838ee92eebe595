/**
 * The raw prerouting rules, split by the device a packet came in on (issue 17: what the chains cost per packet).
 *
 * Written as one list, every packet walked every rule: a packet from the gateway device paid for the rules that
 * begin `iifname != <gateway>` (anti-spoofing of the VMs' sources, the hairpin rules), one compare each, and a VM's
 * packet for the ones that begin `iifname <gateway>`. The split is mechanical, so the two lists mean exactly what the
 * one list meant: the base chain sends gateway traffic with one compare (`goto`, so a rule that ends the regular
 * chain ends the hook as the base chain's own end would) to a chain that holds every rule except those for the
 * inside, with the `iifname <gateway>` test dropped; what stays in the base chain is every rule except those for
 * the gateway, with the `iifname != <gateway>` test dropped. Order within each list is kept.
 */
export interface RawSplit {
  /** The rules a packet from the gateway device can match, without their device test. */
  readonly fromGateway: string[];
  /** The rules any other packet can match, without their device test. */
  readonly fromInside: string[];
}

export function splitByInputDevice(rules: readonly string[], quotedGateway: string): RawSplit {
  const onGateway = `iifname ${quotedGateway} `;
  const offGateway = `iifname != ${quotedGateway} `;
  const fromGateway: string[] = [];
  const fromInside: string[] = [];
  for (const rule of rules) {
    if (rule.startsWith(onGateway)) fromGateway.push(rule.slice(onGateway.length));
    else if (rule.startsWith(offGateway)) fromInside.push(rule.slice(offGateway.length));
    else {
      fromGateway.push(rule);
      fromInside.push(rule);
    }
  }
  return { fromGateway, fromInside };
}
