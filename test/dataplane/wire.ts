/**
 * Wire correctness for the packets conntrack used to fix up silently: ICMP errors (path-MTU discovery,
 * traceroute, port unreachable), fragments, and the router's own address. Written once, run per backend
 * (`*.wire.test.ts`). Each case's outcome is written to docs/wire-matrix.md by the run itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Json } from '../../src/client/api-client.js';
import { run } from '../../src/exec/run.js';
import type { BackendName } from '../../src/model/index.js';
import { DataplaneFixture, TCP_PORT, UDP_PORT } from '../support/dataplane-fixture.js';
import { capture, macOf, sendCraftedUdp } from '../support/packets.js';
import { recordWireResults } from '../support/wire-matrix.js';
import { addFarHost, BOTTLENECK_MTU, FAR, farNamespace, MID, wireLab } from '../support/wire-topology.js';

export interface WireOptions {
  readonly backend: BackendName;
  readonly prefix: string;
  /** Cases this backend cannot pass, with the reason: they still run, and must fail (so the reason stays true). */
  readonly knownFailures?: Readonly<Record<string, string>>;
  /**
   * A variant of the backend: its name (the suite's title and its section of docs/wire-matrix.md) and router
   * attributes set through the API, e.g. { name: 'ebpf, fast path off', routerAttributes: { fast_path: false } }.
   */
  readonly variant?: { readonly name: string; readonly routerAttributes: Json };
  /** Agent resync interval; an emulated guest needs far more than the fixture's 400 ms (see tc.conformance). */
  readonly resyncIntervalMs?: number;
  readonly suiteTimeoutMs?: number;
  /**
   * Whether this run writes its section of docs/wire-matrix.md (default true). A guest run's copy of the project is
   * thrown away with the guest: the host writes that section from the guest's results (tc-guest.test.ts).
   */
  readonly recordMatrix?: boolean;
}

interface Digest {
  bytes: number;
  sha256: string;
}

const SINK_PORT = 5100;
const DIGEST_PORT = 5101;
const CLOSED_PORT = 9;
const TRANSFER = 4 * 1024 * 1024;

