/**
 * The shared wire suite (test/dataplane/wire.ts) against the tc backend: act_nat is missing from the host kernel,
 * so it runs inside the Debian cloud kernel under qemu (test/dataplane/tc-guest.test.ts, which also writes the
 * results into docs/wire-matrix.md). Every case runs; the ones tc cannot pass must fail, for the listed reason.
 * The stale quoted checksum act_nat leaves (tc-icmp-quote.ts) runs in the same process.
 */
import { runWireConformance } from '../dataplane/wire.js';
import { runIcmpQuoteCases } from './tc-icmp-quote.js';
import { TC_WIRE_KNOWN_FAILURES } from './tc-wire-limits.js';

runWireConformance({
  backend: 'tc',
  prefix: 'tqw',
  knownFailures: TC_WIRE_KNOWN_FAILURES,
  // As for the conformance suite in the guest: a reconcile takes seconds under TCG.
  resyncIntervalMs: 20_000,
  // About 80 s in the first guest run (PMTUD's failing case waits out its 15 s transfer).
  suiteTimeoutMs: 600_000,
  recordMatrix: false,
});

runIcmpQuoteCases();
