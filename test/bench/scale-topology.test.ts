import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixedIpOf, floatingIpOf, sampleSlot, scaleTopology } from '../../bench/control/scale-topology.js';
import { atLeast, upTo } from '../../bench/control/scale-goals.js';
import { parseTopologies } from '../../bench/control/run-scale-suite.js';
import { cidrContains, cidrsOverlap, parseCidr } from '../../src/model/cidr.js';

/**
 * The scale benchmark's addressing: the model refuses two routers with one gateway address on an external
 * network, and the upstream routes each router's floating block to its gateway, so every router needs its own
 * gateway, subnet and block, none overlapping, for issue 15's two topologies.
 */
describe('scale benchmark topology', () => {
  for (const shape of [
    { routers: 1, perRouter: 100_000 },
    { routers: 100, perRouter: 1000 },
  ]) {
    const spare = { samples: 200, fill: 5000 };
    const t = scaleTopology('tst', shape, spare);
    const external = parseCidr(t.externalCidr);

    it(`${shape.routers} × ${shape.perRouter}: distinct gateways, namespaces and devices per router`, () => {
      assert.equal(t.routers.length, shape.routers);
      for (const key of ['gatewayIp', 'namespace', 'genDevice', 'sinkDevice', 'sinkLinkIp'] as const)
        assert.equal(new Set(t.routers.map((r) => r[key])).size, shape.routers, key);
      for (const r of t.routers) {
        assert.ok(cidrContains(external, r.gatewayIp), `${r.gatewayIp} on the external network`);
        assert.notEqual(r.gatewayIp, t.genIp);
      }
    });

    it(`${shape.routers} × ${shape.perRouter}: floating blocks and subnets do not overlap`, () => {
      const blocks = t.routers.map((r) => parseCidr(r.floatingCidr));
      const subnets = t.routers.map((r) => parseCidr(r.fixedCidr));
      for (const list of [blocks, subnets])
        for (let a = 0; a < list.length; a++)
          for (let b = a + 1; b < list.length; b++) assert.ok(!cidrsOverlap(list[a]!, list[b]!));
      for (const block of blocks) assert.ok(cidrsOverlap(block, external));
      for (const r of t.routers) assert.ok(!cidrContains(parseCidr(r.floatingCidr), r.gatewayIp));
    });

    it(`${shape.routers} × ${shape.perRouter}: every installed and sample address lies in its router's block and subnet`, () => {
      const slots = [
        ...t.routers.flatMap((r) => [0, shape.perRouter - 1].map((index) => ({ router: r.index, index }))),
        ...Array.from({ length: spare.samples }, (_, k) => sampleSlot(t, k)),
      ];
      const seen = new Set<string>();
      for (const { router, index } of slots) {
        const r = t.routers[router]!;
        const floating = floatingIpOf(t, router, index);
        const fixed = fixedIpOf(t, router, index);
        assert.ok(cidrContains(parseCidr(r.floatingCidr), floating), `${floating} in ${r.floatingCidr}`);
        assert.ok(cidrContains(parseCidr(r.fixedCidr), fixed), `${fixed} in ${r.fixedCidr}`);
        assert.notEqual(fixed, r.fixedGatewayIp);
        assert.ok(!seen.has(floating), `${floating} used once`);
        seen.add(floating);
      }
      // The samples are dealt over the routers, above each router's installed floating IPs.
      assert.deepEqual(sampleSlot(t, shape.routers), { router: 0, index: shape.perRouter + 1 });
    });
  }

  it('refuses a shape whose addresses do not fit', () => {
    assert.throws(
      () => scaleTopology('tst', { routers: 100, perRouter: 5000 }, { samples: 0, fill: 0 }),
      /fit/,
    );
    assert.throws(
      () => scaleTopology('tst', { routers: 0, perRouter: 10 }, { samples: 0, fill: 0 }),
      /1 to 250/,
    );
  });

  it('parses --scale-topologies and refuses anything else', () => {
    assert.deepEqual(parseTopologies('1x100000,100x1000'), [
      { routers: 1, perRouter: 100_000 },
      { routers: 100, perRouter: 1000 },
    ]);
    assert.throws(() => parseTopologies('100*1000'), /--scale-topologies '100\*1000'/);
  });
});

describe('scale benchmark goal verdicts', () => {
  it('says met at or under an upper bound, and by how much it missed above', () => {
    assert.equal(upTo(5, 5, 's', 1), '5.0 s: met');
    assert.equal(upTo(12.5, 5, 's', 1), '12.5 s: missed by 7.5 s (×2.5)');
    assert.equal(upTo(Number.NaN, 5, 's'), 'not measured');
  });

  it('says met at or over a lower bound, and how far short it fell below', () => {
    assert.equal(atLeast(1200, 1000, 'per s'), '1,200 per s: met');
    assert.equal(atLeast(250, 1000, 'per s'), '250 per s: missed by 750 per s (×4.0 short)');
  });
});
