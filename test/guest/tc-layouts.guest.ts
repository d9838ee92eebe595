/**
 * The tc backend's own cases, beyond the shared conformance suite: every egress layout and lookup, switching between
 * them, generation swaps when the hash tree changes shape, per-floating-IP counters, and removal. Runs inside the
 * act_nat guest only (test/dataplane/tc-guest.test.ts starts it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/exec/run.js';
import { TcDataplane } from '../../src/dataplane/tc/tc-backend.js';
import type { TcOptions } from '../../src/dataplane/tc/options.js';
import type { FloatingMapping } from '../../src/dataplane/types.js';
import { readFloatingAddresses } from '../../src/dataplane/common/gateway-addresses.js';
import type { Echo } from '../../src/lab/netprobe.js';
import { ipv4FromUint32 } from '../../src/model/ipv4.js';
import {
  conntrackEntries,
  desiredFor,
  entriesMentioning,
  flushConntrack,
  mapping,
  reconcile,
  removeRouter,
  startGuestLab,
  type GuestLab,
} from './guest-lab.js';

const EXT = '203.0.113.1';
const GATEWAY = '203.0.113.2';
const base = [mapping('203.0.113.11', '10.0.0.11'), mapping('203.0.113.12', '10.0.0.12')];

/** Extra floating IPs whose fixed addresses exist nowhere: they only make the trees bigger. */
function extra(n: number): FloatingMapping[] {
  return Array.from({ length: n }, (_, i) => ({
    floatingIp: ipv4FromUint32(0xc6336400 + 100 + i), // 198.51.100.100...
    fixedIp: ipv4FromUint32(0x0a010000 + i), // 10.1.0.0...
  }));
}

