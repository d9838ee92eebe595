import { runDataplaneConformance } from './conformance.js';

runDataplaneConformance({
  backend: 'ebpf',
  conntrack: 'none',
  // Someone detaches the translation from the gateway device, flushes every map entry's nft partner (the whole
  // ruleset, so untracking and shared SNAT go too) and unpins nothing: the agent must re-attach and rebuild.
  drift: [
    ['tc', 'filter', 'del', 'dev', 'qg-r1', 'ingress', 'prio', '24347'],
    ['nft', 'flush', 'ruleset'],
  ],
  prefix: `tbc${process.pid % 10000}`,
});
