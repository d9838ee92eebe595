/**
 * The churn test's judge, on hand-made histories: if it could not tell a leak from an in-flight packet, or a lost
 * packet from a delivered one, the churn results would mean nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Timeline } from '../../bench/churn/ownership.js';
import { judge } from '../../bench/churn/verdicts.js';
import type { TaggedRecord } from '../../src/lab/tagged-traffic.js';

const ms = 1000;
/** 203.0.113.10: unowned, then vm1 (request 1000-1010 ms), then moved to vm2 (request 5000-5020 ms). */
function history(): Timeline {
  const t = new Timeline(null);
  t.add({ startUs: 1000 * ms, ackUs: 1010 * ms, value: '10.0.0.11', gen: 1 });
  t.add({ startUs: 5000 * ms, ackUs: 5020 * ms, value: '10.0.0.12', gen: 2 });
  return t;
}

describe('ownership timeline', () => {
  it('accepts the owner of the time, and both owners while a change is in progress', () => {
    const t = history();
    assert.deepEqual(t.classify('10.0.0.11', 3000 * ms, 500 * ms), { kind: 'ok' });
    assert.deepEqual(t.classify('10.0.0.11', 5010 * ms, 500 * ms), { kind: 'ok' });
    assert.deepEqual(t.classify('10.0.0.12', 5010 * ms, 500 * ms), { kind: 'ok' });
    assert.deepEqual(t.classify('10.0.0.12', 9000 * ms, 500 * ms), { kind: 'ok' });
    assert.deepEqual(t.classify(null, 500 * ms, 500 * ms), { kind: 'ok' });
  });

  it('measures a delivery to the previous owner after the acknowledgement as late, within the bound', () => {
    assert.deepEqual(history().classify('10.0.0.11', 5320 * ms, 500 * ms), {
      kind: 'late',
      lateUs: 300 * ms,
    });
  });

  it('calls a delivery to the previous owner beyond the bound wrong, with how late it was', () => {
    const v = history().classify('10.0.0.11', 6020 * ms, 500 * ms);
    assert.equal(v.kind, 'wrong');
    assert.equal(v.kind === 'wrong' && v.lateUs, 1000 * ms);
  });

  it('calls a delivery to a VM that never held the address, or held it only later, wrong', () => {
    const t = history();
    assert.equal(t.classify('10.0.0.13', 3000 * ms, 10_000 * ms).kind, 'wrong');
    // vm2 owns it only from 5000 ms: a packet sent at 3000 ms reaching vm2 reached the wrong VM.
    assert.equal(t.classify('10.0.0.12', 3000 * ms, 10_000 * ms).kind, 'wrong');
  });

  it('knows when a mapping has settled', () => {
    const t = history();
    assert.equal(t.settledAt(500 * ms, 200 * ms), null);
    assert.equal(t.settledAt(1100 * ms, 200 * ms), undefined, 'still settling');
    assert.equal(t.settledAt(1300 * ms, 200 * ms), '10.0.0.11');
    assert.equal(t.settledAt(5005 * ms, 200 * ms), undefined, 'change in progress');
    assert.equal(t.settledAt(6000 * ms, 200 * ms), '10.0.0.12');
  });

  it('refuses overlapping changes of one key', () => {
    const t = history();
    assert.throws(() => t.add({ startUs: 5010 * ms, ackUs: 5030 * ms, value: null, gen: 3 }), /overlapping/);
  });
});

describe('judging a run', () => {
  const timelines = new Map([['203.0.113.10', history()]]);
  // One packet every second from 0 to 9 s.
  const log = {
    keys: ['203.0.113.10'],
    roundUs: Array.from({ length: 10 }, (_, i) => i * 1000 * ms),
    sendErrors: 0,
  };
  const rec = (seq: number, at: string): TaggedRecord => [
    '203.0.113.10',
    0,
    seq,
    seq * 1000 * ms,
    at,
    '203.0.113.1',
  ];
  const options = { boundUs: 500 * ms, settleUs: 200 * ms };

  it('counts settled packets that never arrived as lost, and unowned ones that arrived nowhere as dropped', () => {
    // seq 0: unowned. seq 1 (1000 ms) and seq 5 (5000 ms): sent while a change was in progress, so not settled.
    const records = [2, 3, 4, 6, 7, 8].map((s) => rec(s, s < 5 ? '10.0.0.11' : '10.0.0.12'));
    const v = judge('inbound', timelines, [log], records, (r) => r[4], options);
    assert.equal(v.sent, 10);
    assert.equal(v.ok, 6);
    assert.equal(v.wrong, 0);
    assert.equal(v.unownedDropped, 1, 'seq 0, sent while the address forwarded nowhere');
    // Settled: 2, 3, 4 (vm1) and 6, 7, 8, 9 (vm2); 9 never arrived.
    assert.equal(v.settledSent, 7);
    assert.equal(v.settledLost, 1);
  });

  it('finds a leak to the previous owner and a delivery to a stranger, and counts a duplicate', () => {
    const records = [rec(2, '10.0.0.11'), rec(2, '10.0.0.11'), rec(7, '10.0.0.11'), rec(8, '10.0.0.13')];
    const v = judge('inbound', timelines, [log], records, (r) => r[4], options);
    assert.equal(v.duplicates, 1);
    assert.equal(v.wrong, 2);
    assert.equal(v.staleMaxMs, 1980, 'vm1 still received 1980 ms after the move was acknowledged');
    assert.deepEqual(
      v.wrongGroups.map((g) => [g.observed, g.count]),
      [
        ['10.0.0.11', 1],
        ['10.0.0.13', 1],
      ],
    );
  });
});
