/**
 * A floating IP's QoS limits follow its router when the router fails over to another node (issue 19): two nodes,
 * a real etcd, the API and one `sfip agent` process per node (nftables), as in multinode-failover.test.ts. The
 * limits are read from each node's kernel (the router's QoS sets); the rates themselves are measured by the
 * single-node wire suite (test/dataplane/qos-wire.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Json } from '../../src/client/api-client.js';
import { tableName } from '../../src/dataplane/nftables/render.js';
import { run } from '../../src/exec/run.js';
import { analyzeStream, MultiNodeHarness, multiNodeNames } from '../../src/lab/index.js';

const prefix = `tq${process.pid % 1000}`;
const TTL = 3;
let h: MultiNodeHarness;

before(async () => {
  h = await MultiNodeHarness.start({ prefix, leaseTtlSeconds: TTL, routers: 1 });
});
after(async () => {
  await h?.close();
});

/** The elements one node's copy of the router holds for `address` in its QoS sets, one line per set. */
async function limitsOn(node: string, address: string): Promise<string[]> {
  const r = h.spec.routers[0]!;
  const netns = multiNodeNames.router(h.spec, node, r);
  const table = tableName(h.routers[0]!.routerId);
  const lines: string[] = [];
  for (const set of ['qos_in_bw', 'qos_in_pps', 'qos_out_bw', 'qos_out_pps']) {
    const { stdout, code } = await run('nft', ['list', 'set', 'ip', table, set], { netns, okExitCodes: [1] });
    if (code !== 0) continue; // no table (yet, or any more) on this node
    const element = new RegExp(`${address.replace(/\./g, '\\.')} limit rate over [^,}\\n]*`).exec(stdout);
    if (element) lines.push(`${set}: ${element[0].trim()}`);
  }
  return lines;
}

describe('QoS limits across a router failover', { timeout: 180_000 }, () => {
  let first = '';
  let second = '';
  let programmed: string[] = [];

  it('programs the limits on the node that carries the router', async () => {
    const fip = h.routers[0]!;
    first = (await h.nodeOf(fip.routerId))!;
    second = h.spec.nodes.find((n) => n !== first)!;
    const policy = (await h.api.post<{ policy: Json }>('/v2.0/qos/policies', { policy: { name: 'capped' } }))
      .policy;
    const id = String(policy.id);
    await h.api.post(`/v2.0/qos/policies/${id}/bandwidth_limit_rules`, {
      bandwidth_limit_rule: { max_kbps: 10_000, direction: 'ingress' },
    });
    await h.api.post(`/v2.0/qos/policies/${id}/packet_rate_limit_rules`, {
      packet_rate_limit_rule: { max_kpps: 2, direction: 'egress' },
    });
    await h.api.put(`/v2.0/floatingips/${fip.fipId}`, { floatingip: { qos_policy_id: id } });
    programmed = await h.waitFor(`${first} to program the limits`, async () => {
      const lines = await limitsOn(first, fip.floatingIp);
      return lines.length === 2 ? lines : undefined;
    });
    assert.deepEqual(
      programmed.map((l) => l.split(':')[0]),
      ['qos_in_bw', 'qos_out_pps'],
    );
    assert.deepEqual(await limitsOn(second, fip.floatingIp), [], `${second} does not carry the router`);
  });

  it('the other node programs the same limits when the agent carrying the router dies', async () => {
    const fip = h.routers[0]!;
    const [result] = await h.stream(TTL * 1000 + 4000, 10, async () => {
      await new Promise((r) => setTimeout(r, 500));
      await h.killAgent(first);
    });
    assert.equal(await h.nodeOf(fip.routerId), second);
    const moved = await h.waitFor(`${second} to program the limits`, async () => {
      const lines = await limitsOn(second, fip.floatingIp);
      return lines.length === 2 ? lines : undefined;
    });
    assert.deepEqual(moved, programmed, 'the same limits, as the kernel lists them');
    // And traffic to the floating IP reaches the new node (the limit is far above this 100 packets/s stream).
    assert.ok((analyzeStream(result!).byNode[second] ?? 0) > 0, JSON.stringify(analyzeStream(result!)));
  });
});
