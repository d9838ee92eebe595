import { runDataplaneConformance } from './conformance.js';

runDataplaneConformance({
  backend: 'iptables',
  // The stateful baseline: every floating-IP flow is a conntrack entry, as in Neutron.
  conntrack: 'expected',
  // Someone flushes the nat and mangle tables in the router namespace: jumps and owned chains are emptied.
  drift: [
    ['iptables-nft', '-t', 'nat', '-F'],
    ['iptables-nft', '-t', 'mangle', '-F'],
  ],
  prefix: `tkip${process.pid % 10000}`,
});
