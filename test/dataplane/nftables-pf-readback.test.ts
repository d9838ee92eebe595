import { RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/router-dataplane.js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NftablesDataplane } from '../../src/dataplane/index.js';
import { tableName } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { run } from '../../src/exec/run.js';
import { parseIPv4 } from '../../src/model/index.js';

const ip = parseIPv4;
const ns = `tmpf${process.pid % 10000}`;
const desired: DesiredRouter = {
  routerId: '0b3f3a52-2a43-4f5e-9d55-7a1c3e1b6f01',
  namespace: ns,
  gatewayDevice: 'qg-x',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [{ floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11') }],
  forwardings: [
    {
      floatingIp: ip('203.0.113.20'),
      protocol: 'tcp',
      fixedIp: ip('10.0.0.12'),
      externalPortStart: 2222,
      externalPortEnd: 2222,
      internalPortStart: 22,
      internalPortEnd: 22,
    },
    {
      floatingIp: ip('203.0.113.20'),
      protocol: 'udp',
      fixedIp: ip('10.0.0.13'),
      externalPortStart: 8000,
      externalPortEnd: 8009,
      internalPortStart: 9000,
      internalPortEnd: 9000,
    },
  ],
};

describe('nftables port forwardings read back from a real table', () => {
  const dp = new NftablesDataplane();
  before(async () => {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['link', 'add', 'qg-x', 'type', 'veth', 'peer', 'name', 'qg-y'], { netns: ns });
    await run('ip', ['link', 'set', 'qg-x', 'up'], { netns: ns });
  });
  after(async () => {
    await run('ip', ['netns', 'del', ns]);
  });

  it('applies, then every read (terse and deep) finds the structure right and plans nothing', async () => {
    const layer = new RouterDataplane(dp, WITHOUT_CHORES);
    await layer.reconcile(desired);
    for (let i = 0; i < 7; i++) {
      const actual = await layer.read(desired);
      assert.ok(actual.structureMatches, `read ${i + 1} saw drift`);
      const plan = layer.plan(desired, actual);
      assert.equal(plan.batch, null, `read ${i + 1} planned ${plan.batch ?? ''}`);
      assert.deepEqual(plan.addAddresses, []);
    }
    assert.ok((await layer.read(desired)).addresses.has('203.0.113.20'), 'the forwarding address is local');
  });

  it('a forwarding element deleted by hand is seen on the next deep read and repaired', async () => {
    await run(
      'nft',
      ['delete', 'element', 'ip', tableName(desired.routerId), 'pf_in_addr', '{ 203.0.113.20 . tcp . 2222 }'],
      {
        netns: ns,
      },
    );
    let drifted;
    for (let i = 0; i < 6 && !drifted; i++) {
      const actual = await dp.read(desired, desired);
      if (!actual.structureMatches) drifted = actual;
    }
    assert.ok(drifted, 'six reads include a deep one, which must see the missing element');
    const repair = dp.plan(desired, drifted);
    assert.ok(repair.rebuild);
    await dp.apply(repair);
    const listed = (
      await run('nft', ['list', 'map', 'ip', tableName(desired.routerId), 'pf_in_addr'], { netns: ns })
    ).stdout;
    assert.match(listed, /203\.0\.113\.20 \. tcp \. 2222 : 10\.0\.0\.12/);
  });
});
