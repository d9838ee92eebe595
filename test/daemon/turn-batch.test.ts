import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { turnBatcher } from '../../src/daemon/turn-batch.js';

describe('turnBatcher', () => {
  it('sends the items of one turn of the event loop together, in order, and the next turn apart', async () => {
    const sent: number[][] = [];
    const give = turnBatcher(async (items: number[]) => {
      sent.push([...items]);
    });
    const first = [give(1), give(2), give(3)];
    await Promise.all(first);
    await give(4);
    assert.deepEqual(sent, [[1, 2, 3], [4]]);
  });

  it('settles each caller only once its batch has been handled', async () => {
    let release: () => void = () => undefined;
    const give = turnBatcher((_items: string[]) => new Promise<void>((resolve) => (release = resolve)));
    let settled = false;
    const pending = give('a').then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(settled, false, 'settled before the batch was handled');
    release();
    await pending;
    assert.equal(settled, true);
  });

  it('rejects every caller of a batch whose send fails, and later batches still go', async () => {
    let fail = true;
    const sent: string[][] = [];
    const give = turnBatcher(async (items: string[]) => {
      if (fail) throw new Error('primary gone');
      sent.push([...items]);
    });
    const results = await Promise.allSettled([give('a'), give('b')]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    fail = false;
    await give('c');
    assert.deepEqual(sent, [['c']]);
  });
});
