/**
 * nftables QoS planning (issue 19): a limit change is an element update of that floating IP only, in the delta
 * an agent plans against its record, and every read-back sees the limited elements, so drift is repaired.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mappingsState, NftablesDataplane } from '../../src/dataplane/index.js';
import { parseNftTable } from '../../src/dataplane/nftables/parse.js';
import { limitsFromElements, type NftLimit } from '../../src/dataplane/nftables/qos.js';
import {
  limitsKey,
  type BackendState,
  type DesiredRouter,
  type FloatingMapping,
} from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';
import type { Json } from '../../src/client/api-client.js';
import { readFixture } from '../support/golden.js';

const ip = parseIPv4;
const TABLE = 'sfip_6c6dc72ec74a4386989bf048b1d408e6';
const limited: FloatingMapping = {
  floatingIp: ip('203.0.113.10'),
  fixedIp: ip('10.0.0.11'),
  limits: [{ direction: 'ingress', unit: 'packets', rate: 1_000, burst: 100 }],
};
const plain: FloatingMapping = { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.12') };
const structure: DesiredRouter = {
  routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [],
};

const dp = new NftablesDataplane(async () => ({ stdout: '', stderr: '', code: 0 }));

/** The router layer's record narrowed to one change: what the changed addresses hold now. */
const holding = (...mappings: FloatingMapping[]): BackendState => ({
  present: true,
  structureMatches: true,
  ...mappingsState(mappings, { macs: new Map(), limits: new Map() }),
});

