/**
 * Routed failover (issue 20): two nodes with etcd, one router, BGP with BFD to an upstream BIRD. A hung agent
 * (SIGSTOP, its BIRD still running) stops being heard by the upstream before its lease can expire, so the
 * upstream never holds the old node's route beside the new owner's; so is a killed agent whose BIRD survives it
 * (graceful restart keeps BIRD running across agent restarts), and restarted without its lease it announces
 * nothing; a killed agent with its uplinks cut moves the route too, and traffic from the external host follows. Timings are for bench/, not asserted here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { analyzeStream, MultiNodeHarness, nodeRouterAddress } from '../../src/lab/index.js';

const prefix = `tf${process.pid % 1000}`;
let h: MultiNodeHarness;

before(async () => {
  h = await MultiNodeHarness.start({ prefix, routers: 1, leaseTtlSeconds: 3, routed: true, bfd: true });
  await h.speakBgpToUpstream();
});
after(async () => {
  await h?.close();
});

const fip = () => h.routers[0]!;
const hopOf = (node: string) => nodeRouterAddress(h.spec, node, h.spec.routers[0]!);
const owner = async () => (await h.nodeOf(fip().routerId))!;
const other = (node: string) => h.spec.nodes.find((n) => n !== node)!;

/**
 * Samples the upstream's paths to the floating IP until it holds exactly `[hop]`; returns the most paths seen at
 * once and the distinct next hops seen.
 */
async function watchUntil(hop: string, timeoutMs = 20_000): Promise<{ most: number; seen: Set<string> }> {
  const seen = new Set<string>();
  let most = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const paths = await h.upstream!.pathsTo(fip().floatingIp);
    most = Math.max(most, paths.length);
    for (const p of paths) seen.add(p);
    if (paths.length === 1 && paths[0] === hop) return { most, seen };
    if (Date.now() > deadline) throw new Error(`the upstream's paths stayed ${paths.join(', ') || 'none'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('routed failover with BFD', { timeout: 240_000 }, () => {
  it('the owner announces, once', async () => {
    const first = await owner();
    const { most } = await watchUntil(hopOf(first));
    assert.equal(most, 1);
  });

  it('a hung agent is silenced by its fence before its lease expires: never two announcing nodes', async () => {
    const old = await owner();
    h.signalAgent(old, 'SIGSTOP');
    try {
      const { most, seen } = await watchUntil(hopOf(other(old)));
      assert.equal(most, 1, "the upstream never held the old and the new owner's routes at once");
      assert.ok(seen.has(hopOf(other(old))));
      assert.equal(await owner(), other(old));
    } finally {
      h.signalAgent(old, 'SIGCONT');
    }
    // The old agent resumes without its lease: it must not announce again.
    const watch = Date.now() + 4000;
    while (Date.now() < watch) {
      assert.deepEqual(await h.upstream!.pathsTo(fip().floatingIp), [hopOf(other(old))]);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('a killed agent whose BIRD survives it is fenced: the route moves, never two; restarted, it stays silent', async () => {
    const old = await owner();
    await h.killAgent(old);
    const { most, seen } = await watchUntil(hopOf(other(old)));
    assert.equal(most, 1, "the upstream never held the old and the new owner's routes at once");
    assert.ok(seen.has(hopOf(other(old))));
    assert.equal(await owner(), other(old));
    // The restarted agent adopts the BIRD that kept running, under a new lease and owning nothing: its old
    // route must not come back when the fence lets the session up again.
    await h.startAgent(old);
    await h.waitFor(`${old}'s session to be Established again`, async () =>
      (await h.upstream!.sessions())[old]?.startsWith('Established') ? true : undefined,
    );
    const watch = Date.now() + 3000;
    while (Date.now() < watch) {
      assert.deepEqual(await h.upstream!.pathsTo(fip().floatingIp), [hopOf(other(old))]);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('a killed agent with its uplinks cut: the route moves, and traffic from the external host follows', async () => {
    const old = await owner();
    await h.failNode(old);
    try {
      await watchUntil(hopOf(other(old)));
      const [s] = (await h.stream(1000, 10)).map(analyzeStream);
      assert.equal(s!.lost, 0);
      assert.equal(s!.byNode[other(old)], 100);
    } finally {
      await h.restoreNode(old);
    }
  });
});
