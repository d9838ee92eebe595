/**
 * Floating IPs churn through the API of a real `sfip serve` while tagged packets flow both ways through a real
 * router namespace; every packet is judged against the acknowledged ownership history (bench/churn). Runs once
 * per backend that can program this kernel, and once more for the stateful backend with its conntrack cleanup
 * turned off, which must show the OSSN-0020 leak: proof that this test can see one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runChurn, type ChurnOptions, type ChurnResult } from '../../bench/churn/run-churn.js';
import { availableBackends, STATEFUL_BACKENDS } from '../../bench/faults/backends.js';
import type { BackendName } from '../../src/model/index.js';

const { available, unavailable } = await availableBackends();
const base = 20000 + ((process.pid * 7) % 20000);

/** About 25 s per run in CI; `npm run bench -- --only churn` runs the same for minutes. */
function options(
  backend: BackendName,
  label: string,
  k: number,
  extra: Partial<ChurnOptions> = {},
): ChurnOptions {
  return {
    prefix: `tfch${process.pid % 1000}`,
    backend,
    label,
    serveArgs: [],
    durationS: 12,
    opsPerSecond: 4,
    concurrency: 2,
    vms: 3,
    portsPerVm: 2,
    poolSize: 10,
    packetIntervalMs: 20,
    boundMs: 3000,
    settleMs: 1000,
    port: base + k,
    seed: 42 + k,
    log: () => undefined,
    ...extra,
  };
}

function summary(r: ChurnResult): string {
  return JSON.stringify({
    inbound: { ...r.inbound, wrongGroups: r.inbound.wrongGroups.slice(0, 3) },
    outbound: { ...r.outbound, wrongGroups: r.outbound.wrongGroups.slice(0, 3) },
    convergence: r.convergence.slice(0, 5),
    failures: r.failures.slice(0, 5),
  });
}

/** What a run measured, printed with the test's result. */
function measured(r: ChurnResult): string {
  const d = (v: ChurnResult['inbound']) =>
    `${v.received} received, ${v.wrong} wrong, ${v.late} late (max ${v.lateMaxMs.toFixed(1)} ms), ` +
    `stale max ${v.staleMaxMs.toFixed(1)} ms, ${v.settledLost}/${v.settledSent} settled lost`;
  return (
    `${r.label}: ${r.opsTotal} changes; inbound ${d(r.inbound)}; outbound ${d(r.outbound)}; ` +
    `conntrack floating ${r.conntrackFloating}, shared ${r.conntrackShared}; ` +
    `RSS ${r.memory.firstQuarterMiB.toFixed(1)} -> ${r.memory.lastQuarterMiB.toFixed(1)} MiB ` +
    `(growth ${r.memory.growthMiB.toFixed(1)} MiB), heap growth ${r.heap.growthMiB.toFixed(1)} MiB`
  );
}

describe('churn with traffic', { timeout: 400_000 }, () => {
  for (const { name, reason } of unavailable) {
    it(`${name}: not available on this machine`, (t) => t.skip(reason));
  }
  available.forEach((backend, k) => {
    it(`${backend}: no packet reaches a VM that did not own the floating IP, nothing settled is lost`, async (t) => {
      const r = await runChurn(options(backend, backend, k));
      const detail = summary(r);
      t.diagnostic(measured(r));
      assert.deepEqual(r.failures, [], 'every API change was accepted');
      assert.ok(r.opsTotal >= 30, `only ${r.opsTotal} changes`);
      assert.ok(r.inbound.received > 1000 && r.outbound.received > 1000, detail);
      assert.equal(r.inbound.wrong, 0, `inbound wrong deliveries: ${detail}`);
      assert.equal(r.outbound.wrong, 0, `outbound wrong sources: ${detail}`);
      assert.ok(r.inbound.lateMaxMs <= 3000 && r.outbound.lateMaxMs <= 3000, 'in-flight window bounded');
      assert.equal(r.inbound.duplicates + r.outbound.duplicates, 0);
      assert.ok(r.inbound.settledSent > 500 && r.outbound.settledSent > 500, detail);
      assert.equal(r.inbound.settledLost, 0, `inbound loss on settled mappings: ${detail}`);
      assert.equal(r.outbound.settledLost, 0, `outbound loss on settled mappings: ${detail}`);
      assert.deepEqual(r.convergence, [], 'every status and kernel mapping agrees with the store');
      assert.ok(r.conntrackShared > 0, 'shared SNAT is tracked, so conntrack is hooked in the router');
      if (!STATEFUL_BACKENDS.has(backend))
        assert.equal(r.conntrackFloating, 0, 'no entry for floating-IP flows');
      // A short run only catches gross leaks (the benchmark reports the slope over minutes).
      assert.ok(r.memory.growthMiB < 32, `serve grew by ${r.memory.growthMiB.toFixed(1)} MiB`);
    });
  });
  const stateful = available.find((b) => STATEFUL_BACKENDS.has(b));
  it('the stateful backend without conntrack cleanup leaks to the previous owner, and the test sees it', async (t) => {
    if (!stateful) return t.skip('no stateful backend available');
    const r = await runChurn(
      options(stateful, `${stateful} without cleanup`, available.length, {
        serveArgs: ['--no-conntrack-cleanup'],
        durationS: 6,
      }),
    );
    t.diagnostic(measured(r));
    assert.ok(r.inbound.wrong > 0, `a move kept delivering to the old VM: ${summary(r)}`);
    assert.ok(r.inbound.staleMaxMs > 3000);
    assert.ok(
      r.inbound.wrongGroups.some((g) => g.reason.startsWith('held ')),
      'the wrong deliveries went to a previous owner',
    );
  });
});
