/**
 * Port forwarding on the wire (issue 18), written once and run per backend that programs forwardings
 * (`*.pf-wire.test.ts`). Real packets through the wire lab: far host -- mid -- router -- vm1, vm2.
 *
 *   fip1   1:1 to vm1 (10.0.0.11), so vm1's other traffic has its own floating IP
 *   fipPf  port forwardings only:
 *            tcp 2222        -> vm2:5000   (single port)
 *            udp 2001        -> vm2:5001
 *            udp 7100-7102   -> vm1:7000-7002  (N:N)
 *            udp 7200-7204   -> vm2:5001       (N:1)
 *            udp 5101        -> vm2:5101   (fragments)
 *   vm2 has no floating IP: its other traffic leaves through shared SNAT (so conntrack is active on the router).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Json } from '../../src/client/api-client.js';
import type { BackendName } from '../../src/model/index.js';
import { DataplaneFixture, TCP_PORT, UDP_PORT } from '../support/dataplane-fixture.js';
import { conntrackLines, mentioning } from '../support/conntrack.js';
import { capture } from '../support/packets.js';
import { recordWireResults } from '../support/wire-matrix.js';
import { addFarHost, BOTTLENECK_MTU, FAR, farNamespace, wireLab } from '../support/wire-topology.js';
import { run } from '../../src/exec/run.js';

export interface PfWireOptions {
  readonly backend: BackendName;
  readonly prefix: string;
  /** Cases this backend cannot pass, with the reason: they still run, and must fail. */
  readonly knownFailures?: Readonly<Record<string, string>>;
  /**
   * The stateful baseline: after a forwarding is removed, an established connection keeps flowing through its
   * conntrack entry (sfip cleans conntrack only for 1:1 mappings), while new connections are refused. The
   * removal case asserts exactly that leak instead of the stateless "stops at once".
   */
  readonly stateful?: boolean;
  /** A variant of the backend: its name (title and matrix section) and router attributes set through the API. */
  readonly variant?: { readonly name: string; readonly routerAttributes: Json };
}

interface Echo {
  peer: string;
  local: string;
}

const VM1 = '10.0.0.11';
const VM2 = '10.0.0.12';
const DIGEST_PORT = 5101;
const SINK_PORT = 5100;
const CLOSED_PORT = 9;

