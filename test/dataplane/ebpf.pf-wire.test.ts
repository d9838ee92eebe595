import { runPortForwardingWire } from './port-forwarding-wire.js';

// Forwarded sockets always take the stack's path; the 1:1 floating IP beside them takes the fast path when it is on.
runPortForwardingWire({ backend: 'ebpf', prefix: `sfpe${process.pid % 10000}` });
runPortForwardingWire({
  backend: 'ebpf',
  prefix: `sfpf${process.pid % 10000}`,
  variant: { name: 'ebpf, fast path off', routerAttributes: { fast_path: false } },
});
