import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LimitKinds } from '../../src/agent/limit-kinds.js';
import type { FloatingMapping, RateLimit } from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';

const limit = (direction: RateLimit['direction'], unit: RateLimit['unit']): RateLimit => ({
  direction,
  unit,
  rate: 1000,
  burst: 100,
});
const fip = (n: number, limits?: RateLimit[]): FloatingMapping => ({
  floatingIp: parseIPv4(`203.0.113.${n}`),
  fixedIp: parseIPv4(`10.0.0.${n}`),
  ...(limits && { limits }),
});

describe('limit kinds: which deltas may change a backend’s rules', () => {
  it('the first limit of a kind changes them, a second one of the same kind does not', () => {
    const kinds = new LimitKinds();
    kinds.add(fip(1));
    assert.equal(kinds.wouldChange([fip(2, [limit('ingress', 'kbit')])], []), true);
    kinds.add(fip(2, [limit('ingress', 'kbit')]));
    assert.equal(kinds.wouldChange([fip(3, [limit('ingress', 'kbit')])], []), false);
    assert.equal(kinds.wouldChange([fip(3, [limit('ingress', 'packets')])], []), true);
    assert.equal(kinds.wouldChange([fip(3, [limit('egress', 'kbit')])], []), true);
    assert.equal(kinds.wouldChange([fip(3)], []), false);
  });

  it('removing the last limit of a kind changes them; moving it to another floating IP does not', () => {
    const kinds = new LimitKinds();
    const limited = fip(1, [limit('egress', 'packets')]);
    kinds.add(limited);
    assert.equal(kinds.wouldChange([], [limited]), true);
    assert.equal(kinds.wouldChange([fip(1)], [limited]), true, 'the policy taken off the floating IP');
    assert.equal(kinds.wouldChange([fip(2, [limit('egress', 'packets')])], [limited]), false);
    kinds.drop(limited);
    assert.equal(kinds.wouldChange([limited], []), true, 'dropped: the kind is gone again');
  });
});
