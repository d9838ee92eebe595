import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NftablesDataplane } from '../../src/dataplane/index.js';
import { parseNftTable } from '../../src/dataplane/nftables/parse.js';
import {
  chainsFor,
  renderDelta,
  renderFull,
  routerIdOfTable,
  structureSignature,
  tableName,
} from '../../src/dataplane/nftables/render.js';
import { limitsKey, type DesiredRouter } from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';
import { assertGolden, readFixture } from '../support/golden.js';

const ip = parseIPv4;
const desired: DesiredRouter = {
  routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24', '10.1.0.0/24'],
  mappings: [
    {
      floatingIp: ip('203.0.113.10'),
      fixedIp: ip('10.0.0.11'),
      fixedMac: 'fa:16:3e:00:00:0b',
      limits: [
        { direction: 'egress', unit: 'kbit', rate: 10_000, burst: 8_000 },
        { direction: 'ingress', unit: 'packets', rate: 1_000, burst: 100 },
      ],
    },
    { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.12'), fixedMac: 'fa:16:3e:00:00:0c' },
  ],
};

describe('nftables rendering', () => {
  it('renders the whole table as one transaction (golden)', () => {
    assertGolden('nftables-full.nft', renderFull(desired));
  });

  it('renders only element changes when the structure is already right (golden)', () => {
    const inbound = new Map([
      ['203.0.113.10', '10.0.0.11'],
      ['203.0.113.12', '10.0.0.13'],
    ]);
    const outbound = new Map([
      ['10.0.0.11', '203.0.113.10'],
      ['10.0.0.13', '203.0.113.12'],
    ]);
    const macs = new Map([
      ['10.0.0.11', 'fa:16:3e:00:00:0b'],
      ['10.0.0.13', 'fa:16:3e:00:00:0d'],
    ]);
    const delta = renderDelta(desired, inbound, outbound, macs);
    assertGolden('nftables-delta.nft', delta.text ?? '');
    assert.deepEqual(delta.added, [desired.mappings[1]]);
    assert.deepEqual(delta.removed, [{ floatingIp: '203.0.113.12', fixedIp: '10.0.0.13' }]);
  });

  it('renders nothing when the maps already match', () => {
    const inbound = new Map(desired.mappings.map((m) => [m.floatingIp as string, m.fixedIp as string]));
    const outbound = new Map(desired.mappings.map((m) => [m.fixedIp as string, m.floatingIp as string]));
    const macs = new Map(desired.mappings.map((m) => [m.fixedIp as string, m.fixedMac!]));
    const limits = new Map([['203.0.113.10', limitsKey(desired.mappings[0]!.limits)]]);
    assert.equal(renderDelta(desired, inbound, outbound, macs, limits).text, null);
    assert.match(
      renderDelta(desired, inbound, outbound, new Map(), limits).text ?? '',
      /add element .* fixed_macs/,
    );
  });

  it('sees one entry too many or one that differs, in any map, when everything else matches', () => {
    const inbound = new Map(desired.mappings.map((m) => [m.floatingIp as string, m.fixedIp as string]));
    const outbound = new Map(desired.mappings.map((m) => [m.fixedIp as string, m.floatingIp as string]));
    const macs = new Map(desired.mappings.map((m) => [m.fixedIp as string, m.fixedMac!]));
    const limits = new Map([['203.0.113.10', limitsKey(desired.mappings[0]!.limits)]]);
    const text = (i: Map<string, string>, o: Map<string, string>, m: Map<string, string>) =>
      renderDelta(desired, i, o, m, limits).text ?? '';
    const plus = (map: Map<string, string>, key: string, value: string) => new Map(map).set(key, value);
    assert.match(
      text(plus(inbound, '203.0.113.99', '10.0.0.99'), outbound, macs),
      /delete element .* fip2fixed \{ 203\.0\.113\.99 \}/,
    );
    assert.match(
      text(inbound, plus(outbound, '10.0.0.99', '203.0.113.99'), macs),
      /delete element .* fixed2fip \{ 10\.0\.0\.99 \}/,
    );
    assert.match(
      text(inbound, outbound, plus(macs, '10.0.0.99', 'fa:16:3e:00:00:99')),
      /delete element .* fixed_macs/,
    );
    assert.match(
      text(plus(inbound, '203.0.113.10', '10.0.0.12'), outbound, macs),
      /add element .* fip2fixed \{ 203\.0\.113\.10 : 10\.0\.0\.11 \}/,
    );
    assert.match(
      text(inbound, outbound, plus(macs, '10.0.0.11', 'fa:16:3e:00:00:99')),
      /add element .* fixed_macs \{ fa:16:3e:00:00:0b/,
    );
  });

  it('changes a rule comment whenever the rule changes, so drift in any rule is visible', () => {
    const a = structureSignature(chainsFor(desired));
    const b = structureSignature(chainsFor({ ...desired, gatewayIp: ip('203.0.113.3') }));
    const c = structureSignature(chainsFor({ ...desired, internalCidrs: ['10.0.0.0/24'] }));
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('splits huge element lists into bounded statements', () => {
    const mappings = Array.from({ length: 10_000 }, (_, i) => ({
      floatingIp: ip(`100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`),
      fixedIp: ip(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
    }));
    const text = renderFull({ ...desired, mappings });
    const statements = text.split('\n').filter((l) => l.startsWith('add element'));
    assert.equal(
      statements.length,
      30,
      '10,000 elements in 4,096-element statements, for each of the six maps, the two counter sets and the two membership sets',
    );
  });

  it('names tables after the router and maps names back', () => {
    assert.equal(tableName(desired.routerId), 'sfip_6c6dc72ec74a4386989bf048b1d408e6');
    assert.equal(routerIdOfTable(tableName(desired.routerId)), desired.routerId);
    assert.equal(routerIdOfTable('filter'), undefined);
    assert.equal(routerIdOfTable('sfip_nothex'), undefined);
  });
});

describe('nftables read-back', () => {
  // Captured with `nft -j list table ip sfip_...` after applying nftables-full.nft (nft 1.0.6).
  const json = readFixture('nftables-list-table.json');

  it('parses maps and the structure signature', () => {
    const state = parseNftTable(json);
    assert.deepEqual(
      [...state.inbound],
      [
        ['203.0.113.10', '10.0.0.11'],
        ['203.0.113.11', '10.0.0.12'],
      ],
    );
    assert.deepEqual(
      [...state.outbound],
      [
        ['10.0.0.11', '203.0.113.10'],
        ['10.0.0.12', '203.0.113.11'],
      ],
    );
    assert.deepEqual(
      state.signature,
      structureSignature(chainsFor(desired)),
      'what nft reports equals what was rendered',
    );
  });

  it('plans nothing when the kernel holds exactly the desired state', async () => {
    const fakeRun = async (file: string, args: readonly string[]) => {
      if (file === 'nft') return { stdout: json, stderr: '', code: 0 };
      if (args.includes('route')) {
        // What `ip -j route show table local dev qg-r1 proto 249` prints for sfip's floating addresses.
        const routes = desired.mappings.map((m) => ({
          type: 'local',
          dst: m.floatingIp,
          scope: 'host',
          flags: [],
        }));
        return { stdout: JSON.stringify(routes), stderr: '', code: 0 };
      }
      return { stdout: '[]', stderr: '', code: 0 };
    };
    const dp = new NftablesDataplane(fakeRun);
    const actual = await dp.read(desired, desired);
    assert.equal(actual.structureMatches, true);
    const plan = dp.plan(desired, actual);
    assert.equal(plan.batch, null);
  });

  it('sees a hand-added rule as drift', () => {
    const tampered = JSON.parse(json) as { nftables: object[] };
    tampered.nftables.push({
      rule: { family: 'ip', table: 'x', chain: 'raw_prerouting', handle: 99, expr: [] },
    });
    const state = parseNftTable(JSON.stringify(tampered));
    assert.notDeepEqual(state.signature, structureSignature(chainsFor(desired)));
  });
});

describe('nftables syntax', () => {
  it('is accepted by nft itself (nft --check, in a scratch namespace)', async () => {
    const { run } = await import('../../src/exec/run.js');
    const ns = `sfck${process.pid % 10000}`;
    await run('ip', ['netns', 'add', ns]);
    try {
      await run('nft', ['--check', '-f', '-'], { netns: ns, input: renderFull(desired) });
    } finally {
      await run('ip', ['netns', 'del', ns]);
    }
  });
});
