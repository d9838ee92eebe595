import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IptablesDataplane } from '../../src/dataplane/iptables/index.js';
import { RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/router-dataplane.js';
import { isEmptyPlan, type DesiredRouter } from '../../src/dataplane/types.js';
import { run } from '../../src/exec/run.js';
import { parseIPv4 } from '../../src/model/index.js';

/** Round trips through the real iptables-nft-restore/-save in a namespace of its own (no traffic here). */
const NS = 'tk-ipt-kernel';
const ROUTER = '5d1e0f3a-2b4c-4d6e-8f90-a1b2c3d4e5f6';
const OTHER = '6e2f1a4b-3c5d-4e7f-8a01-b2c3d4e5f6a7';
const map = (floating: string, fixed: string) => ({
  floatingIp: parseIPv4(floating),
  fixedIp: parseIPv4(fixed),
});
const desired = (
  routerId: string,
  mappings: { floatingIp: ReturnType<typeof parseIPv4>; fixedIp: ReturnType<typeof parseIPv4> }[],
): DesiredRouter => ({
  routerId,
  namespace: NS,
  gatewayDevice: 'qg-r1',
  gatewayIp: parseIPv4('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings,
});
const save = async () => (await run('iptables-nft-save', [], { netns: NS })).stdout;

describe('iptables backend against the kernel', () => {
  const dp = new IptablesDataplane();
  before(async () => {
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
    await run('ip', ['netns', 'add', NS]);
    await run('ip', ['-n', NS, 'link', 'add', 'qg-r1', 'type', 'veth', 'peer', 'name', 'up0']);
    await run('ip', ['-n', NS, 'link', 'set', 'qg-r1', 'up']);
    // Someone else's rules, which sfip must never touch.
    await run('iptables-nft', ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'up0', '-j', 'MASQUERADE'], {
      netns: NS,
    });
    await run('iptables-nft', ['-t', 'mangle', '-A', 'PREROUTING', '-j', 'MARK', '--set-mark', '7'], {
      netns: NS,
    });
  });
  after(async () => {
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  });

  it('applies a router, reads it back unchanged, and patches one floating IP at a time', async () => {
    const first = desired(ROUTER, [map('203.0.113.10', '10.0.0.11'), map('203.0.113.11', '10.0.0.12')]);
    // Through the router layer, as the agent drives it: the floating addresses come with the rules.
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    const empty = await layer.read(first);
    const plan = layer.plan(first, empty);
    assert.equal(plan.rebuild, true);
    await layer.apply(plan, first, empty);
    const again = await layer.read(first);
    assert.equal(again.structureMatches, true, 'what iptables-save prints must match what sfip renders');
    assert.deepEqual([...again.addresses].sort(), ['203.0.113.10', '203.0.113.11']);
    assert.ok(isEmptyPlan(layer.plan(first, again)));

    const second = desired(ROUTER, [map('203.0.113.10', '10.0.0.13'), map('203.0.113.12', '10.0.0.14')]);
    const patch = layer.plan(second, again);
    assert.equal(patch.rebuild, false);
    await layer.apply(patch, second, again);
    const patched = await layer.read(second);
    assert.equal(patched.structureMatches, true);
    assert.deepEqual(
      [...patched.inbound],
      [
        ['203.0.113.10', '10.0.0.13'],
        ['203.0.113.12', '10.0.0.14'],
      ],
    );
    assert.deepEqual([...patched.addresses].sort(), ['203.0.113.10', '203.0.113.12']);
    assert.match(await save(), /-A POSTROUTING -o up0 -j MASQUERADE/);
  });

  it('repairs drift: a hand-added rule in an owned chain and a deleted jump', async () => {
    const want = desired(ROUTER, [map('203.0.113.10', '10.0.0.13'), map('203.0.113.12', '10.0.0.14')]);
    await run('iptables-nft', ['-t', 'nat', '-I', 'sfip-5d1e0f3a2b-snat', '1', '-j', 'RETURN'], {
      netns: NS,
    });
    const jump = ['-m', 'comment', '--comment', `sfip router ${ROUTER}`, '-j', 'sfip-5d1e0f3a2b-OUTPUT'];
    await run('iptables-nft', ['-t', 'nat', '-D', 'OUTPUT', ...jump], { netns: NS });
    const drifted = await dp.read(want, want);
    assert.equal(drifted.structureMatches, false);
    await dp.apply(dp.plan(want, drifted));
    const repaired = await dp.read(want, want);
    assert.equal(repaired.structureMatches, true);
    assert.doesNotMatch(await save(), /sfip-5d1e0f3a2b-snat -j RETURN/);
    assert.equal((await save()).match(/-j sfip-5d1e0f3a2b-OUTPUT/g)?.length, 1);
  });

  it('keeps two routers in one namespace apart, lists them as owned, and removes one completely', async () => {
    const other = desired(OTHER, [map('203.0.113.20', '10.0.0.21')]);
    await dp.apply(dp.plan(other, await dp.read(other, other)));
    assert.deepEqual(await dp.owned(NS), [ROUTER, OTHER].sort());
    await dp.remove(desired(ROUTER, []));
    const text = await save();
    assert.doesNotMatch(text, /5d1e0f3a2b|5d1e0f3a-2b4c/);
    assert.match(text, /sfip-6e2f1a4b3c-PREROUTING -d 203\.0\.113\.20\/32/);
    assert.match(text, /-A POSTROUTING -o up0 -j MASQUERADE/);
    assert.match(text, /-A PREROUTING -j MARK --set-xmark 0x7\/0xffffffff/);
    assert.deepEqual(await dp.owned(NS), [OTHER]);
    await dp.remove(desired(ROUTER, [])); // removing again is harmless
    await dp.remove(other);
    assert.doesNotMatch(await save(), /sfip/);
  });
});
