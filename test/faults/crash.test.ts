/**
 * Crash safety (bench/crash): `sfip serve` SIGKILLed while its agent applies changes, once per backend that can
 * program this kernel, and while clients write through its API. `npm run bench -- --only crash` runs the same
 * with at least 100 kills per backend.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runAgentKills } from '../../bench/crash/agent-kills.js';
import { runWriteKills } from '../../bench/crash/write-kills.js';
import { availableBackends } from '../../bench/faults/backends.js';

const { available, unavailable } = await availableBackends();
const base = 21000 + ((process.pid * 13) % 20000);

describe('crash safety', { timeout: 300_000 }, () => {
  for (const { name, reason } of unavailable) {
    it(`${name}: not available on this machine`, (t) => t.skip(reason));
  }
  available.forEach((backend, k) => {
    it(`${backend}: after every SIGKILL during applies the kernel converges to the store, and forwarding never stops`, async (t) => {
      const r = await runAgentKills({
        prefix: `tfk${process.pid % 1000}`,
        backend,
        iterations: 5,
        port: base + k,
        seed: 100 + k,
        log: () => undefined,
      });
      t.diagnostic(
        `${backend}: ${r.iterations} kills (${JSON.stringify(r.killPoints)}), ${r.acknowledged}/${r.writes} writes ` +
          `acknowledged, ${r.convergedAtReady} converged at ready (ready p50 ${r.readyP50Ms.toFixed(0)} ms, ` +
          `max ${r.readyMaxMs.toFixed(0)} ms); stable traffic ${r.stableInbound.ok}/${r.stableInbound.sent} in, ` +
          `${r.stableOutbound.ok}/${r.stableOutbound.sent} out`,
      );
      const failed = r.kills.filter((x) => x.problems.length > 0);
      assert.deepEqual(
        failed.map((x) => `#${x.iteration} (${x.point}): ${x.problems.slice(0, 3).join('; ')}`),
        [],
      );
      assert.equal(r.convergedAtReady, 5);
      assert.ok(r.acknowledged > 0, 'some changes were acknowledged before the kills');
      const duringApply = r.kills.filter((x) => x.mode === 'apply' && x.point !== 'no kernel tool running');
      assert.ok(duringApply.length > 0, `no kill landed during an apply: ${JSON.stringify(r.killPoints)}`);
      assert.deepEqual(r.selfCheck, { duplicateSeen: true, staleSeen: true }, 'the checks can fail');
      for (const v of [r.stableInbound, r.stableOutbound]) {
        assert.ok(v.sent > 500, `only ${v.sent} packets sent`);
        assert.equal(v.ok, v.sent, `stable floating IPs lost or misdelivered packets: ${JSON.stringify(v)}`);
        assert.equal(v.wrong + v.late + v.duplicates, 0);
      }
    });
  });
  it('every acknowledged API write survives a SIGKILL, the one in flight is all or nothing, the store stays consistent', async (t) => {
    const r = await runWriteKills({
      iterations: 3,
      writers: 6,
      port: base + 50,
      seed: 9,
      log: () => undefined,
    });
    t.diagnostic(`${r.acknowledged} writes acknowledged, ${r.inFlight} in flight at the kills`);
    assert.deepEqual(r.problems, []);
    assert.ok(r.acknowledged > 50, `only ${r.acknowledged} writes acknowledged`);
    assert.ok(r.inFlight > 0, 'a kill should catch writes in flight');
  });
});
