/**
 * The shared wire suite against the nftables backend inside Debian 12's own kernel (6.1): see
 * nftables.conformance.guest.ts. docs/wire-matrix.md keeps the host's nftables results; this run only has to pass.
 */
import { runWireConformance } from '../dataplane/wire.js';

runWireConformance({
  backend: 'nftables',
  prefix: 'nqw',
  resyncIntervalMs: 20_000,
  suiteTimeoutMs: 600_000,
  recordMatrix: false,
});
