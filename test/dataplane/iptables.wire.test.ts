import { runWireConformance } from './wire.js';

// The stateful baseline: conntrack's NAT translates quoted headers and reassembles fragments itself.
runWireConformance({ backend: 'iptables', prefix: `sfiw${process.pid % 10000}` });
