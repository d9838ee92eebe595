/**
 * What a full apply prepares while the backend's batch goes in, in slices of the loop's time: the floating
 * addresses' batch (the same text as in one piece), the record's mapping maps (the same as in one piece), and the
 * conntrack cleanup's addresses, each once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderAddressBatch, renderAddressBatchSliced, staleAddresses } from '../../src/dataplane/index.js';
import { mappingsState, mappingsStateSliced } from '../../src/dataplane/router-state.js';
import type { FloatingMapping } from '../../src/dataplane/types.js';
import { LoopBudget } from '../../src/metrics/slices.js';
import { ipv4FromUint32, type IPv4 } from '../../src/model/index.js';

const addresses = (base: number, count: number): IPv4[] =>
  Array.from({ length: count }, (_, i) => ipv4FromUint32(base + i));

/** A budget that is always spent: it yields at every look, and counts them. */
class Spent extends LoopBudget {
  yields = 0;
  override spent(): boolean {
    return true;
  }
  override async yield(): Promise<void> {
    this.yields++;
    await super.yield();
  }
}

describe('address batch in slices', () => {
  it('renders the same batch as in one piece (removals first), yielding between slices', async () => {
    const add = addresses(0xcb007100, 1000);
    const remove = addresses(0xc6336400, 300);
    const budget = new Spent();
    const sliced = await renderAddressBatchSliced('qg-r1', add, remove, budget);
    assert.equal(sliced, renderAddressBatch('qg-r1', add, remove));
    assert.equal(sliced.split('\n')[0], `route del local 198.51.100.0/32 dev qg-r1 table local proto 249`);
    assert.ok(budget.yields >= 5, `yielded ${budget.yields} times over 1,300 addresses`);
  });

  it('holds the loop for nothing when the budget is not spent (a delta)', async () => {
    const budget = new Spent();
    budget.spent = () => false;
    const batch = await renderAddressBatchSliced('qg-r1', addresses(0xcb007100, 2), [], budget);
    assert.equal(batch.split('\n').length, 3);
    assert.equal(budget.yields, 0);
  });
});

describe('staleAddresses', () => {
  it('lists each fixed and floating address of the changed mappings once', async () => {
    const stale = await staleAddresses(
      [
        { floatingIp: '203.0.113.10', fixedIp: '10.0.0.11' },
        { floatingIp: '203.0.113.10', fixedIp: '10.0.0.12' },
        { floatingIp: '203.0.113.11', fixedIp: '10.0.0.11' },
      ],
      new LoopBudget(),
    );
    assert.deepEqual(stale, {
      fixedIps: ['10.0.0.11', '10.0.0.12'],
      floatingIps: ['203.0.113.10', '203.0.113.11'],
    });
  });
});

describe('mappingsStateSliced', () => {
  it('fills the same maps as mappingsState, the ones `like` has, yielding between slices', async () => {
    const floating = addresses(0xcb007100, 700);
    const fixed = addresses(0x0a000001, 700);
    const mappings: FloatingMapping[] = floating.map((floatingIp, i) => ({
      floatingIp,
      fixedIp: fixed[i]!,
      ...(i % 3 === 0 && { fixedMac: 'fa:16:3e:00:00:01' }),
      ...(i % 5 === 0 && {
        limits: [{ direction: 'ingress' as const, unit: 'kbit' as const, rate: 1000, burst: 100 }],
      }),
    }));
    for (const like of [{}, { macs: new Map() }, { macs: new Map(), limits: new Map() }]) {
      const budget = new Spent();
      const sliced = await mappingsStateSliced(mappings, like, budget);
      assert.deepEqual(sliced, mappingsState(mappings, like));
      assert.ok(budget.yields >= 2, `yielded ${budget.yields} times over 700 mappings`);
    }
    const withLimits = await mappingsStateSliced(mappings, { limits: new Map() }, new Spent());
    assert.equal(withLimits.limits?.size, 140);
    assert.equal(withLimits.macs, undefined);
  });
});
