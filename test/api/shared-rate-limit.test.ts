import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grantedRateStore, grantSize, RateGrants, type AskGrant } from '../../src/api/shared-rate-limit.js';

/** What the plugin calls: incr(key, callback, window, max), as a promise. */
function incr(
  store: { incr: (...args: never[]) => void },
  key: string,
  windowMs: number,
  max: number,
): Promise<{ current: number; ttl: number }> {
  return new Promise((resolve, reject) =>
    (
      store.incr as (
        k: string,
        cb: (e: Error | null, r?: { current: number; ttl: number }) => void,
        w: number,
        m: number,
      ) => void
    )(key, (error, result) => (error ? reject(error) : resolve(result!)), windowMs, max),
  );
}

describe('rate limit shared by API workers', () => {
  it('never admits more than the limit in total over several workers, and refuses at most the unused grants early', async () => {
    const grants = new RateGrants();
    let asks = 0;
    // Each worker asks the primary asynchronously, as over IPC.
    const ask: AskGrant = async (key, max, windowMs, want) => {
      asks++;
      await new Promise((r) => setImmediate(r));
      return grants.grant(key, max, windowMs, want);
    };
    const WORKERS = 3;
    const MAX = 480;
    const workers = Array.from({ length: WORKERS }, () => {
      const Store = grantedRateStore(ask, WORKERS);
      return new Store({});
    });
    const results = await Promise.all(
      Array.from({ length: 3 * MAX }, (_, i) => incr(workers[i % WORKERS]!, 'token:a', 60_000, MAX)),
    );
    const admitted = results.filter((r) => r.current <= MAX).length;
    const chunk = grantSize(MAX, WORKERS);
    assert.equal(chunk, 10);
    assert.ok(admitted <= MAX, `admitted ${admitted}`);
    assert.ok(admitted >= MAX - (WORKERS - 1) * chunk, `admitted only ${admitted}`);
    // Far fewer asks than requests: grants are chunks, and a refused caller is refused locally.
    assert.ok(asks < MAX / 2, `${asks} asks`);
    // Another caller has its own window.
    assert.ok((await incr(workers[0]!, 'token:b', 60_000, MAX)).current <= MAX);
  });

  it('starts a new window when the old one ended', () => {
    let now = 1_000_000;
    const grants = new RateGrants(100, () => now);
    assert.deepEqual(grants.grant('k', 2, 1000, 5), { granted: 2, used: 2, resetAtMs: 1_001_000 });
    assert.equal(grants.grant('k', 2, 1000, 5).granted, 0);
    now += 1000;
    assert.deepEqual(grants.grant('k', 2, 1000, 1), { granted: 1, used: 1, resetAtMs: 1_002_000 });
  });

  it('passes an error of the primary to the plugin, which fails the request instead of admitting it unlimited', async () => {
    const Store = grantedRateStore(async () => Promise.reject(new Error('the primary process is gone')), 2);
    await assert.rejects(incr(new Store({}), 'token:a', 1000, 10), /primary process is gone/);
  });
});
