import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { NftablesDataplane } from '../../src/dataplane/index.js';
import { SET_DUMP_HELPER } from '../../src/dataplane/common/set-dump-channel.js';
import { parseDumpedElements } from '../../src/dataplane/nftables/element-dump.js';
import { renderFull, tableName } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter, RouterTarget } from '../../src/dataplane/types.js';
import { run, type Runner } from '../../src/exec/run.js';
import { deepRead } from './nftables-reads.js';
import { parseIPv4 } from '../../src/model/index.js';

const ip = parseIPv4;
const ns = `tmed${process.pid % 10000}`;
const desired: DesiredRouter = {
  routerId: '0b3f3a52-2a43-4f5e-9d55-7a1c3e1b6f01',
  namespace: ns,
  gatewayDevice: 'qg-x',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [
    { floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11'), fixedMac: 'fa:16:3e:00:00:0b' },
    { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.12'), fixedMac: 'fa:16:3e:0a:bc:de' },
    { floatingIp: ip('203.0.113.12'), fixedIp: ip('10.0.0.13') },
  ],
};
const target: RouterTarget = desired;

describe('nftables quick reads through the compiled element dumper', () => {
  before(async () => {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['link', 'add', 'qg-x', 'type', 'veth', 'peer', 'name', 'qg-y'], { netns: ns });
    await run('nft', ['-f', '-'], { netns: ns, input: renderFull(desired) });
  });
  after(async () => {
    await run('ip', ['netns', 'del', ns]);
  });

  /** A dataplane's first read of a router is a quick one. */
  const quickRead = (dp: NftablesDataplane) => dp.read(target, desired);

  it('reads what nft -j reads: both maps, the MACs, and the structure as matching', async () => {
    assert.ok(existsSync(SET_DUMP_HELPER), `${SET_DUMP_HELPER} is missing: run npm run build`);
    const dumped = await quickRead(new NftablesDataplane());
    // Any runner other than the module's own keeps the nft -j path.
    const viaRunner: Runner = (file, args, options) => run(file, args, options);
    const listed = await quickRead(new NftablesDataplane(viaRunner));
    assert.deepEqual([...dumped.inbound].sort(), [
      ['203.0.113.10', '10.0.0.11'],
      ['203.0.113.11', '10.0.0.12'],
      ['203.0.113.12', '10.0.0.13'],
    ]);
    assert.deepEqual([...dumped.outbound].sort(), [...listed.outbound].sort());
    assert.deepEqual([...dumped.inbound].sort(), [...listed.inbound].sort());
    assert.deepEqual([...(dumped.macs ?? new Map())].sort(), [
      ['10.0.0.11', 'fa:16:3e:00:00:0b'],
      ['10.0.0.12', 'fa:16:3e:0a:bc:de'],
    ]);
    assert.deepEqual([...(dumped.macs ?? new Map())].sort(), [...(listed.macs ?? new Map())].sort());
    assert.equal(dumped.structureMatches, true);
  });

  it('a deep read through the dumper sees the quoted-header maps and counter sets as nft -j does', async () => {
    const dumped = await deepRead(new NftablesDataplane(), target, desired);
    const listed = await deepRead(
      new NftablesDataplane((file, args, options) => run(file, args, options)),
      target,
      desired,
    );
    assert.equal(listed.structureMatches, true);
    assert.equal(dumped.structureMatches, true, 'the 16-bit compensation words and raw keys read back');
  });

  for (const [what, statement] of [
    ['a wrong checksum compensation word', 'icmp_fip2fixed_csum { 0xcb00710a : 0x1234 }'],
    [
      'a quoted-address element for an address that has no mapping',
      'icmp_fixed2fip { 0x0a000063 : 0xcb007163 }',
    ],
    ['a counter element for an address that has no mapping', 'fipcount_in { 203.0.113.77 }'],
  ] as const) {
    it(`a deep read through the dumper finds ${what}`, async () => {
      const table = tableName(desired.routerId);
      const [set, element] = statement.split(' { ') as [string, string];
      // The element replaces a correct one or adds a foreign one; either way the table no longer matches.
      if (set === 'icmp_fip2fixed_csum')
        await run('nft', ['delete', 'element', 'ip', table, set, '{ 0xcb00710a }'], { netns: ns });
      await run('nft', ['add', 'element', 'ip', table, set, `{ ${element}`], { netns: ns });
      try {
        const read = await deepRead(new NftablesDataplane(), target, desired);
        assert.equal(read.structureMatches, false);
        // The repair is a rebuild, after which a deep read matches again.
        const dp = new NftablesDataplane();
        await dp.apply(dp.plan(desired, read));
      } finally {
        await run('nft', ['-f', '-'], { netns: ns, input: renderFull(desired) });
      }
      assert.equal((await deepRead(new NftablesDataplane(), target, desired)).structureMatches, true);
    });
  }

  it('sees an element added behind its back, so drift in the maps is found by a quick read', async () => {
    const table = tableName(desired.routerId);
    await run('nft', ['add', 'element', 'ip', table, 'fip2fixed', '{ 203.0.113.99 : 10.0.0.99 }'], {
      netns: ns,
    });
    const dumped = await quickRead(new NftablesDataplane());
    assert.equal(dumped.inbound.get('203.0.113.99'), '10.0.0.99');
    // The floating membership set lacks the foreign key (membership.ts), so the repair is a rebuild without it.
    assert.equal(dumped.structureMatches, false);
    const plan = new NftablesDataplane().plan(desired, dumped);
    assert.equal(plan.rebuild, true);
    assert.doesNotMatch(
      plan.batch ?? '',
      /203\.0\.113\.99/,
      'the rebuilt table leaves the foreign element out',
    );
    await new NftablesDataplane().apply(plan);
    assert.equal((await quickRead(new NftablesDataplane())).inbound.has('203.0.113.99'), false);
  });

  for (const [what, verb, set, element] of [
    ['a floating address missing from its membership set', 'delete', 'fips', '203.0.113.11'],
    ['a fixed address missing from its membership set', 'delete', 'fixeds', '10.0.0.13'],
    ['a membership element for an address that has no mapping', 'add', 'fixeds', '10.0.0.77'],
  ] as const) {
    it(`a quick read through the dumper finds ${what}, and the rebuild repairs it`, async () => {
      const table = tableName(desired.routerId);
      await run('nft', [verb, 'element', 'ip', table, set, `{ ${element} }`], { netns: ns });
      // Without the dumper (any runner but the module's own), a quick read lists the sets with nft -j.
      const listed = await quickRead(
        new NftablesDataplane((file, args, options) => run(file, args, options)),
      );
      assert.equal(listed.structureMatches, false, 'nft -j quick read');
      const dp = new NftablesDataplane();
      const read = await quickRead(dp);
      assert.equal(read.structureMatches, false, 'dumper quick read');
      await dp.apply(dp.plan(desired, read));
      assert.equal((await quickRead(new NftablesDataplane())).structureMatches, true);
    });
  }

  it('parses the dumper’s lines, skipping what it cannot read', async () => {
    const parsed = await parseDumpedElements(
      [
        'fip2fixed 203.0.113.10 10.0.0.11 - -',
        'fixed2fip 10.0.0.11 203.0.113.10 - -',
        'fixed_macs fa:16:3e:00:00:0b.10.0.0.11 - - -',
        'fixed_macs - - - -',
        'fip2fixed 203.0.113.11 - - -',
        '',
      ].join('\n'),
    );
    assert.deepEqual([...parsed.inbound], [['203.0.113.10', '10.0.0.11']]);
    assert.deepEqual([...parsed.outbound], [['10.0.0.11', '203.0.113.10']]);
    assert.deepEqual([...parsed.macs], [['10.0.0.11', 'fa:16:3e:00:00:0b']]);
  });
});