describe('tc backend layouts in an act_nat kernel', () => {
  let lab: GuestLab;
  const dataplane = (o: Partial<TcOptions>) => new TcDataplane(run, { probeNamespace: 'tql-probe', ...o });
  const tcp = (from: GuestLab['ext'], host: string) =>
    from.call<{ reply: Echo }>({ op: 'tcp', host, port: 7, msg: 'hi', timeoutMs: 5000 });
  const udp = (from: GuestLab['ext'], host: string) =>
    from.call<{ reply: Echo; from: string }>({ op: 'udp', host, port: 7, msg: 'hi', timeoutMs: 5000 });

  /** Inbound, outbound, hairpin and shared SNAT all behave, and floating-IP traffic left no conntrack entry. */
  async function assertTraffic(): Promise<void> {
    await flushConntrack(lab.routerNs);
    const inbound = await tcp(lab.ext, '203.0.113.11');
    assert.deepEqual(
      [inbound.reply.name, inbound.reply.peer, inbound.reply.local],
      ['vm1', EXT, '10.0.0.11'],
    );
    assert.equal((await udp(lab.vms.vm2, EXT)).reply.peer, '203.0.113.12');
    const hairpin = await udp(lab.vms.vm1, '203.0.113.12');
    assert.deepEqual(
      [hairpin.reply.name, hairpin.reply.peer, hairpin.from],
      ['vm2', '203.0.113.11', '203.0.113.12'],
    );
    assert.equal((await udp(lab.vms.vm3, EXT)).reply.peer, GATEWAY);
    const entries = await conntrackEntries(lab.routerNs);
    assert.ok(entriesMentioning(entries, ['10.0.0.13']).length >= 1, 'shared SNAT is active');
    assert.deepEqual(
      entriesMentioning(entries, ['203.0.113.11', '203.0.113.12', '10.0.0.11', '10.0.0.12']).map(
        (e) => e.line,
      ),
      [],
    );
  }

  before(async () => {
    lab = await startGuestLab('tql');
  });
  after(async () => {
    await lab?.close();
  });

  for (const [egress, lookup] of [
    ['clsact', 'hashed'],
    ['clsact', 'linear'],
    ['htb', 'hashed'],
    ['htb', 'linear'],
  ] as const) {
    it(`carries traffic statelessly with ${egress} egress and ${lookup} lookup, switching from the previous layout`, async () => {
      const dp = dataplane({ egress, lookup });
      const desired = desiredFor(lab.spec, base);
      await reconcile(dp, desired);
      const actual = await dp.read(desired, desired);
      assert.equal(actual.structureMatches, true);
      assert.equal(dp.plan(desired, actual).batch, null, 'a second reconcile changes nothing');
      await assertTraffic();
    });
  }

  it('swaps in a new generation when the hash tree changes shape, without a gap for existing floating IPs', async () => {
    // bucketLimit 1: the second address in a bucket already nests a table, so adding addresses reshapes the tree.
    const dp = dataplane({ egress: 'clsact', lookup: 'hashed', bucketLimit: 1 });
    const small = desiredFor(lab.spec, base);
    await reconcile(dp, small);
    const generation = async (d: typeof small) =>
      (await dp.read(d, d)).devices[0]!.trees.map((t) => `${t.kind}:${t.generation}`).join(' ');
    const before = await generation(small);
    await lab.ext.call({ op: 'listen', proto: 'udp', port: 6200 });
    const stream = lab.vms.vm1.call<{ sent: number }>({
      op: 'udpStream',
      host: EXT,
      port: 6200,
      tag: 'swap',
      count: 200,
      intervalMs: 10,
    });
    const big = desiredFor(lab.spec, [...base, ...extra(300)]);
    const plan = await reconcile(dp, big);
    assert.equal(plan.rebuild, false, 'no qdisc was rebuilt');
    assert.match(
      plan.batch ?? '',
      /filter replace dev qg-r1 .* handle 8[0-9a-f]{2}::/,
      'a root link was swapped',
    );
    assert.notEqual(await generation(big), before);
    assert.equal((await stream).sent, 200);
    await new Promise((r) => setTimeout(r, 300));
    const got = await lab.ext.call<{ unique: number; peers: string[] }>({
      op: 'received',
      port: 6200,
      tag: 'swap',
    });
    assert.equal(got.unique, 200, 'packets were lost during the swap');
    assert.deepEqual(got.peers, ['203.0.113.11']);
    assert.equal((await dp.read(big, big)).structureMatches, true);
    await assertTraffic();
    await reconcile(dp, small);
    assert.equal(await generation(small), before, 'shrinking swaps back');
  });

  it('counts packets per floating IP from the nat actions', async () => {
    const dp = dataplane({});
    const desired = desiredFor(lab.spec, base);
    await reconcile(dp, desired);
    const before = await dp.counters(desired);
    for (let i = 0; i < 3; i++) await udp(lab.ext, '203.0.113.11');
    const after = await dp.counters(desired);
    const one = (list: typeof after) => list.find((c) => c.floatingIp === '203.0.113.11')!;
    assert.ok(one(after).packetsIn >= one(before).packetsIn + 3);
    assert.ok(one(after).packetsOut >= one(before).packetsOut + 3);
    assert.ok(one(after).bytesIn > one(before).bytesIn);
  });

  it('removes everything it made, and nothing else', async () => {
    const dp = dataplane({});
    const desired = desiredFor(lab.spec, base);
    await reconcile(dp, desired);
    const inRouter = (file: string, args: string[]) => run(file, args, { netns: lab.routerNs });
    await inRouter('tc', ['qdisc', 'add', 'dev', 'qr-r1', 'root', 'handle', '1:', 'htb']);
    assert.deepEqual(await dp.owned(lab.routerNs), [desired.routerId]);
    await removeRouter(dp, desired);
    const actual = await dp.read(desired);
    assert.equal(actual.present, false);
    assert.equal((await readFloatingAddresses(desired)).size, 0);
    assert.deepEqual(await dp.owned(lab.routerNs), []);
    assert.doesNotMatch((await inRouter('iptables-save', [])).stdout, /SFIPTC|sfip-tc/);
    assert.equal((await inRouter('ipset', ['list', '-n'])).stdout.trim(), '');
    const qdiscs = (await inRouter('tc', ['qdisc', 'show'])).stdout;
    assert.doesNotMatch(qdiscs, /clsact|ingress/);
    assert.match(qdiscs, /qdisc htb 1: dev qr-r1 root/, "someone else's qdisc survived");
  });
});
