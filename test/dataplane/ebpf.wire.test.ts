import { runWireConformance } from './wire.js';

// The programs translate quoted headers (and their checksums) themselves, and fragments one by one. With the fast
// path on (the default) eligible packets skip the stack, and each case that needs the stack (TTL, MTU, fragments,
// ICMP errors, unresolved neighbours, the router's own address) shows it got there; with it off every packet takes
// the stack's path, as before the fast path existed. The suite is short (about 10 s), so both run in full.
runWireConformance({ backend: 'ebpf', prefix: `tbw${process.pid % 10000}` });
runWireConformance({
  backend: 'ebpf',
  prefix: `tbx${process.pid % 10000}`,
  variant: { name: 'ebpf, fast path off', routerAttributes: { fast_path: false } },
});
