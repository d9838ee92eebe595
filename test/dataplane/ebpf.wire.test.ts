import { runWireConformance } from './wire.js';

// The programs translate quoted headers (and their checksums) themselves, and fragments one by one.
runWireConformance({ backend: 'ebpf', prefix: `tbw${process.pid % 10000}` });
