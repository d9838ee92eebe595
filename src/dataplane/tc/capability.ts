import type { Runner } from '../../exec/run.js';
import { probeInScratchNamespace } from '../common/capabilities.js';
import type { CapabilityCheck } from '../types.js';

/** The feature the whole backend rests on, and what to use instead, for error messages. */
export const ACT_NAT_MISSING =
  "this kernel has no act_nat (CONFIG_NET_ACT_NAT, tc 'action nat'), which the tc backend needs to translate " +
  'floating IPs; use the nftables backend (the default) or the ebpf backend instead, or run a kernel that has ' +
  'act_nat (Debian builds it as a module)';

/**
 * Probes act_nat for real in a scratch namespace: a kernel config can claim a module that cannot be loaded (these
 * machines load no modules), so only adding a nat action proves it.
 */
export function probeActNat(run: Runner, namespace: string): Promise<CapabilityCheck> {
  return probe(
    run,
    namespace,
    'act_nat',
    ['nat', 'ingress', '192.0.2.1/32', '192.0.2.2'],
    ACT_NAT_MISSING,
    'tc action nat works',
  );
}

/** What floating-IP rate limits need, and what to use instead, for error messages. */
export const ACT_POLICE_MISSING =
  "this kernel has no act_police with packet rates (CONFIG_NET_ACT_POLICE, tc 'action police', pkts_rate from " +
  'Linux 5.14), which the tc backend needs to enforce QoS limits on floating IPs; use the nftables or ebpf ' +
  'backend, or run a kernel that has act_police (Debian builds it as a module)';

/** Probes a packet-rate policer, which also proves byte-rate ones (act_police has had those for ever). */
export function probeActPolice(run: Runner, namespace: string): Promise<CapabilityCheck> {
  return probe(
    run,
    namespace,
    'act_police',
    ['police', 'pkts_rate', '1000', 'pkts_burst', '100', 'conform-exceed', 'drop/pipe'],
    ACT_POLICE_MISSING,
    'tc action police with pkts_rate works',
  );
}

function probe(
  run: Runner,
  namespace: string,
  name: string,
  action: readonly string[],
  missing: string,
  works: string,
): Promise<CapabilityCheck> {
  const match = ['match', 'ip', 'dst', '192.0.2.1/32', 'action', ...action];
  return probeInScratchNamespace(
    run,
    namespace,
    name,
    [
      ['ip', ['link', 'set', 'lo', 'up']],
      ['tc', ['qdisc', 'add', 'dev', 'lo', 'clsact']],
      ['tc', ['filter', 'add', 'dev', 'lo', 'ingress', 'protocol', 'ip', 'prio', '1', 'u32', ...match]],
    ],
    { works, missing: `${missing}; tc said` },
  );
}
