/**
 * The shared wire cases the tc backend does not pass, and why. The guest run asserts that each still fails (so the
 * reason stays true), and the host writes them into docs/wire-matrix.md as such; docs/tc.md explains them.
 */
const ROUTER_ERRORS =
  'act_nat only runs where a u32 leaf matched the outer address: the router’s own ICMP error (from its gateway ' +
  'address) about an inbound packet it had already translated matches no leaf, so it leaves quoting the fixed address';
const NO_ANTI_SPOOFING = 'the tc backend has no anti-spoofing (nothing checks destinations or source MACs)';

export const TC_WIRE_KNOWN_FAILURES: Readonly<Record<string, string>> = {
  'PMTUD: an external host sends to a floating IP through a smaller MTU at the router': ROUTER_ERRORS,
  'traceroute to a floating IP: the router’s and the VM’s errors quote the floating address': ROUTER_ERRORS,
  'packets from outside addressed straight to a fixed IP are dropped (and pass when disabled)':
    NO_ANTI_SPOOFING,
  'a VM forging another VM’s fixed IP is not translated into that VM’s floating IP': NO_ANTI_SPOOFING,
};
