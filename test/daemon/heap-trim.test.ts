import { strict as assert } from 'node:assert';
import v8 from 'node:v8';
import { test } from 'node:test';
import pino from 'pino';
import {
  DEFAULT_HEAP_TRIM_POLICY,
  compactingGc,
  exposedGc,
  HeapTrimmer,
  shouldTrimHeap,
} from '../../src/daemon/heap-trim.js';

const MiB = 2 ** 20;
const idleAfterBurst = {
  heapTotalBytes: 800 * MiB,
  keptBytes: 145 * MiB,
  utilization: 0.05,
  sinceLastMs: 60_000,
};

test('a heap far larger than what the last collection kept is trimmed when the loop is idle', () => {
  assert.equal(shouldTrimHeap(idleAfterBurst), true);
  // Busy: the pause of a full collection would be felt by API requests and deltas.
  assert.equal(shouldTrimHeap({ ...idleAfterBurst, utilization: 0.9 }), false);
  // Too soon after the last one: sustained churn is left to V8's own collector.
  assert.equal(shouldTrimHeap({ ...idleAfterBurst, sinceLastMs: 1000 }), false);
  // Within a quarter more than what was kept plus the slack: nothing worth a pause.
  assert.equal(shouldTrimHeap({ ...idleAfterBurst, heapTotalBytes: 1.25 * 145 * MiB + 31 * MiB }), false);
  assert.equal(shouldTrimHeap({ ...idleAfterBurst, heapTotalBytes: 1.25 * 145 * MiB + 33 * MiB }), true);
  // Before any collection of its own, only the slack bounds the heap.
  assert.equal(shouldTrimHeap({ ...idleAfterBurst, keptBytes: 0, heapTotalBytes: 30 * MiB }), false);
  assert.equal(shouldTrimHeap({ ...idleAfterBurst, keptBytes: 0, heapTotalBytes: 34 * MiB }), true);
  assert.equal(DEFAULT_HEAP_TRIM_POLICY.growthFactor, 1.25);
});

/**
 * A trimmer over a fake heap of 800 MiB with 700 MiB in use, whose collection leaves `afterTotal` and `afterUsed`;
 * `set` changes the heap between checks.
 */
function fakeHeap(afterTotal: number, afterUsed: number) {
  const heap = { total: 800 * MiB, used: 700 * MiB, collections: 0 };
  const trimmer = new HeapTrimmer({
    log: pino({ level: 'silent' }),
    heap: () => ({ totalBytes: heap.total, usedBytes: heap.used }),
    utilization: () => 0.1,
    policy: { ...DEFAULT_HEAP_TRIM_POLICY, minIntervalMs: 0 },
  });
  const collect = () => {
    heap.collections++;
    heap.total = afterTotal;
    heap.used = afterUsed;
  };
  return { heap, trimmer, check: () => trimmer.check(collect) };
}

test('the trimmer collects once after a burst, then waits for the heap to grow again', () => {
  const { heap, trimmer, check } = fakeHeap(180 * MiB, 145 * MiB);
  check();
  assert.equal(heap.collections, 1);
  // Kept 145 MiB: the heap may now grow to 1.25 × 145 + 32 MiB (213 MiB) before the next trim.
  heap.total = 210 * MiB;
  check();
  assert.equal(heap.collections, 1);
  heap.total = 216 * MiB;
  check();
  assert.equal(heap.collections, 2);
  assert.equal(trimmer.trims, 2);
});

test('a collection made during a burst does not hold the bar high once less is in use', () => {
  const { heap, check } = fakeHeap(360 * MiB, 300 * MiB);
  check();
  assert.equal(heap.collections, 1, 'trimmed in the middle of the burst, keeping 300 MiB');
  // The burst is over: 135 MiB in use of a 324 MiB heap, below 1.25 × 300 + 32 MiB but far above 1.25 × 135 + 32.
  heap.total = 324 * MiB;
  heap.used = 135 * MiB;
  check();
  assert.equal(heap.collections, 2);
});

test('a collection that leaves the heap above the bar is followed by one more at the next check', () => {
  const heap = { total: 800 * MiB, used: 700 * MiB, collections: 0 };
  const trimmer = new HeapTrimmer({
    log: pino({ level: 'silent' }),
    heap: () => ({ totalBytes: heap.total, usedBytes: heap.used }),
    utilization: () => 0.1,
  });
  // Each collection keeps 117 MiB but leaves the heap at 292 MiB, above 1.25 × 117 + 32 MiB.
  const collect = () => {
    heap.collections++;
    heap.total = 292 * MiB;
    heap.used = 117 * MiB;
  };
  trimmer.check(collect);
  trimmer.check(collect);
  assert.equal(heap.collections, 2, 'the second check, within the 10 s interval, collected again');
  trimmer.check(collect);
  assert.equal(heap.collections, 2, 'only once: then the interval applies');
});

test('a heap no collection could shrink below the bar is not collected again until it grows by the slack', () => {
  // 180 MiB with 117 MiB kept, after a collection and its follow-up: above 1.25 × 117 + 32 MiB (178 MiB).
  const { heap, check } = fakeHeap(180 * MiB, 117 * MiB);
  check();
  check();
  assert.equal(heap.collections, 2, 'a collection and its follow-up');
  heap.total = 200 * MiB;
  check();
  assert.equal(heap.collections, 2, 'grown by less than the slack beyond 180 MiB');
  heap.total = 213 * MiB;
  check();
  assert.equal(heap.collections, 3);
  assert.equal(
    shouldTrimHeap({
      ...idleAfterBurst,
      heapTotalBytes: 200 * MiB,
      keptBytes: 117 * MiB,
      leftBytes: 180 * MiB,
    }),
    false,
  );
});