describe('nftables QoS planning', () => {
  it('a changed limit replaces only that floating IP’s elements, in one batch', () => {
    const faster: FloatingMapping = {
      ...limited,
      limits: [
        { direction: 'egress', unit: 'kbit', rate: 10_000, burst: 8_000 },
        { direction: 'ingress', unit: 'packets', rate: 2_000, burst: 100 },
      ],
    };
    const plan = dp.planDelta({
      desired: { ...structure, mappings: [faster] },
      before: holding(limited),
      installed: 2,
    });
    assert.equal(plan.rebuild, false);
    assert.deepEqual(plan.batch?.trim().split('\n'), [
      `delete element ip ${TABLE} qos_in_pps { 203.0.113.10 }`,
      `add element ip ${TABLE} qos_in_pps { 203.0.113.10 limit rate over 2000/second burst 100 packets }`,
      `add element ip ${TABLE} qos_out_bw { 203.0.113.10 limit rate over 1250000 bytes/second burst 1000000 bytes }`,
    ]);
    assert.deepEqual([plan.added, plan.removed], [[], []], 'no translation changed: no conntrack cleanup');
  });

  it('removing the limits deletes them; a floating IP without limits adds nothing of QoS', () => {
    const { limits: _limits, ...unlimited } = limited;
    const plan = dp.planDelta({
      desired: { ...structure, mappings: [unlimited] },
      before: holding(limited),
      installed: 1,
    });
    assert.deepEqual(plan.batch?.trim().split('\n'), [
      `delete element ip ${TABLE} qos_in_pps { 203.0.113.10 }`,
    ]);
    const add = dp.planDelta({
      desired: { ...structure, mappings: [plain] },
      before: holding(),
      installed: 1,
    });
    assert.doesNotMatch(add.batch ?? '', /limit|qos_/);
  });

  it('a mapping removed whole takes its limits with it', () => {
    const plan = dp.planDelta({ desired: structure, before: holding(limited), installed: 0 });
    assert.match(plan.batch ?? '', new RegExp(`delete element ip ${TABLE} qos_in_pps \\{ 203.0.113.10 \\}`));
  });

  it('reads limits back from the elements of a real listing', () => {
    // Captured with `nft -j list table` after applying nftables-full.nft (see nftables-render.test.ts).
    const state = parseNftTable(readFixture('nftables-list-table.json'));
    assert.deepEqual(
      [...limitsFromElements(state.limitElements)],
      [
        [
          '203.0.113.10',
          limitsKey([
            { direction: 'egress', unit: 'kbit', rate: 10_000, burst: 8_000 },
            { direction: 'ingress', unit: 'packets', rate: 1_000, burst: 100 },
          ]),
        ],
      ],
    );
  });

  it('a limit not as sfip renders it reads back as a limit no desired state has', () => {
    const read = limitsFromElements(
      new Map<string, Map<string, NftLimit | null>>([
        ['qos_in_pps', new Map([['203.0.113.10', { rate: 1_000, per: 'minute', inv: true, burst: 100 }]])],
        [
          'qos_out_bw',
          new Map([
            ['203.0.113.10', { rate: 1_250, per: 'second', inv: true, rate_unit: 'kbytes', burst: 100 }],
          ]),
        ],
        ['qos_in_bw', new Map([['203.0.113.11', null]])],
      ]),
    );
    const key = read.get('203.0.113.10') ?? '';
    assert.notEqual(key, limitsKey(limited.limits));
    assert.match(key, /ingress -1\/100 packets/, 'per minute is not sfip’s');
    assert.match(key, /egress 10240\/819\.2 kbit/, 'kbytes are 1,024 bytes');
    assert.match(read.get('203.0.113.11') ?? '', /ingress -1\/0 kbit/, 'an element without a limit is drift');
  });

  it('a quick read lists the four QoS sets and sees an element deleted by hand', async () => {
    const fixture = JSON.parse(readFixture('nftables-list-table.json')) as { nftables: Json[] };
    const listings: string[][] = [];
    const run = async (file: string, args: readonly string[]) => {
      if (file !== 'nft') return { stdout: '[]', stderr: '', code: 0 };
      listings.push([...args]);
      const setName = args[1] === 'list' && args[2] === 'set' ? args[5] : undefined;
      const chosen = setName
        ? fixture.nftables
            .filter((o) => (o.set as Json | undefined)?.name === setName)
            // The ingress element is gone.
            .map((o) =>
              (o.set as Json).name === 'qos_in_pps' ? { set: { ...(o.set as Json), elem: [] } } : o,
            )
        : fixture.nftables;
      return { stdout: JSON.stringify({ nftables: chosen }), stderr: '', code: 0 };
    };
    const reader = new NftablesDataplane(run, undefined, null);
    const desired: DesiredRouter = {
      ...structure,
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
    const quick = await reader.read(desired, desired); // the first read of a router is quick
    assert.equal(listings.filter((a) => a.some((x) => x.startsWith('qos_'))).length, 4);
    const deep = await reader.read(desired, desired); // the second is deep: the full listing has the element
    assert.equal(deep.limits?.get('203.0.113.10'), limitsKey(desired.mappings[0]!.limits));
    assert.equal(quick.structureMatches, true);
    const plan = reader.plan(desired, quick);
    assert.deepEqual(plan.batch?.trim().split('\n'), [
      `delete element ip ${TABLE} qos_out_bw { 203.0.113.10 }`,
      `add element ip ${TABLE} qos_in_pps { 203.0.113.10 limit rate over 1000/second burst 100 packets }`,
      `add element ip ${TABLE} qos_out_bw { 203.0.113.10 limit rate over 1250000 bytes/second burst 1000000 bytes }`,
    ]);
  });

  it('a router that never had limits reads no QoS sets on quick reads', async () => {
    const fixture = JSON.parse(readFixture('nftables-list-table.json')) as { nftables: Json[] };
    const unlimited = fixture.nftables.map((o) =>
      (o.set as Json | undefined)?.name?.toString().startsWith('qos_')
        ? { set: { ...(o.set as Json), elem: undefined } }
        : o,
    );
    const listings: string[][] = [];
    const run = async (file: string, args: readonly string[]) => {
      if (file === 'nft') listings.push([...args]);
      return { stdout: file === 'nft' ? JSON.stringify({ nftables: unlimited }) : '[]', stderr: '', code: 0 };
    };
    const reader = new NftablesDataplane(run, undefined, null);
    const desired: DesiredRouter = { ...structure, mappings: [plain] };
    await reader.read(desired, desired);
    await reader.read(desired, desired);
    assert.equal(listings.filter((a) => a.some((x) => x.startsWith('qos_'))).length, 0);
    // Once a plan writes limits, quick reads list the sets again.
    await reader.apply(reader.plan({ ...desired, mappings: [limited] }, await reader.read(desired, desired)));
    await reader.read(desired, desired);
    assert.equal(listings.filter((a) => a.some((x) => x.startsWith('qos_'))).length, 4);
  });
});
