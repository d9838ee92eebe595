/**
 * The shared dataplane conformance suite against the nftables backend inside Debian 12's own kernel (6.1, the
 * act_nat guest's): that kernel refused sfip's table while rules looked addresses up in the translation maps as if
 * they were sets (src/dataplane/nftables/membership.ts). test/dataplane/tc-guest.test.ts boots the guest and runs it.
 */
import { runDataplaneConformance } from '../dataplane/conformance.js';

runDataplaneConformance({
  backend: 'nftables',
  conntrack: 'none',
  drift: [['nft', 'flush', 'ruleset']],
  prefix: 'nqc',
  // As for tc in the guest: a reconcile takes seconds under TCG.
  resyncIntervalMs: 20_000,
  suiteTimeoutMs: 1_500_000,
});
