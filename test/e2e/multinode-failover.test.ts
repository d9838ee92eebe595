/**
 * Two network nodes on one machine, one real etcd server, the API and one `sfip agent` process per node, real
 * namespaces and UDP traffic from the shared external segment to a floating IP on each node. Then: an etcd
 * restart under traffic, a SIGKILLed agent, the returning agent cleaning up, and a whole node failing.
 * Timings are measured by bench/failover.ts, not asserted here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/exec/run.js';
import { analyzeStream, MultiNodeHarness, multiNodeNames } from '../../src/lab/index.js';

const prefix = `te${process.pid % 1000}`;
const TTL = 3;
let h: MultiNodeHarness;
const problems: string[] = [];

before(async () => {
  h = await MultiNodeHarness.start({
    prefix,
    leaseTtlSeconds: TTL,
    onLog: (source, line) => {
      if (/"level":(50|60)/.test(line)) problems.push(`${source}: ${line.slice(0, 400)}`);
    },
  });
});
after(async () => {
  await h?.close();
});

const [r1, r2] = [0, 1];

/** sfip's kernel state in one node's copy of a router: its nft tables and floating routes. */
async function sfipStateIn(
  node: string,
  routerIndex: number,
): Promise<{ tables: string[]; floatingRoutes: string }> {
  const netns = multiNodeNames.router(h.spec, node, h.spec.routers[routerIndex]!);
  const tables = (await run('nft', ['list', 'tables'], { netns })).stdout
    .split('\n')
    .filter((l) => l.includes('sfip_'));
  const floatingRoutes = (await run('ip', ['route', 'show', 'table', 'local', 'proto', '249'], { netns }))
    .stdout;
  return { tables, floatingRoutes };
}

describe('multi-node failover', { timeout: 240_000 }, () => {
  it('places one router on each node, and traffic to each floating IP reaches that node', async () => {
    assert.deepEqual(
      h.routers.map((r) => r.node),
      ['n1', 'n2'],
    );
    assert.deepEqual(await h.l3AgentHosts(h.routers[r1]!.routerId), ['n1']);
    const [s1, s2] = (await h.stream(1500, 10)).map(analyzeStream);
    assert.deepEqual([s1!.lost, s1!.byNode.n1 ?? 0, s1!.byNode.n2 ?? 0], [0, 150, 0]);
    assert.deepEqual([s2!.lost, s2!.byNode.n1 ?? 0, s2!.byNode.n2 ?? 0], [0, 0, 150]);
    assert.deepEqual(await h.arpAnswerers(h.routers[r1]!.floatingIp), ['n1']);
    assert.deepEqual(await h.arpAnswerers(h.routers[r2]!.floatingIp), ['n2']);
  });

  it('keeps forwarding while etcd restarts, and follows changes made after it', async () => {
    const results = await h.stream(4000, 10, async () => {
      await new Promise((r) => setTimeout(r, 1000));
      await h.etcd.restart(500);
    });
    for (const result of results) {
      const a = analyzeStream(result);
      assert.equal(a.lost, 0, `no packet to ${result.floatingIp} was lost while etcd restarted`);
    }
    // The agents caught up: a floating IP disassociated and associated again through the API comes back ACTIVE.
    const fip = h.routers[r2]!;
    await h.api.put(`/v2.0/floatingips/${fip.fipId}`, { floatingip: { port_id: null } });
    await h.waitFor('n2 to stop announcing the disassociated address', async () =>
      (await sfipStateIn('n2', r2)).floatingRoutes.includes(fip.floatingIp) ? undefined : true,
    );
    await h.api.put(`/v2.0/floatingips/${fip.fipId}`, { floatingip: { port_id: fip.portId } });
    await h.waitForActive();
    const [, s2] = (await h.stream(1000, 10)).map(analyzeStream);
    assert.equal(s2!.lost, 0);
  });

  it("moves a SIGKILLed agent's router to the other node; the old node stops answering ARP for it", async () => {
    const results = await h.stream(TTL * 1000 + 4000, 10, async () => {
      await new Promise((r) => setTimeout(r, 500));
      await h.killAgent('n1');
    });
    assert.equal(await h.nodeOf(h.routers[r1]!.routerId), 'n2');
    assert.deepEqual(await h.l3AgentHosts(h.routers[r1]!.routerId), ['n2']);
    const s1 = analyzeStream(results[r1]!);
    assert.ok(
      (s1.byNode.n2 ?? 0) > 0,
      `traffic to ${results[r1]!.floatingIp} now reaches n2 (${JSON.stringify(s1)})`,
    );
    const tail = results[r1]!.received.get('n2')!;
    assert.ok(tail.includes(results[r1]!.sent - 1), 'the end of the stream arrived at n2');
    // n1's kernel still holds its copy (nothing cleaned it), but its fence has closed: only n2 answers.
    assert.ok((await sfipStateIn('n1', r1)).tables.length > 0, "n1's killed agent left its state behind");
    assert.deepEqual(await h.arpAnswerers(h.routers[r1]!.floatingIp), ['n2']);
    const s2 = analyzeStream(results[r2]!);
    assert.equal(s2.lost, 0, "the other node's router was not disturbed");
  });

  it('a returning agent removes the state of the router it no longer carries', async () => {
    await h.startAgent('n1');
    await h.waitFor('n1 to remove its copy of r1', async () => {
      const state = await sfipStateIn('n1', r1);
      return state.tables.length === 0 && state.floatingRoutes === '' ? true : undefined;
    });
    assert.equal(await h.nodeOf(h.routers[r1]!.routerId), 'n2', 'it does not pull the router back');
    assert.deepEqual(await h.arpAnswerers(h.routers[r1]!.floatingIp), ['n2']);
  });

  it('brings traffic back on the surviving node when a whole node fails', async () => {
    const results = await h.stream(TTL * 1000 + 5000, 10, async () => {
      await new Promise((r) => setTimeout(r, 500));
      await h.failNode('n2');
    });
    for (const [i, result] of results.entries()) {
      const a = analyzeStream(result);
      assert.equal(await h.nodeOf(h.routers[i]!.routerId), 'n1');
      assert.ok(a.lost > 0, 'the failed node took packets with it (the outage is real)');
      assert.ok(
        result.received.get('n1')!.includes(result.sent - 1),
        `traffic to ${result.floatingIp} resumed on n1`,
      );
      assert.ok(a.outageMs < 20_000, `bounded outage (${a.outageMs} ms)`);
    }
    await h.waitForActive();
    assert.deepEqual(problems, [], 'no process logged an error');
  });
});
