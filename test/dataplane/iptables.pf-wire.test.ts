import { runPortForwardingWire } from './port-forwarding-wire.js';

// The stateful baseline, with Neutron's rules: DNAT per forwarding, conntrack for the replies.
runPortForwardingWire({
  backend: 'iptables',
  prefix: `sfpi${process.pid % 10000}`,
  stateful: true,
  knownFailures: {
    'a new flow from the forwarded port leaves as FIP:external; the VM’s other traffic keeps its 1:1 address':
      "Neutron's rules only DNAT: a flow the VM starts from its forwarded port leaves with its own address",
    '0 conntrack entries for forwarded flows while shared SNAT is active':
      'stateful by design: every flow is tracked',
  },
});
