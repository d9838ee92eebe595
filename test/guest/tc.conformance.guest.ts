/**
 * The shared dataplane conformance suite against the tc backend. It needs act_nat, which the host kernel lacks, so
 * it runs inside the Debian cloud kernel under qemu: test/dataplane/tc-guest.test.ts boots the guest and runs it.
 */
import { runDataplaneConformance } from '../dataplane/conformance.js';

runDataplaneConformance({
  backend: 'tc',
  conntrack: 'none',
  // Someone deletes the gateway device's qdisc (every tc filter with it) and flushes the raw table (the NOTRACK
  // jump with it) and every ipset in the router namespace.
  drift: [
    ['tc', 'qdisc', 'del', 'dev', 'qg-r1', 'clsact'],
    ['iptables', '-t', 'raw', '-F', 'PREROUTING'],
    ['ipset', 'flush'],
  ],
  prefix: 'tqc',
  // Everything runs 10-50 times slower under TCG: one router's reconcile takes seconds there, and a resync that
  // comes before the previous one finished would keep the agent from ever being idle.
  resyncIntervalMs: 20_000,
  suiteTimeoutMs: 1_500_000,
});