export function runPortForwardingWire(options: PfWireOptions): void {
  const title = options.variant?.name ?? options.backend;
  describe(`port forwarding on the wire: ${title}`, { timeout: 240_000 }, () => {
    const f = new DataplaneFixture(options.backend, wireLab(options.prefix), {
      afterBuild: addFarHost,
      ...(options.variant && { routerAttributes: options.variant.routerAttributes }),
    });
    let fip1 = '';
    let fipPf = '';
    let fipPfId = '';
    const forwardings = new Map<string, string>();

    const results = new Map<string, string>();
    let defined = 0;
    /** A case: recorded in docs/wire-matrix.md; a known failure must really fail, or the matrix would lie. */
    const pfCase = (name: string, body: () => Promise<void>) => {
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

    const forward = async (key: string, body: Json) => {
      const reply = await f.api.post<{ port_forwarding: Json }>(
        `/v2.0/floatingips/${fipPfId}/port_forwardings`,
        {
          port_forwarding: body,
        },
      );
      forwardings.set(key, String(reply.port_forwarding.id));
    };
    const port = (vm: 'vm1' | 'vm2') => f.router('r1').ports[vm]!;

    before(async () => {
      await f.start();
      fip1 = String(((await f.createFloatingIp('r1', 'vm1')) as Json).floating_ip_address);
      const pf = (
        await f.api.post<{ floatingip: Json }>('/v2.0/floatingips', {
          floatingip: { floating_network_id: f.router('r1').externalNetworkId },
        })
      ).floatingip;
      fipPf = String(pf.floating_ip_address);
      fipPfId = String(pf.id);
      const to = (vm: 'vm1' | 'vm2', ip: string) => ({ internal_port_id: port(vm), internal_ip_address: ip });
      await forward('ssh', {
        ...to('vm2', VM2),
        protocol: 'tcp',
        internal_port: TCP_PORT,
        external_port: 2222,
      });
      await forward('udp', {
        ...to('vm2', VM2),
        protocol: 'udp',
        internal_port: UDP_PORT,
        external_port: 2001,
      });
      await forward('nn', {
        ...to('vm1', VM1),
        protocol: 'udp',
        internal_port_range: '7000:7002',
        external_port_range: '7100:7102',
      });
      await forward('n1', {
        ...to('vm2', VM2),
        protocol: 'udp',
        internal_port: UDP_PORT + 1000,
        external_port_range: '7200:7204',
      });
      await forward('new-flow', {
        ...to('vm1', VM1),
        protocol: 'udp',
        internal_port: 7600,
        external_port: 2100,
      });
      await forward('closed', {
        ...to('vm2', VM2),
        protocol: 'udp',
        internal_port: CLOSED_PORT,
        external_port: 2009,
      });
      await forward('sink', {
        ...to('vm2', VM2),
        protocol: 'tcp',
        internal_port: SINK_PORT,
        external_port: SINK_PORT,
      });
      await forward('frag', {
        ...to('vm2', VM2),
        protocol: 'udp',
        internal_port: DIGEST_PORT,
        external_port: DIGEST_PORT,
      });
      await f.settle();
      for (const p of [7000, 7001, 7002]) await f.at('r1-vm1').call({ op: 'listen', proto: 'udp', port: p });
      await f.at('r1-vm2').call({ op: 'listen', proto: 'udp', port: UDP_PORT + 1000 });
      await f.at('r1-vm2').call({ op: 'digestListen', port: DIGEST_PORT });
      await f.at('r1-vm2').call({ op: 'sink', port: SINK_PORT });
      await f.at('far').call({ op: 'listen', proto: 'udp', port: 6001 });
    });
    after(async () => {
      await f.stop();
      // A partial run (--test-name-pattern) must not replace the full row set with a subset.
      if (results.size === defined) recordWireResults(`${title} port forwarding`, results);
    });

    const udp = (from: string, host: string, p: number, msg: string) =>
      f.at(from).call<{ reply: Echo; from: string }>({ op: 'udp', host, port: p, msg });
    /** tcpdump on the far host: the packets between it and the router, as the outside sees them. */
    const atFar = (filter: string, count: number) =>
      capture(farNamespace(options.prefix), 'eth0', filter, count);
    const esc = (ip: string) => ip.replace(/\./g, '\\.');

    pfCase('the floating IP with forwardings is ACTIVE', async () => {
      const fip = (await f.api.get<{ floatingip: Json }>(`/v2.0/floatingips/${fipPfId}`)).floatingip;
      assert.equal(fip.status, 'ACTIVE', String(fip.status_reason));
    });

    pfCase('TCP through a forwarded port: the VM sees the client, the client sees FIP:external', async () => {
      const seen = await atFar(`tcp and host ${fipPf}`, 2);
      const r = await f.at('far').call<{ reply: Echo }>({ op: 'tcp', host: fipPf, port: 2222, msg: 'hi' });
      assert.equal(r.reply.peer, FAR);
      assert.equal(r.reply.local, VM2);
      // The connection worked, so replies came from fipPf:2222; the capture shows it too.
      assert.match(await seen.done, new RegExp(`${esc(fipPf)}\\.2222 > ${esc(FAR)}\\.\\d+`));
    });

    pfCase(
      'UDP both ways: a reply and a new flow from the forwarded port leave as FIP:external',
      async () => {
        const seen = await atFar(`udp and host ${fipPf}`, 2);
        const r = await udp('far', fipPf, 2001, 'ping');
        assert.equal(r.reply.peer, FAR);
        assert.equal(r.from, fipPf);
        await f.at('r1-vm2').call({
          op: 'udpStream',
          host: FAR,
          port: 6001,
          tag: 'from-forwarded',
          count: 1,
          intervalMs: 10,
          bindPort: UDP_PORT + 2000,
        });
        const out = await seen.done;
        assert.match(out, new RegExp(`${esc(fipPf)}\\.2001 > ${esc(FAR)}\\.\\d+`), out);
        // vm2 sent the new flow from a port it does not forward: it is not the forwarded address's traffic.
        const other = await f
          .at('far')
          .call<{ peers: string[] }>({ op: 'received', port: 6001, tag: 'from-forwarded' });
        assert.ok(!other.peers.includes(fipPf), `a non-forwarded port left as ${other.peers.join()}`);
      },
    );

    pfCase(
      'a new flow from the forwarded port leaves as FIP:external; the VM’s other traffic keeps its 1:1 address',
      async () => {
        const seen = await atFar(`udp and dst port 6001`, 2);
        await f.at('r1-vm1').call({
          op: 'udpStream',
          host: FAR,
          port: 6001,
          tag: 'vm1-forwarded',
          count: 1,
          intervalMs: 10,
          bindPort: 7600,
        });
        await f.at('r1-vm1').call({
          op: 'udpStream',
          host: FAR,
          port: 6001,
          tag: 'vm1-other',
          count: 1,
          intervalMs: 10,
          bindPort: 7500,
        });
        const out = await seen.done;
        assert.match(out, new RegExp(`${esc(fipPf)}\\.2100 > ${esc(FAR)}\\.6001`), out);
        assert.match(out, new RegExp(`${esc(fip1)}\\.7500 > ${esc(FAR)}\\.6001`), out);
      },
    );

    pfCase('ranges: N:N maps port by port, N:1 sends every external port to one', async () => {
      for (const p of [7100, 7101, 7102]) {
        const r = await udp('far', fipPf, p, `nn-${p}`);
        assert.equal(r.reply.local, '', 'udp echo');
        assert.equal(r.reply.peer, FAR);
      }
      const got = await Promise.all(
        [7000, 7001, 7002].map((p) => f.at('r1-vm1').call<{ unique: number }>({ op: 'received', port: p })),
      );
      assert.deepEqual(
        got.map((g) => g.unique),
        [1, 1, 1],
        'each external port reached its own internal port',
      );
      for (const p of [7200, 7203, 7204]) await udp('far', fipPf, p, `n1-${p}`).catch(() => undefined);
      const n1 = await f
        .at('r1-vm2')
        .call<{ count: number; peers: string[] }>({ op: 'received', port: UDP_PORT + 1000 });
      assert.equal(n1.count, 3, 'all three external ports reached the one internal port');
      assert.deepEqual(n1.peers, [FAR]);
    });

    pfCase(
      'hairpin: a VM with a floating IP reaches FIP:port of its own router and is seen as its floating IP',
      async () => {
        const r = await f
          .at('r1-vm1')
          .call<{ reply: Echo }>({ op: 'tcp', host: fipPf, port: 2222, msg: 'hairpin' });
        assert.equal(r.reply.local, VM2);
        assert.equal(r.reply.peer, fip1);
      },
    );

    pfCase(
      'hairpin: a VM without a floating IP reaches FIP:port (stateful, seen as the router)',
      async () => {
        const r = await udp('r1-vm2', fipPf, 7101, 'hairpin-nofip');
        assert.equal(r.from, fipPf);
        assert.equal(r.reply.peer, '203.0.113.2');
      },
    );

    pfCase('fragmented UDP through a forwarded port arrives reassembled and intact', async () => {
      const r = await f
        .at('far')
        .call<{ sent: { sha256: string }; reply: { sha256: string }; from: string }>({
          op: 'udpBig',
          host: fipPf,
          port: DIGEST_PORT,
          bytes: 6000,
        });
      assert.deepEqual(r.reply, r.sent);
      assert.equal(r.from, fipPf);
    });

    pfCase(
      'port unreachable from the VM reaches the external sender as ECONNREFUSED (quote: FIP:external)',
      async () => {
        const r = await f.at('far').call<{ error: string }>({ op: 'udpRefused', host: fipPf, port: 2009 });
        assert.equal(r.error, 'ECONNREFUSED');
      },
    );

    pfCase(
      'port unreachable from outside reaches the forwarded port’s UDP socket (quote: internal socket)',
      async () => {
        // vm2 sends from its forwarded port 9 (FIP:2009 outside) to a closed port of the far host; the error comes
        // back to the floating address quoting FIP:2009, and must reach vm2 quoting 10.0.0.12:9.
        const r = await f
          .at('r1-vm2')
          .call<{ error: string }>({ op: 'udpRefused', host: FAR, port: CLOSED_PORT, bindPort: CLOSED_PORT });
        assert.equal(r.error, 'ECONNREFUSED');
      },
    );

    pfCase('PMTUD: an external host sends to FIP:port through a smaller MTU at the router', async () => {
      for (const ns of [farNamespace(options.prefix), `${options.prefix}-r1-vm2`])
        await run('ip', ['route', 'flush', 'cache'], { netns: ns });
      const r = await f.at('far').call<{ sent: unknown; received: unknown }>({
        op: 'blast',
        host: fipPf,
        port: SINK_PORT,
        bytes: 4 * 1024 * 1024,
        timeoutMs: 15_000,
      });
      assert.deepEqual(r.received, r.sent, 'the transfer arrived whole');
      const out = (await run('ip', ['route', 'get', fipPf], { netns: farNamespace(options.prefix) })).stdout;
      assert.match(
        out,
        new RegExp(`mtu ${BOTTLENECK_MTU}`),
        'the sender learned the MTU from an error quoting FIP:port',
      );
    });

    pfCase('0 conntrack entries for forwarded flows while shared SNAT is active', async () => {
      const ns = f.routerNamespace('r1');
      // vm2 has no floating IP: a flow to the far host goes through shared SNAT and is tracked.
      await f
        .at('r1-vm2')
        .call({ op: 'udpStream', host: FAR, port: 6001, tag: 'snat', count: 1, intervalMs: 10 });
      for (let i = 0; i < 3; i++) await udp('far', fipPf, 2001, `ct-${i}`);
      await f.at('far').call({ op: 'tcp', host: fipPf, port: 2222, msg: 'ct' });
      const lines = await conntrackLines(ns);
      assert.ok(
        mentioning(lines, ['203.0.113.2']).length > 0,
        'shared SNAT is tracking (conntrack is active)',
      );
      const forwarded = lines.filter(
        (l) => l.includes(`dst=${fipPf} `) && (/dport=2222 /.test(l) || /dport=2001 /.test(l)),
      );
      assert.deepEqual(forwarded, [], 'forwarded flows were tracked');
    });

    pfCase(
      options.stateful
        ? 'removal stops new connections; an established one leaks on through conntrack, as expected'
        : 'removal stops traffic at once, an established TCP connection included',
      async () => {
        await f.at('far').call({ op: 'tcpOpen', id: 'held', host: fipPf, port: 2222 });
        await f.at('far').call({ op: 'tcpSend', id: 'held', msg: 'before' });
        await f.api.delete(`/v2.0/floatingips/${fipPfId}/port_forwardings/${forwardings.get('ssh')!}`);
        await f.settle();
        try {
          const after = f.at('far').call({ op: 'tcpSend', id: 'held', msg: 'after', timeoutMs: 1500 });
          if (options.stateful)
            await after; // the leak: conntrack still holds the DNAT
          else await assert.rejects(after, 'the established connection still forwarded after removal');
          await assert.rejects(
            f.at('far').call({ op: 'tcp', host: fipPf, port: 2222, msg: 'new', timeoutMs: 1500 }),
            'a new connection was forwarded after removal',
          );
          // The other forwardings are untouched.
          assert.equal((await udp('far', fipPf, 2001, 'still')).reply.peer, FAR);
        } finally {
          await f.at('far').call({ op: 'tcpClose', id: 'held' });
        }
      },
    );
  });
}
