import { runPortForwardingWire } from './port-forwarding-wire.js';

runPortForwardingWire({ backend: 'nftables', prefix: `sfpf${process.pid % 10000}` });
