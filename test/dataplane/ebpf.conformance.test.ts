import { runDataplaneConformance } from './conformance.js';

// Someone detaches the translation from the gateway device, flushes every map entry's nft partner (the whole
// ruleset, so untracking and shared SNAT go too) and unpins nothing: the agent must re-attach and rebuild.
const drift = [
  ['tc', 'filter', 'del', 'dev', 'qg-r1', 'ingress', 'prio', '24347'],
  ['nft', 'flush', 'ruleset'],
];

// With the fast path on (the default), and off: every packet through the stack, as before it existed.
runDataplaneConformance({ backend: 'ebpf', conntrack: 'none', drift, prefix: `tbc${process.pid % 10000}` });
runDataplaneConformance({
  backend: 'ebpf',
  conntrack: 'none',
  drift,
  prefix: `tbd${process.pid % 10000}`,
  variant: { name: 'ebpf, fast path off', routerAttributes: { fast_path: false } },
});