export function runWireConformance(options: WireOptions): void {
  const title = options.variant?.name ?? options.backend;
  describe(`wire correctness: ${title}`, { timeout: options.suiteTimeoutMs ?? 240_000 }, () => {
    const f = new DataplaneFixture(options.backend, wireLab(options.prefix), {
      afterBuild: addFarHost,
      ...(options.resyncIntervalMs !== undefined && { resyncIntervalMs: options.resyncIntervalMs }),
      ...(options.variant && { routerAttributes: options.variant.routerAttributes }),
    });
    const results = new Map<string, string>();
    let defined = 0;
    let fip1 = '';
    const vmNs = () => `${options.prefix}-r1-vm1`;

    /** A case: recorded in the matrix; a known failure must really fail, or the matrix would lie. */
    const wireCase = (name: string, body: () => Promise<void>) => {
      defined++;
      return it(name, async () => {
        const known = options.knownFailures?.[name];
        try {
          await body();
        } catch (error) {
          results.set(name, known ? `fails: ${known}` : `FAIL: ${(error as Error).message.split('\n')[0]}`);
          if (known) return;
          throw error;
        }
        results.set(name, 'pass');
        if (known)
          assert.fail(`"${name}" is listed as a known failure (${known}) but passed: update the list`);
      });
    };

    // A learned path MTU also lowers the MSS a host advertises, which would hide the next case's need for
    // discovery: every PMTUD case starts from empty route caches at both ends.
    const flushRouteCaches = async () => {
      for (const ns of [vmNs(), farNamespace(options.prefix)])
        await run('ip', ['route', 'flush', 'cache'], { netns: ns });
    };
    const routeMtu = async (ns: string, to: string) => {
      const out = (await run('ip', ['route', 'get', to], { netns: ns })).stdout;
      return Number(/mtu (\d+)/.exec(out)?.[1] ?? 0);
    };

    before(async () => {
      await f.start();
      const fip = (await f.createFloatingIp('r1', 'vm1')) as Json;
      fip1 = String(fip.floating_ip_address);
      await f.createFloatingIp('r1', 'vm2');
      await f.settle();
      for (const name of ['r1-vm1', 'far']) {
        await f.at(name).call({ op: 'sink', port: SINK_PORT });
        await f.at(name).call({ op: 'digestListen', port: DIGEST_PORT });
      }
    });
    after(async () => {
      await f.stop();
      // A partial run (--test-name-pattern) must not replace the backend's full row set with a subset.
      if (results.size === defined && options.recordMatrix !== false) recordWireResults(title, results);
    });

    wireCase('PMTUD: a VM sends through a smaller MTU beyond the router', async () => {
      await flushRouteCaches();
      const r = await f.at('r1-vm1').call<{ sent: Digest; received: Digest }>({
        op: 'blast',
        host: FAR,
        port: SINK_PORT,
        bytes: TRANSFER,
        timeoutMs: 15_000,
      });
      assert.deepEqual(r.received, r.sent, 'the transfer arrived whole');
      assert.equal(
        await routeMtu(vmNs(), FAR),
        BOTTLENECK_MTU,
        'the VM learned the path MTU from an error quoting its floating IP',
      );
    });

    wireCase(
      'PMTUD: an external host sends to a floating IP through a smaller MTU at the router',
      async () => {
        await flushRouteCaches();
        const r = await f.at('far').call<{ sent: Digest; received: Digest }>({
          op: 'blast',
          host: fip1,
          port: SINK_PORT,
          bytes: TRANSFER,
          timeoutMs: 15_000,
        });
        assert.deepEqual(r.received, r.sent);
        assert.equal(
          await routeMtu(farNamespace(options.prefix), fip1),
          BOTTLENECK_MTU,
          'the sender learned the MTU for the floating IP',
        );
      },
    );

    wireCase('traceroute from a VM: time-exceeded beyond the router reaches the VM', async () => {
      const out = (await run('traceroute', ['-n', '-q', '1', '-w', '1', '-m', '3', FAR], { netns: vmNs() }))
        .stdout;
      const hops = out
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/)[1]);
      assert.deepEqual(hops.slice(0, 3), ['10.0.0.1', MID, FAR], out);
    });

    wireCase(
      'traceroute to a floating IP: the router’s and the VM’s errors quote the floating address',
      async () => {
        const out = (
          await run('traceroute', ['-n', '-q', '1', '-w', '1', '-m', '4', fip1], {
            netns: farNamespace(options.prefix),
          })
        ).stdout;
        const hops = out
          .split('\n')
          .slice(1)
          .map((l) => l.trim().split(/\s+/)[1]);
        assert.equal(hops[0], '198.51.100.1', out);
        // The router's own time-exceeded comes from its gateway address; conntrack NAT (the stateful baseline)
        // also rewrites that error's outer source, so there the router hop shows as the floating address.
        // Either way it must answer: an error quoting the fixed address would leave a '*' here.
        assert.ok(hops[1] === '203.0.113.2' || hops[1] === fip1, out);
        assert.equal(hops[2], fip1, out);
      },
    );

    wireCase('port unreachable from outside reaches the VM’s UDP socket as ECONNREFUSED', async () => {
      const r = await f
        .at('r1-vm1')
        .call<{ error: string }>({ op: 'udpRefused', host: FAR, port: CLOSED_PORT });
      assert.equal(r.error, 'ECONNREFUSED');
    });

    wireCase('port unreachable from a VM reaches the external sender as ECONNREFUSED', async () => {
      const r = await f
        .at('far')
        .call<{ error: string }>({ op: 'udpRefused', host: fip1, port: CLOSED_PORT });
      assert.equal(r.error, 'ECONNREFUSED');
    });

    wireCase('fragmented UDP arrives reassembled and intact, both directions', async () => {
      const inbound = await f.at('far').call<{ sent: Digest; reply: Digest; from: string }>({
        op: 'udpBig',
        host: fip1,
        port: DIGEST_PORT,
        bytes: 6000,
      });
      assert.deepEqual(inbound.reply, inbound.sent);
      assert.equal(inbound.from, fip1);
      const outbound = await f.at('r1-vm1').call<{ sent: Digest; reply: Digest; from: string }>({
        op: 'udpBig',
        host: FAR,
        port: DIGEST_PORT,
        bytes: 6000,
      });
      assert.deepEqual(outbound.reply, outbound.sent);
      assert.equal(outbound.from, FAR);
    });

    const received = (probe: string, port: number, tag: string) =>
      f.at(probe).call<{ unique: number; peers: string[] }>({ op: 'received', port, tag });
    /** What arrived once `n` distinct packets did, or after 5 s: a receiver on a loaded machine may lag. */
    const receivedAll = async (probe: string, port: number, tag: string, n: number) => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const got = await received(probe, port, tag);
        if (got.unique >= n || Date.now() > deadline) return got;
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    wireCase(
      'packets from outside addressed straight to a fixed IP are dropped (and pass when disabled)',
      async () => {
        const send = (tag: string) =>
          f
            .at('r1-ext')
            .call({ op: 'udpStream', host: '10.0.0.11', port: UDP_PORT, tag, count: 5, intervalMs: 20 });
        await send('direct-on');
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(
          (await received('r1-vm1', UDP_PORT, 'direct-on')).unique,
          0,
          'delivered despite anti-spoofing',
        );
        const router = f.router('r1').routerId;
        await f.api.put(`/v2.0/routers/${router}`, { router: { anti_spoofing: false } });
        await f.settle();
        try {
          await send('direct-off');
          assert.equal(
            (await receivedAll('r1-vm1', UDP_PORT, 'direct-off', 5)).unique,
            5,
            'with anti-spoofing off it is routed',
          );
        } finally {
          await f.api.put(`/v2.0/routers/${router}`, { router: { anti_spoofing: true } });
          await f.settle();
        }
      },
    );

    wireCase('a VM forging another VM’s fixed IP is not translated into that VM’s floating IP', async () => {
      // vm2 claims vm1's fixed IP (on its loopback) and sends from it. arp_ignore and arp_announce keep it from
      // answering ARP for the address or using it in its own ARP requests: either would poison the router's
      // neighbour entry for 10.0.0.11, a different attack, and break the cases after this one.
      const vm2 = `${options.prefix}-r1-vm2`;
      await run('sysctl', ['-q', '-w', 'net.ipv4.conf.all.arp_ignore=1'], { netns: vm2 });
      await run('sysctl', ['-q', '-w', 'net.ipv4.conf.all.arp_announce=2'], { netns: vm2 });
      await run('ip', ['addr', 'add', '10.0.0.11/32', 'dev', 'lo'], { netns: vm2 });
      try {
        await f.at('r1-vm2').call({
          op: 'udpStream',
          host: FAR,
          port: UDP_PORT,
          tag: 'forged',
          count: 5,
          intervalMs: 20,
          bind: '10.0.0.11',
        });
        await f
          .at('r1-vm1')
          .call({ op: 'udpStream', host: FAR, port: UDP_PORT, tag: 'genuine', count: 5, intervalMs: 20 });
        // The genuine stream went after the forged one, the same way: once it has arrived, so would have the forged.
        const genuine = await receivedAll('far', UDP_PORT, 'genuine', 5);
        const forged = await received('far', UDP_PORT, 'forged');
        assert.deepEqual(
          forged,
          { ...forged, unique: 0 },
          `forged packets left as ${forged.peers.join(', ')}`,
        );
        assert.deepEqual(genuine, { count: 5, unique: 5, peers: [fip1] }, 'the real owner still gets out');
      } finally {
        await run('ip', ['addr', 'del', '10.0.0.11/32', 'dev', 'lo'], { netns: vm2 });
        await run('sysctl', ['-q', '-w', 'net.ipv4.conf.all.arp_ignore=0'], { netns: vm2 });
        await run('sysctl', ['-q', '-w', 'net.ipv4.conf.all.arp_announce=0'], { netns: vm2 });
      }
    });

    wireCase(
      'UDP checksums: zero stays zero, and a real checksum is still valid after translation',
      async () => {
        const farNs = farNamespace(options.prefix);
        const mid = `${options.prefix}-r1-ext`;
        const send = async (ns: string, dstMac: string, saddr: string, daddr: string, zero: boolean) =>
          sendCraftedUdp(ns, 'eth0', {
            dstMac,
            saddr,
            daddr,
            sport: 4000,
            dport: 5009,
            payload: zero ? 'zero' : 'real',
            zeroChecksum: zero,
          });
        // Inbound: far -> floating IP, seen by the VM on its fixed IP.
        const atVm = await capture(vmNs(), 'eth0', 'udp and dst port 5009', 2);
        const midMac = await macOf(mid, 'eth1');
        await send(farNs, midMac, FAR, fip1, true);
        await send(farNs, midMac, FAR, fip1, false);
        const inbound = await atVm.done;
        assert.match(inbound, /> 10\.0\.0\.11\.5009: \[no cksum\]/, inbound);
        assert.match(inbound, /> 10\.0\.0\.11\.5009: \[udp sum ok\]/, inbound);
        // Outbound: VM -> far, seen by far with the floating source.
        const atFar = await capture(farNs, 'eth0', 'udp and dst port 5009', 2);
        const routerMac = await macOf(`${options.prefix}-r1`, 'qr-r1');
        await send(vmNs(), routerMac, '10.0.0.11', FAR, true);
        await send(vmNs(), routerMac, '10.0.0.11', FAR, false);
        const outbound = await atFar.done;
        assert.match(
          outbound,
          new RegExp(`${fip1.replace(/\./g, '\\.')}\\.4000 > 198\\.51\\.100\\.2\\.5009: \\[no cksum\\]`),
          outbound,
        );
        assert.match(
          outbound,
          new RegExp(`${fip1.replace(/\./g, '\\.')}\\.4000 > 198\\.51\\.100\\.2\\.5009: \\[udp sum ok\\]`),
          outbound,
        );
      },
    );

    // The eBPF fast path forwards only to resolved neighbours; the stack must get the rest and resolve them.
    wireCase(
      'a datagram to a floating IP whose VM (and upstream) the router has not resolved yet arrives, and so does the answer',
      async () => {
        await f.inRouter('r1', 'ip', ['neigh', 'flush', 'all']);
        const r = await f.at('far').call<{ reply: { from?: string }; from: string }>({
          op: 'udp',
          host: fip1,
          port: UDP_PORT,
          msg: 'first',
        });
        assert.equal(r.from, fip1, 'the answer comes from the floating address');
      },
    );

    wireCase('traffic to the router’s own gateway address is left alone', async () => {
      const p = await f.at('far').call<{ received: number; transmitted: number; from: string[] }>({
        op: 'ping',
        host: '203.0.113.2',
        count: 2,
      });
      assert.equal(p.received, p.transmitted);
      assert.deepEqual(p.from, ['203.0.113.2']);
      const fromVm = await f
        .at('r1-vm1')
        .call<{ received: number; from: string[] }>({ op: 'ping', host: '203.0.113.2', count: 2 });
      assert.deepEqual(fromVm.from, ['203.0.113.2']);
      void TCP_PORT;
    });
  });
}
