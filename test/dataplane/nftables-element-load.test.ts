import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { NftablesDataplane } from '../../src/dataplane/index.js';
import { ELEMENT_LOAD_HELPER, loadLines } from '../../src/dataplane/nftables/element-load.js';
import { renderFull, renderStructure, tableName } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { ExecError, run } from '../../src/exec/run.js';
import { parseIPv4 } from '../../src/model/index.js';

const ip = parseIPv4;
const prefix = `tnl${process.pid % 10000}`;
const viaNft = `${prefix}a`;
const viaLoader = `${prefix}b`;
const routerId = '5d1e0b7a-3c2f-4e8a-9b6d-2f4c8a1e7b03';
const table = tableName(routerId);

/** 300 mappings, a third with a MAC, every fiftieth with limits. */
const mappings = Array.from({ length: 300 }, (_, i) => ({
  floatingIp: ip(`203.0.${113 + (i >> 8)}.${i & 255}`),
  fixedIp: ip(`10.0.${1 + (i >> 8)}.${i & 255}`),
  ...(i % 3 === 0 && {
    fixedMac: `fa:16:3e:${(i >> 8).toString(16).padStart(2, '0')}:AB:${(i & 255).toString(16).padStart(2, '0')}`,
  }),
  ...(i % 50 === 0 && {
    limits: [
      { direction: 'ingress' as const, unit: 'packets' as const, rate: 1_000, burst: 100 },
      { direction: 'egress' as const, unit: 'kbit' as const, rate: 10_000, burst: 8_000 },
    ],
  }),
}));

const desired = (namespace: string): DesiredRouter => ({
  routerId,
  namespace,
  gatewayDevice: 'qg-x',
  gatewayIp: ip('198.51.100.2'),
  internalCidrs: ['10.0.0.0/16'],
  mappings,
  forwardings: [
    {
      floatingIp: ip('198.51.100.20'),
      protocol: 'tcp',
      fixedIp: ip('10.0.9.12'),
      externalPortStart: 2222,
      externalPortEnd: 2222,
      internalPortStart: 22,
      internalPortEnd: 22,
    },
  ],
});

const list = async (namespace: string) =>
  (await run('nft', ['list', 'table', 'ip', table], { netns: namespace })).stdout;

describe('nftables first apply through the element loader', () => {
  before(async () => {
    for (const ns of [viaNft, viaLoader]) {
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['link', 'add', 'qg-x', 'type', 'veth', 'peer', 'name', 'qg-y'], { netns: ns });
    }
  });
  after(async () => {
    for (const ns of [viaNft, viaLoader]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  });

  it('writes the same table as one nft transaction, every element type included', async () => {
    assert.ok(existsSync(ELEMENT_LOAD_HELPER), `${ELEMENT_LOAD_HELPER} is missing: run npm run build`);
    const full = renderFull(desired(viaNft));
    await run('nft', ['-f', '-'], { netns: viaNft, input: full });
    const warnings: string[] = [];
    const dp = new NftablesDataplane(undefined, undefined, undefined, {
      helper: ELEMENT_LOAD_HELPER,
      warn: (m) => warnings.push(m),
    });
    const plan = dp.plan(desired(viaLoader), await dp.read(desired(viaLoader), desired(viaLoader)));
    assert.equal(
      plan.batch,
      renderStructure(desired(viaLoader)),
      'a missing table: structure, then the loader',
    );
    await dp.apply(plan);
    assert.deepEqual(warnings, []);
    const expected = await list(viaNft);
    // Every element type of a first apply is in the comparison.
    for (const element of [
      '203.0.113.0 : 10.0.1.0', // translation maps
      'fa:16:3e:00:ab:00 . 10.0.1.0', // source MACs (upper-case in the model)
      '0xcb007100 : 0xa000100', // quoted-header address maps
      'counter packets 0 bytes 0', // counter sets
      'limit rate', // QoS
      '2222', // port forwardings
    ])
      assert.ok(expected.includes(element), `the nft listing holds ${element}`);
    assert.equal(await list(viaLoader), expected);
    const read = await new NftablesDataplane().read(desired(viaLoader), desired(viaLoader));
    assert.equal(read.structureMatches, true);
    assert.equal(read.inbound.size, mappings.length);
  });

  it('refuses a bad line by number and writes nothing', async () => {
    const before = await list(viaLoader);
    const lines = loadLines(mappings.slice(0, 2)).split('\n');
    lines.splice(1, 0, 'fip2fixed cb007101 0a00000G');
    const error = await run(ELEMENT_LOAD_HELPER, [table], {
      netns: viaLoader,
      input: lines.join('\n'),
    }).catch((e: unknown) => e);
    assert.ok(error instanceof ExecError);
    assert.equal(error.code, 2);
    assert.match(error.stderr, /line 2: bad data .*: fip2fixed cb007101 0a00000G/);
    assert.equal(await list(viaLoader), before);
  });

  it('refuses an element of the wrong length for its set, naming the line', async () => {
    const error = await run(ELEMENT_LOAD_HELPER, [table], {
      netns: viaLoader,
      input: 'fips c63364aa\nfixed_macs fa163e000001\n',
    }).catch((e: unknown) => e);
    assert.ok(error instanceof ExecError);
    assert.equal(error.code, 2);
    assert.match(
      error.stderr,
      /line 2: set fixed_macs takes 12 key bytes and 0 data bytes, the line has 6 and 0/,
    );
    assert.ok(!(await list(viaLoader)).includes('198.51.100.170'), 'line 1 was not written either');
  });

  it('a failing loader falls back to one nft transaction and says why', async () => {
    await run('nft', ['delete', 'table', 'ip', table], { netns: viaLoader });
    const warnings: string[] = [];
    // `false` as the loader: the structure goes in, the elements do not.
    const dp = new NftablesDataplane(undefined, undefined, undefined, {
      helper: 'false',
      warn: (m) => warnings.push(m),
    });
    const plan = dp.plan(desired(viaLoader), await dp.read(desired(viaLoader), desired(viaLoader)));
    await dp.apply(plan);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, new RegExp(`Router ${routerId}: .*element loader failed.*false`));
    assert.equal(await list(viaLoader), await list(viaNft));
  });

  it('a table that exists is rebuilt in one transaction, not through the loader', async () => {
    const dp = new NftablesDataplane(undefined, undefined, undefined, { helper: 'false' });
    const changed = { ...desired(viaLoader), gatewayIp: ip('198.51.100.3') };
    const plan = dp.plan(changed, await dp.read(changed, changed));
    assert.equal(plan.rebuild, true);
    assert.equal(plan.batch, renderFull(changed));
  });
});
