import { runPortForwardingWire } from './port-forwarding-wire.js';

runPortForwardingWire({ backend: 'ebpf', prefix: `sfpe${process.pid % 10000}` });
