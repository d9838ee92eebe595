import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ifindexBytes, peerIfindexes } from '../../src/dataplane/ebpf/peer-devices.js';
import { listChanges } from '../../src/dataplane/ebpf/plan.js';

/** `ip -d -j address show` in a router's namespace, cut to the fields the choice reads. */
const links = JSON.stringify([
  { ifindex: 1, ifname: 'lo', qdisc: 'noqueue' },
  // A veth whose peer is in another namespace, as the lab's gateway and internal devices.
  { ifindex: 2, ifname: 'qg-r1', qdisc: 'noqueue', link_netnsid: 0, linkinfo: { info_kind: 'veth' } },
  { ifindex: 3, ifname: 'qr-r1', qdisc: 'noqueue', link_netnsid: 1, linkinfo: { info_kind: 'veth' } },
  // Its peer in this namespace: `link` names it and there is no link_netnsid; redirect_peer would drop.
  { ifindex: 4, ifname: 'qr-r2', link: 'vm-r2', qdisc: 'noqueue', linkinfo: { info_kind: 'veth' } },
  // A bridge and a physical NIC have no peer.
  { ifindex: 5, ifname: 'br-int', qdisc: 'noqueue', linkinfo: { info_kind: 'bridge' } },
  { ifindex: 6, ifname: 'eth1', qdisc: 'mq' },
  // A veth the operator shapes: redirect_peer would skip its qdisc.
  { ifindex: 7, ifname: 'qr-r3', qdisc: 'htb', link_netnsid: 2, linkinfo: { info_kind: 'veth' } },
  { ifindex: 8, ifname: 'nk-r4', qdisc: 'noqueue', link_netnsid: 3, linkinfo: { info_kind: 'netkit' } },
]);

describe('eBPF fast path: devices for bpf_redirect_peer', () => {
  it('lists a veth or netkit device whose peer is in another namespace and which has no qdisc of its own', () => {
    const all = ['qg-r1', 'qr-r1', 'qr-r2', 'br-int', 'eth1', 'qr-r3', 'nk-r4'];
    assert.deepEqual(peerIfindexes(links, all), [2, 3, 8]);
  });

  it('lists only the devices asked about, and none that is missing', () => {
    assert.deepEqual(peerIfindexes(links, ['qr-r1', 'gone']), [3]);
    assert.deepEqual(peerIfindexes('', ['qg-r1']), []);
  });

  it('changes the map by the difference', () => {
    assert.deepEqual(listChanges([2, 3], [2, 9]), { remove: [3], set: [9] });
    assert.deepEqual(listChanges([2, 3], [3, 2]), { remove: [], set: [] });
  });

  it('writes an ifindex as the program reads fib->ifindex: a host-order u32', () => {
    assert.deepEqual([...ifindexBytes(0x01020304)], [4, 3, 2, 1]);
  });
});
