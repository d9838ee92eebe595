import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allocateAddress,
  parseIPv4,
  poolContains,
  poolSize,
  type AllocationPool,
  type IPv4,
} from '../../src/model/index.js';

const pool = (start: string, end: string): AllocationPool => ({
  start: parseIPv4(start),
  end: parseIPv4(end),
});

describe('allocateAddress', () => {
  const pools = [pool('203.0.113.20', '203.0.113.22'), pool('203.0.113.10', '203.0.113.11')];

  it('hands out the lowest free address when there is no hint', () => {
    assert.equal(
      allocateAddress(pools, () => false),
      '203.0.113.10',
    );
    const taken = new Set(['203.0.113.10', '203.0.113.11']);
    assert.equal(
      allocateAddress(pools, (ip) => taken.has(ip)),
      '203.0.113.20',
    );
  });

  it('continues after the hint and wraps around, never repeating a taken address', () => {
    const taken = new Set<string>();
    const got: IPv4[] = [];
    let hint: IPv4 | undefined;
    for (let i = 0; i < poolSize(pools); i++) {
      const ip = allocateAddress(pools, (x) => taken.has(x), hint)!;
      assert.ok(ip, 'pool should not be exhausted yet');
      assert.ok(!taken.has(ip));
      taken.add(ip);
      got.push(ip);
      hint = ip;
    }
    assert.equal(new Set(got).size, 5);
    assert.equal(
      allocateAddress(pools, (x) => taken.has(x), hint),
      undefined,
      'an exhausted pool yields nothing',
    );
    taken.delete('203.0.113.11');
    assert.equal(
      allocateAddress(pools, (x) => taken.has(x), parseIPv4('203.0.113.21')),
      '203.0.113.11',
      'wraps to a freed address',
    );
  });

  it('checks pool membership', () => {
    assert.equal(poolContains(pools, parseIPv4('203.0.113.21')), true);
    assert.equal(poolContains(pools, parseIPv4('203.0.113.12')), false);
  });
});