test("V8's full collection is reachable without --expose-gc and frees garbage", async () => {
  const gc = exposedGc();
  assert.ok(gc, 'gc could not be exposed');
  // Made in a function of its own: nothing in this test's scope holds the array afterwards.
  const ref = (() => new WeakRef(Array.from({ length: 200_000 }, (_, i) => ({ i, s: `item-${i}` }))))();
  // A WeakRef keeps its target alive until the current job ends.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(ref.deref(), undefined);
});

test('the trimming collection compacts: live objects spread over garbage no longer hold their pages', async () => {
  const compact = compactingGc();
  const gc = exposedGc();
  assert.ok(compact && gc, 'gc could not be exposed');
  const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!;
  // Objects that survive long enough to reach the old space, one of every eight kept: each page keeps a few.
  const kept: object[] = [];
  const batch: object[] = [];
  for (let i = 0; i < 400_000; i++) {
    const doc = { id: `doc-${i}`, body: `{"n":${i},"pad":"${'x'.repeat(40)}"}` };
    if (i % 8 === 0) kept.push(doc);
    else batch.push(doc);
    // Each batch lives through scavenges (promoted), then dies.
    if (batch.length === 100_000) {
      gc();
      batch.length = 0;
    }
  }
  batch.length = 0;
  gc();
  const plain = oldSpace();
  compact();
  const compacted = oldSpace();
  // A plain collection left the pages; the compacting one moves the survivors together and frees the rest.
  assert.ok(
    compacted.space_size < plain.space_size * 0.8,
    `old space ${plain.space_size} bytes after a plain collection, ${compacted.space_size} after compacting`,
  );
  assert.equal(kept.length, 50_000);
});

test('a young generation left large by a trim is collected once more, once the loop has been quiet', () => {
  const heap = { total: 300 * MiB, used: 250 * MiB, young: 32 * MiB, collections: 0 };
  let now = 0;
  let utilization = 0.1;
  const trimmer = new HeapTrimmer({
    log: pino({ level: 'silent' }),
    heap: () => ({ totalBytes: heap.total, usedBytes: heap.used }),
    youngBytes: () => heap.young,
    utilization: () => utilization,
    now: () => now,
  });
  // V8 shrinks the young generation only when its allocation rate was low: not in the first collection.
  const collect = () => {
    heap.collections++;
    if (heap.collections > 1) heap.young = 1 * MiB;
    heap.total = 97 * MiB + heap.young;
    heap.used = 97 * MiB;
  };
  trimmer.check(collect);
  assert.equal(heap.collections, 1);
  now = 5000;
  trimmer.check(collect);
  assert.equal(heap.collections, 1, 'collected again before the settle time');
  now = 5600;
  utilization = 0.5;
  trimmer.check(collect);
  assert.equal(heap.collections, 1, 'collected again while the loop was busy');
  now = 8000;
  utilization = 0.1;
  trimmer.check(collect);
  assert.equal(heap.collections, 2);
  assert.equal(heap.total, 98 * MiB);
  // Once per trim: nothing more until the heap grows past the bar again.
  now = 60_000;
  trimmer.check(collect);
  assert.equal(heap.collections, 2);
});

test('a trim that leaves the young generation small is not followed by another collection', () => {
  const heap = { total: 300 * MiB, used: 250 * MiB, collections: 0 };
  let now = 0;
  const trimmer = new HeapTrimmer({
    log: pino({ level: 'silent' }),
    heap: () => ({ totalBytes: heap.total, usedBytes: heap.used }),
    youngBytes: () => 2 * MiB,
    utilization: () => 0,
    now: () => now,
  });
  const collect = () => {
    heap.collections++;
    heap.total = 99 * MiB;
    heap.used = 97 * MiB;
  };
  trimmer.check(collect);
  now = 9000;
  trimmer.check(collect);
  assert.equal(heap.collections, 1);
});

test('a trim on a busy loop does not compact; the quiet follow-up does', () => {
  const heap = { total: 300 * MiB, used: 250 * MiB };
  const compacts: boolean[] = [];
  let now = 0;
  let utilization = 0.5;
  const trimmer = new HeapTrimmer({
    log: pino({ level: 'silent' }),
    heap: () => ({ totalBytes: heap.total, usedBytes: heap.used }),
    youngBytes: () => 2 * MiB,
    utilization: () => utilization,
    now: () => now,
  });
  const collect = (compact: boolean) => {
    compacts.push(compact);
    heap.total = 130 * MiB;
    heap.used = 97 * MiB;
  };
  // Compacting pauses the loop several times longer: a loop half busy (churn, API traffic) gets a plain collection.
  trimmer.check(collect);
  assert.deepEqual(compacts, [false]);
  now = 6000;
  utilization = 0.1;
  trimmer.check(collect);
  assert.deepEqual(compacts, [false, true], 'the quiet follow-up compacts what the busy trim left');
  // A trim on a quiet loop compacts at once, and with a small young generation needs no follow-up.
  heap.total = 400 * MiB;
  now = 30_000;
  trimmer.check(collect);
  now = 40_000;
  heap.total = 130 * MiB;
  trimmer.check(collect);
  assert.deepEqual(compacts, [false, true, true]);
});
