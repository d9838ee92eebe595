/**
 * Routed hot standby (issue 20, `--bgp-standby`): two nodes with etcd, one router, BGP with BFD to an upstream
 * BIRD. The node that does not own the router holds its translation (no floating address) and announces its
 * floating IP with a longer AS path: the upstream keeps both paths and uses the owner's. When the owner fails,
 * BFD drops its path and traffic from the external host flows through the standby before the lease even
 * expires; the standby then takes the router over and announces it as owner. A standby that is hung (its lease
 * fence closes) or cut off from etcd withdraws its standby path (the owner's never moves for a hung standby).
 * Bounds asserted are the safety ones (before the lease could expire); timings are for bench/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  analyzeStream,
  MultiNodeHarness,
  multiNodeNames,
  NODE_AS,
  nodeRouterAddress,
} from '../../src/lab/index.js';
import { run } from '../../src/exec/run.js';
import { readFloatingAddresses } from '../../src/dataplane/common/gateway-addresses.js';

const prefix = `ts${process.pid % 1000}`;
let h: MultiNodeHarness;

before(async () => {
  h = await MultiNodeHarness.start({
    prefix,
    routers: 1,
    leaseTtlSeconds: 3,
    routed: true,
    bfd: true,
    standby: true,
  });
  await h.speakBgpToUpstream();
});
after(async () => {
  await h?.close();
});

const fip = () => h.routers[0]!;
const hopOf = (node: string) => nodeRouterAddress(h.spec, node, h.spec.routers[0]!);
const owner = async () => (await h.nodeOf(fip().routerId))!;
const other = (node: string) => h.spec.nodes.find((n) => n !== node)!;
const OWNER_PATH = String(NODE_AS);
const STANDBY_PATH = Array(4).fill(NODE_AS).join(' ');

/** The upstream's paths as `hop path` strings, best first. */
async function paths(): Promise<string[]> {
  return (await h.upstream!.routesTo(fip().floatingIp)).map((r) => `${r.via} ${r.asPath}`);
}

async function pathsBecome(want: string[], timeoutMs = 20_000): Promise<void> {
  await h.waitFor(
    `the upstream's paths to be ${want.join(', ')}`,
    async () => ((await paths()).join() === want.join() ? true : undefined),
    timeoutMs,
  );
}

/**
 * Whether a node's copy of the router has the floating address (sfip's local route on the gateway device), and
 * whether its translation names the floating IP.
 */
async function copyOf(node: string): Promise<{ address: boolean; translation: boolean }> {
  const r = h.spec.routers[0]!;
  const netns = multiNodeNames.router(h.spec, node, r);
  const dev = multiNodeNames.gatewayDevice(r);
  const addresses = await readFloatingAddresses({
    routerId: fip().routerId,
    namespace: netns,
    gatewayDevice: dev,
  });
  const ruleset = (await run('nft', ['list', 'ruleset'], { netns })).stdout;
  return { address: addresses.has(fip().floatingIp), translation: ruleset.includes(fip().floatingIp) };
}

describe('routed hot standby with BFD', { timeout: 240_000 }, () => {
  it('the standby holds the translation without the address and announces a longer path; the owner is preferred', async () => {
    const first = await owner();
    await pathsBecome([`${hopOf(first)} ${OWNER_PATH}`, `${hopOf(other(first))} ${STANDBY_PATH}`]);
    assert.deepEqual(await copyOf(first), { address: true, translation: true });
    assert.deepEqual(await copyOf(other(first)), { address: false, translation: true });
    assert.equal((await h.upstream!.kernelRoutes())[fip().floatingIp], hopOf(first));
    // Nobody but the owner answers ARP for the floating IP.
    assert.deepEqual(await h.arpAnswerers(fip().floatingIp), [first]);
  });

  it('a hung standby withdraws its standby path; the owner path never moves', async () => {
    const first = await owner();
    const standby = other(first);
    h.signalAgent(standby, 'SIGSTOP');
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const now = await paths();
        assert.equal(now[0], `${hopOf(first)} ${OWNER_PATH}`, 'the owner path stays the best');
        if (now.length === 1) break;
        assert.ok(Date.now() < deadline, `the standby path stayed: ${now.join(', ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      h.signalAgent(standby, 'SIGCONT');
    }
    await pathsBecome([`${hopOf(first)} ${OWNER_PATH}`, `${hopOf(standby)} ${STANDBY_PATH}`]);
    assert.equal(await owner(), first);
  });

  it('etcd unreachable: the standby withdraws its path within the lease TTL, as the owner does; both return', async () => {
    const first = await owner();
    await pathsBecome([`${hopOf(first)} ${OWNER_PATH}`, `${hopOf(other(first))} ${STANDBY_PATH}`]);
    await h.etcd.halt();
    try {
      // Neither node can prove it holds its lease: its view of the store may be stale, so it announces nothing,
      // and that before the lease could expire (TTL 3 s after its last renewal, which came before the halt).
      await pathsBecome([], 3000);
    } finally {
      await h.etcd.launch();
    }
    // etcd keeps the leases across its restart: nothing moved, and both paths come back as they were.
    await pathsBecome([`${hopOf(first)} ${OWNER_PATH}`, `${hopOf(other(first))} ${STANDBY_PATH}`]);
    assert.equal(await owner(), first);
  });

  it('the owner fails: traffic flows through the standby before the lease expires, then it takes over as owner', async () => {
    const old = await owner();
    const standby = other(old);
    await h.failNode(old);
    try {
      // BFD drops the owner's path within ~300 ms; the lease (3 s) has not expired yet (checked below).
      await pathsBecome([`${hopOf(standby)} ${STANDBY_PATH}`]);
      const [s] = (await h.stream(500, 10)).map(analyzeStream);
      assert.equal(await owner(), old, 'the router was not rescheduled yet: the standby carried the traffic');
      assert.equal(s!.lost, 0);
      assert.equal(s!.byNode[standby], 50);
      // The lease expires, the standby is scheduled the router and announces it as its owner: the route is
      // replaced in place, so traffic streamed across the takeover loses nothing.
      const started = performance.now();
      let tookOverMs = Infinity;
      const [across] = (
        await h.stream(6000, 10, async () => {
          await pathsBecome([`${hopOf(standby)} ${OWNER_PATH}`]);
          tookOverMs = performance.now() - started;
        })
      ).map(analyzeStream);
      assert.ok(tookOverMs < 6000, `the takeover (${Math.round(tookOverMs)} ms) ended within the stream`);
      assert.equal(await owner(), standby);
      assert.equal(across!.lost, 0, 'nothing lost across the takeover');
      assert.equal(across!.byNode[standby], 600);
      await h.waitForActive();
      assert.deepEqual(await copyOf(standby), { address: true, translation: true });
    } finally {
      await h.restoreNode(old);
    }
    // The old owner comes back as the standby: its floating address goes, its path is the longer one.
    await pathsBecome([`${hopOf(standby)} ${OWNER_PATH}`, `${hopOf(old)} ${STANDBY_PATH}`]);
    assert.deepEqual(await copyOf(old), { address: false, translation: true });
  });
});
