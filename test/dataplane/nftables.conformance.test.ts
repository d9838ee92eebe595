import { runDataplaneConformance } from './conformance.js';

runDataplaneConformance({
  backend: 'nftables',
  conntrack: 'none',
  // The example from the issue: someone flushes the whole ruleset in the router namespace.
  drift: [['nft', 'flush', 'ruleset']],
  prefix: `sfnf${process.pid % 10000}`,
});
