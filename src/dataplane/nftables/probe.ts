import type { Runner } from '../../exec/run.js';
import { probeInScratchNamespace } from '../common/capabilities.js';
import type { CapabilityCheck } from '../types.js';

/** What the nftables backend's tables rest on, used for real: a map lookup that rewrites, and notrack. */
export function probeNftables(run: Runner, namespace: string): Promise<CapabilityCheck> {
  const table = 'sfip_probe';
  return probeInScratchNamespace(
    run,
    namespace,
    'nftables maps and notrack',
    [
      ['nft', ['add', 'table', 'ip', table]],
      ['nft', ['add', 'map', 'ip', table, 'm', '{ type ipv4_addr : ipv4_addr; }']],
      ['nft', ['add', 'chain', 'ip', table, 'c', '{ type filter hook prerouting priority raw; }']],
      ['nft', ['add', 'rule', 'ip', table, 'c', 'ip', 'daddr', 'set', 'ip', 'daddr', 'map', '@m', 'notrack']],
    ],
    {
      works: 'a map rewrite with notrack works',
      missing: 'nftables cannot rewrite through a map and untrack; nft said',
    },
  );
}
