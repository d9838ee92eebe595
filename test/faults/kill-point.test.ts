import assert from 'node:assert/strict';
import { it } from 'node:test';
import { APPLY_TOOLS, KERNEL_TOOLS, killPoint } from '../../bench/crash/kill-point.js';

it('names the kernel tool a killed serve was running, through its wrappers', () => {
  assert.equal(killPoint(['setpriv --pdeathsig KILL -- ip netns exec r1 nft -f -']), 'nft transaction');
  assert.equal(killPoint(['nft -j list table ip sfip_x']), 'nft read');
  assert.equal(
    killPoint(['setpriv --pdeathsig KILL -- nsenter --net=/run/netns/r1 -- tc -batch -']),
    'tc batch',
  );
  assert.equal(
    killPoint(['iptables-nft-restore --noflush', 'conntrack -D -s 10.0.0.1']),
    'conntrack cleanup + iptables-restore',
  );
  assert.equal(killPoint([]), 'no kernel tool running');
  assert.ok(APPLY_TOOLS.test('setpriv --pdeathsig KILL -- ip netns exec r1 nft -f -'));
  assert.ok(!APPLY_TOOLS.test('setpriv --pdeathsig KILL -- ip netns exec r1 nft -j list tables ip'));
  // The agent's long-lived channel processes: listed (with "(busy)") only while they work on a request.
  assert.equal(killPoint(['nft -i (busy)']), 'nft transaction (channel)');
  assert.equal(killPoint(['ip -force -batch - (busy)']), 'address batch (channel)');
  assert.ok(APPLY_TOOLS.test('nft -i (busy)'));
  assert.ok(APPLY_TOOLS.test('ip -force -batch - (busy)'));
  assert.ok(!APPLY_TOOLS.test('nft -i'));
  // sfip's applier in the nft channel's place.
  assert.equal(killPoint(['/opt/sfip/dist/native/sfip-nft-apply (busy)']), 'nft transaction (channel)');
  assert.ok(APPLY_TOOLS.test('/opt/sfip/dist/native/sfip-nft-apply (busy)'));
  assert.ok(!APPLY_TOOLS.test('/opt/sfip/dist/native/sfip-nft-apply'));
  // The route writer in ip -batch's place: an address batch, and it changes the kernel.
  assert.equal(
    killPoint(['setpriv --pdeathsig KILL -- ip netns exec r1 /opt/sfip/dist/native/sfip-local-routes']),
    'address batch',
  );
  assert.ok(APPLY_TOOLS.test('ip netns exec r1 /opt/sfip/dist/native/sfip-local-routes'));
  assert.ok(KERNEL_TOOLS.test('/opt/sfip/dist/native/sfip-local-routes'));
  // The set dump helper, where conntrack deletes go: an apply point only while it works on a request.
  const helper = '/opt/sfip/dist/native/sfip-nft-set-dump --serve';
  assert.equal(killPoint([`${helper} (busy)`]), 'conntrack cleanup or set read (channel)');
  assert.ok(APPLY_TOOLS.test(`${helper} (busy)`));
  assert.ok(!APPLY_TOOLS.test(helper));
  assert.ok(KERNEL_TOOLS.test(`${helper} (busy)`));
  // The eBPF loader: builds and attaches generations, an apply point only while it works on a request.
  const loader = '/opt/sfip/dist/native/sfip-bpf-load';
  assert.equal(killPoint([`${loader} (busy)`]), 'eBPF build or attach (channel)');
  assert.ok(APPLY_TOOLS.test(`${loader} (busy)`));
  assert.ok(!APPLY_TOOLS.test(loader));
  assert.ok(KERNEL_TOOLS.test(`${loader} (busy)`));
});
