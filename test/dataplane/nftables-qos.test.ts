/**
 * nftables QoS planning (issue 19): a limit change is an element and object update of that floating IP only,
 * in the delta an agent plans against its record, and the read-back sees the limit objects (and, on deep reads,
 * their elements) so drift is repaired.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NftablesDataplane } from '../../src/dataplane/index.js';
import { parseNftTable } from '../../src/dataplane/nftables/parse.js';
import { limitsFromObjects, qosConsistent } from '../../src/dataplane/nftables/qos.js';
import { limitsKey, type DesiredRouter, type FloatingMapping } from '../../src/dataplane/types.js';
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

describe('nftables QoS planning', () => {
  it('a changed limit replaces only that floating IP’s element and object, in one batch', () => {
    const faster: FloatingMapping = {
      ...limited,
      limits: [
        { direction: 'egress', unit: 'kbit', rate: 10_000, burst: 8_000 },
        { direction: 'ingress', unit: 'packets', rate: 2_000, burst: 100 },
      ],
    };
    const plan = dp.planDelta({
      desired: { ...structure, mappings: [faster] },
      removed: [limited],
      installed: 2,
    });
    assert.equal(plan.rebuild, false);
    assert.deepEqual(plan.batch?.trim().split('\n'), [
      `delete element ip ${TABLE} qos_in_pps { 203.0.113.10 }`,
      `delete limit ip ${TABLE} qin_pps_cb00710a`,
      `add limit ip ${TABLE} qout_bw_cb00710a { rate over 1250000 bytes/second burst 1000000 bytes }`,
      `add limit ip ${TABLE} qin_pps_cb00710a { rate over 2000/second burst 100 packets }`,
      `add element ip ${TABLE} qos_in_pps { 203.0.113.10 : "qin_pps_cb00710a" }`,
      `add element ip ${TABLE} qos_out_bw { 203.0.113.10 : "qout_bw_cb00710a" }`,
    ]);
    assert.deepEqual([plan.added, plan.removed], [[], []], 'no translation changed: no conntrack cleanup');
  });

  it('removing the limits deletes them; a floating IP without limits adds nothing of QoS', () => {
    const { limits: _limits, ...unlimited } = limited;
    const plan = dp.planDelta({
      desired: { ...structure, mappings: [unlimited] },
      removed: [limited],
      installed: 1,
    });
    assert.deepEqual(plan.batch?.trim().split('\n'), [
      `delete element ip ${TABLE} qos_in_pps { 203.0.113.10 }`,
      `delete limit ip ${TABLE} qin_pps_cb00710a`,
    ]);
    const add = dp.planDelta({ desired: { ...structure, mappings: [plain] }, removed: [], installed: 1 });
    assert.doesNotMatch(add.batch ?? '', /limit|qos_/);
  });

  it('a mapping removed whole takes its limits with it', () => {
    const plan = dp.planDelta({ desired: structure, removed: [limited], installed: 0 });
    assert.match(plan.batch ?? '', new RegExp(`delete element ip ${TABLE} qos_in_pps \\{ 203.0.113.10 \\}`));
    assert.match(plan.batch ?? '', /delete limit ip \S+ qin_pps_cb00710a/);
  });

  it('reads limits back from the objects of a real listing, and checks elements against objects', () => {
    // Captured with `nft -j list table` after applying nftables-full.nft (see nftables-render.test.ts).
    const state = parseNftTable(readFixture('nftables-list-table.json'));
    assert.deepEqual(
      [...limitsFromObjects(state.limitObjects)],
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
    const names = new Set(state.limitObjects.map((o) => o.name));
    assert.equal(qosConsistent(names, state.limitElements), true);
    const withoutElement = new Map(state.limitElements);
    withoutElement.set('qos_in_pps', new Map());
    assert.equal(qosConsistent(names, withoutElement), false, 'an object without its element is drift');
    const repointed = new Map(state.limitElements);
    repointed.set('qos_in_pps', new Map([['203.0.113.10', 'qout_bw_cb00710a']]));
    assert.equal(qosConsistent(names, repointed), false, 'an element naming another object is drift');
  });

  it('an object not as sfip renders it reads back as a limit no desired state has', () => {
    const read = limitsFromObjects([
      { name: 'qin_pps_cb00710a', rate: 1_000, per: 'minute', inv: true, burst: 100 },
      { name: 'qout_bw_cb00710a', rate: 1_250, per: 'second', inv: true, rate_unit: 'kbytes', burst: 100 },
    ]);
    const key = read.get('203.0.113.10') ?? '';
    assert.notEqual(key, limitsKey(limited.limits));
    assert.match(key, /ingress -1\/100 packets/, 'per minute is not sfip’s');
    assert.match(key, /egress 10240\/819\.2 kbit/, 'kbytes are 1,024 bytes');
  });

  describe('a quick read whose limit objects differ from what is wanted', () => {
    const fixture = JSON.parse(readFixture('nftables-list-table.json')) as { nftables: Json[] };
    const mapped: DesiredRouter = {
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
    /** nft answers from the captured listing, without the qos_in_pps element when `lost`. */
    const dataplane = (lost: boolean) => {
      const listings: string[][] = [];
      const strip = (o: Json): Json => {
        const map = o.map as Json | undefined;
        return map && lost && map.name === 'qos_in_pps' ? { map: { ...map, elem: [] } } : o;
      };
      const run = async (file: string, args: readonly string[]) => {
        if (file !== 'nft') return { stdout: '[]', stderr: '', code: 0 };
        listings.push([...args]);
        const objects = fixture.nftables.map(strip);
        const mapName = args[1] === 'list' && args[2] === 'map' ? args[5] : undefined;
        const chosen = mapName
          ? objects.filter((o) => (o.map as Json | undefined)?.name === mapName)
          : args.includes('-t')
            ? objects.map((o) => {
                const { elem: _elem, ...rest } = ((o.map ?? o.set) as Json | undefined) ?? {};
                return o.map ? { map: rest } : o.set ? { set: rest } : o;
              })
            : objects;
        return { stdout: JSON.stringify({ nftables: chosen }), stderr: '', code: 0 };
      };
      return { dp: new NftablesDataplane(run, undefined, null), listings };
    };
    const changed: DesiredRouter = {
      ...mapped,
      mappings: [
        {
          ...mapped.mappings[0]!,
          limits: [{ direction: 'ingress', unit: 'packets', rate: 2_000, burst: 100 }],
        },
        mapped.mappings[1]!,
      ],
    };

    it('lists the QoS maps, and plans a delta when they hold what the objects say', async () => {
      const { dp: reader, listings } = dataplane(false);
      await reader.read(changed, changed); // the first read of a router is deep
      const actual = await reader.read(changed, changed);
      assert.equal(
        listings.filter((a) => a.some((x) => x.startsWith('qos_'))).length,
        4,
        'the four QoS maps, once',
      );
      assert.equal(actual.structureMatches, true);
      assert.match(reader.plan(changed, actual).batch ?? '', /delete element \S+ \S+ qos_in_pps/);
      const { listings: quiet, dp: unchanged } = dataplane(false);
      await unchanged.read(mapped, mapped);
      await unchanged.read(mapped, mapped);
      assert.equal(
        quiet.filter((a) => a.some((x) => x.startsWith('qos_'))).length,
        0,
        'no map listing when limits match',
      );
    });

    it('rebuilds when an object has lost its element (a delete of it would fail the transaction)', async () => {
      const { dp: reader } = dataplane(true);
      await reader.read(changed, changed);
      const actual = await reader.read(changed, changed);
      assert.equal(actual.structureMatches, false);
      assert.equal(reader.plan(changed, actual).rebuild, true);
    });
  });
});
