/**
 * The periodic resync marks its routers one at a time, spread over half its interval, instead of all at once: a
 * round of 100 routers' kernel reads at once starved the floating IP changes applied meanwhile of CPU.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { RESYNC_SPREAD, ResyncPacer } from '../../src/agent/resync-pacer.js';

/** Mock time forward 1 ms at a time: a timer set while another fires must fire within the same advance. */
function advance(ms: number, each?: () => void): void {
  for (let t = 0; t < ms; t++) {
    each?.();
    mock.timers.tick(1);
  }
}

describe('resync pacer', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('marks every router once, evenly spaced over the spread of the interval', () => {
    const marked: [string, number][] = [];
    let now = 0;
    const pacer = new ResyncPacer((id) => marked.push([id, now]));
    pacer.round(['a', 'b', 'c', 'd'], 1000);
    // Step by step (1000 ms × RESYNC_SPREAD / 4 routers apart), never two at once.
    const step = (1000 * RESYNC_SPREAD) / 4;
    advance(1000, () => now++);
    assert.deepEqual(
      marked.map(([id]) => id),
      ['a', 'b', 'c', 'd'],
    );
    assert.deepEqual(
      marked.map(([, at]) => at),
      [0, step, 2 * step, 3 * step],
    );
  });

  it('cuts a round short when the next one starts, and marks nothing after stop', () => {
    const marked: string[] = [];
    const pacer = new ResyncPacer((id) => marked.push(id));
    pacer.round(['a', 'b', 'c', 'd'], 1000);
    advance(130); // a and b
    pacer.round(['a', 'b', 'c', 'd', 'e'], 1000);
    advance(1000);
    assert.deepEqual(marked, ['a', 'b', 'a', 'b', 'c', 'd', 'e']);
    pacer.round(['x', 'y'], 1000);
    pacer.stop();
    advance(1000);
    assert.deepEqual(marked.slice(7), ['x']);
  });

  it('marks nothing for a round without routers', () => {
    const marked: string[] = [];
    new ResyncPacer((id) => marked.push(id)).round([], 1000);
    advance(1000);
    assert.deepEqual(marked, []);
  });
});
