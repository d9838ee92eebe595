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
});
