/**
 * The dataplane conformance suite: written once, run against every backend (one `*.conformance.test.ts` per
 * backend calls `runDataplaneConformance`). Real namespaces, real packets, real store, API and agent.
 * A backend is done when it passes this.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ReconcileOutcome } from '../../src/agent/index.js';
import type { Json } from '../../src/client/api-client.js';
import { readFloatingAddresses } from '../../src/dataplane/index.js';
import type { Echo } from '../../src/lab/netprobe.js';
import type { BackendName } from '../../src/model/index.js';
import { conntrackLines, mentioning } from '../support/conntrack.js';
import { conformanceLab, DataplaneFixture, TCP_PORT, UDP_PORT } from '../support/dataplane-fixture.js';

export interface ConformanceOptions {
  readonly backend: BackendName;
  /** Stateless backends create no conntrack entries for floating-IP traffic; the stateful baseline does. */
  readonly conntrack: 'none' | 'expected';
  /** Commands run inside the router namespace that damage this backend's kernel state; the agent must repair it. */
  readonly drift: readonly (readonly string[])[];
  /** Namespace prefix; unique per backend so suites can run side by side. */
  readonly prefix: string;
  /**
   * How often the agent resyncs (default 400 ms). A run inside an emulated guest needs longer: a resync that comes
   * before the previous one finished keeps the agent from ever being idle.
   */
  readonly resyncIntervalMs?: number;
  /** Time for the whole suite (default 240 s); an emulated guest needs more. */
  readonly suiteTimeoutMs?: number;
  /** A variant of the backend: its name (the suite's title) and router attributes set through the API. */
  readonly variant?: { readonly name: string; readonly routerAttributes: Json };
}

interface TcpResult {
  reply: Echo;
  local: string;
}
interface UdpResult {
  reply: Echo;
  from: string;
}
interface PingResult {
  transmitted: number;
  received: number;
  from: string[];
}

const FAIL_FAST = 1000;

export function runDataplaneConformance(options: ConformanceOptions): void {
  const timeout = options.suiteTimeoutMs ?? 240_000;
  describe(`dataplane conformance: ${options.variant?.name ?? options.backend}`, { timeout }, () => {
    const f = new DataplaneFixture(options.backend, conformanceLab(options.prefix), {
      resyncIntervalMs: options.resyncIntervalMs,
      ...(options.variant && { routerAttributes: options.variant.routerAttributes }),
    });
    let fip1: Json; // r1 vm1
    let fip2: Json; // r1 vm2
    let fipR2: Json; // r2 vm1 (same fixed IP as r1 vm1)
    const ext1 = '203.0.113.1';
    const gateway1 = '203.0.113.2';
    const addr = (fip: Json) => String(fip.floating_ip_address);
    const tcp = (from: string, host: string, timeoutMs?: number) =>
      f.at(from).call<TcpResult>({
        op: 'tcp',
        host,
        port: TCP_PORT,
        msg: `hello from ${from}`,
        ...(timeoutMs && { timeoutMs }),
      });
    const udp = (from: string, host: string, timeoutMs?: number) =>
      f.at(from).call<UdpResult>({
        op: 'udp',
        host,
        port: UDP_PORT,
        msg: `hello from ${from}`,
        ...(timeoutMs && { timeoutMs }),
      });
    const ping = (from: string, host: string, count = 3) =>
      f.at(from).call<PingResult>({ op: 'ping', host, count });
    const fails = async (attempt: Promise<unknown>) => {
      const outcome = await attempt.then(
        (v) => ({ ok: true, v }),
        (e: Error) => ({ ok: false, v: e.message }),
      );
      assert.equal(outcome.ok, false, `expected the traffic to fail, got ${JSON.stringify(outcome.v)}`);
    };
    const fipConntrack = async (fips: Json[]) => {
      const lines = await conntrackLines(f.routerNamespace('r1'));
      return mentioning(
        lines,
        fips.flatMap((x) => [addr(x), String(x.fixed_ip_address)]),
      );
    };

    before(async () => {
      await f.start();
    });
    after(async () => {
      await f.stop();
    });

    it('reports a new floating IP DOWN until the agent has applied it, then ACTIVE', async () => {
      fip1 = await f.createFloatingIp('r1', 'vm1');
      fip2 = await f.createFloatingIp('r1', 'vm2');
      fipR2 = await f.createFloatingIp('r2', 'vm1');
      assert.equal(fip1.status, 'DOWN');
      await f.settle();
      for (const fip of [fip1, fip2, fipR2]) {
        const now = await f.showFloatingIp(fip.id);
        assert.equal(now.status, 'ACTIVE', `status of ${addr(fip)}: ${String(now.status_reason)}`);
      }
      const onDevice = await readFloatingAddresses({
        routerId: f.router('r1').routerId,
        namespace: f.routerNamespace('r1'),
        gatewayDevice: 'qg-r1',
      });
      assert.deepEqual(
        [...onDevice].sort(),
        [addr(fip1), addr(fip2)].sort(),
        'floating addresses on the gateway device',
      );
    });

    it('carries TCP, UDP and ICMP from outside to the VM, which sees the real client address', async () => {
      const t = await tcp('r1-ext', addr(fip1));
      assert.equal(t.reply.name, 'r1-vm1');
      assert.equal(t.reply.peer, ext1, 'the VM sees the external client, not a translated source');
      assert.equal(t.reply.local, '10.0.0.11', 'the VM receives on its fixed IP');
      const u = await udp('r1-ext', addr(fip2));
      assert.equal(u.reply.name, 'r1-vm2');
      assert.equal(u.reply.peer, ext1);
      assert.equal(u.from, addr(fip2), 'the reply comes back from the floating address');
      const p = await ping('r1-ext', addr(fip1));
      assert.equal(p.received, p.transmitted);
      assert.deepEqual(p.from, [addr(fip1)]);
    });

    it('sends a VM’s own traffic out with its floating address as the source', async () => {
      const t = await tcp('r1-vm1', ext1);
      assert.equal(t.reply.name, 'r1-ext');
      assert.equal(t.reply.peer, addr(fip1));
      const u = await udp('r1-vm2', ext1);
      assert.equal(u.reply.peer, addr(fip2));
      assert.equal(u.from, ext1);
      const p = await ping('r1-vm1', ext1);
      assert.equal(p.received, p.transmitted);
    });

    it('sends a VM without a floating IP out through shared SNAT on the gateway address', async () => {
      const t = await tcp('r1-vm3', ext1);
      assert.equal(t.reply.peer, gateway1);
      const u = await udp('r1-vm3', ext1);
      assert.equal(u.reply.peer, gateway1);
    });

    it(`creates ${options.conntrack === 'none' ? 'no' : 'the expected'} conntrack entries for floating-IP traffic while shared SNAT is active`, async () => {
      const lines = await conntrackLines(f.routerNamespace('r1'));
      // Without a conntrack user in this namespace, "0 entries" would prove nothing: shared SNAT must show up.
      assert.ok(
        mentioning(lines, ['10.0.0.13']).length >= 1,
        `shared SNAT left no entry, so conntrack is not hooked:\n${lines.join('\n')}`,
      );
      const fipLines = await fipConntrack([fip1, fip2]);
      if (options.conntrack === 'none') assert.deepEqual(fipLines, [], 'floating-IP traffic was tracked');
      else assert.ok(fipLines.length > 0, 'the stateful baseline should track floating-IP traffic');
    });

    it('lets two VMs reach each other’s floating IPs through the router, each seeing the other’s floating address', async () => {
      const one = await tcp('r1-vm1', addr(fip2));
      assert.equal(one.reply.name, 'r1-vm2');
      assert.equal(one.reply.peer, addr(fip1));
      const two = await udp('r1-vm2', addr(fip1));
      assert.equal(two.reply.name, 'r1-vm1');
      assert.equal(two.reply.peer, addr(fip2));
      assert.equal(two.from, addr(fip1), 'the reply comes from the floating address that was addressed');
      if (options.conntrack === 'none')
        assert.deepEqual(await fipConntrack([fip1, fip2]), [], 'hairpin traffic was tracked');
    });

    it('lets a VM without a floating IP reach a floating IP on the same router (through the gateway address)', async () => {
      const t = await tcp('r1-vm3', addr(fip1));
      assert.equal(t.reply.name, 'r1-vm1');
      assert.equal(t.reply.peer, gateway1);
    });

    it('keeps two routers in separate namespaces isolated, even with overlapping fixed IPs', async () => {
      const t = await tcp('r2-ext', addr(fipR2));
      assert.equal(
        t.reply.name,
        'r2-vm1',
        'r2’s floating IP reaches r2’s VM, not r1’s VM with the same fixed IP',
      );
      assert.equal(t.reply.peer, '198.51.100.1');
      const out = await udp('r2-vm1', '198.51.100.1');
      assert.equal(out.reply.peer, addr(fipR2));
      const r1 = await f.dataplane.read({
        routerId: f.router('r1').routerId,
        namespace: f.routerNamespace('r1'),
        gatewayDevice: 'qg-r1',
      });
      const r2 = await f.dataplane.read({
        routerId: f.router('r2').routerId,
        namespace: f.routerNamespace('r2'),
        gatewayDevice: 'qg-r2',
      });
      assert.deepEqual([...r1.inbound.keys()].sort(), [addr(fip1), addr(fip2)].sort());
      assert.deepEqual([...r2.inbound.keys()], [addr(fipR2)]);
      await fails(tcp('r1-ext', addr(fipR2), FAIL_FAST));
    });

    it('moves a floating IP to another fixed IP and deletes the conntrack state the move made stale', async () => {
      // vm3 has a shared-SNAT flow; giving it a floating IP makes that entry stale.
      await udp('r1-vm3', ext1);
      assert.ok(mentioning(await conntrackLines(f.routerNamespace('r1')), ['10.0.0.13']).length > 0);
      fip2 = await f.updateFloatingIp(fip2.id, { port_id: f.router('r1').ports.vm3 });
      assert.equal(fip2.fixed_ip_address, '10.0.0.13');
      await f.settle();
      const before = mentioning(await conntrackLines(f.routerNamespace('r1')), ['10.0.0.13']);
      if (options.conntrack === 'none')
        assert.deepEqual(before, [], 'old shared-SNAT entries of the fixed IP survived');
      const t = await tcp('r1-ext', addr(fip2));
      assert.equal(t.reply.name, 'r1-vm3', 'the floating IP now reaches its new VM');
      const out = await udp('r1-vm3', ext1);
      assert.equal(out.reply.peer, addr(fip2));
      const old = await udp('r1-vm2', ext1);
      assert.equal(old.reply.peer, gateway1, 'the old VM now leaves through shared SNAT');
      assert.equal((await f.showFloatingIp(fip2.id)).status, 'ACTIVE');
    });

    it('stops inbound traffic at once on disassociation, including established connections', async () => {
      await f.at('r1-ext').call({ op: 'tcpOpen', id: 'long', host: addr(fip1), port: TCP_PORT });
      const first = await f.at('r1-ext').call<TcpResult>({ op: 'tcpSend', id: 'long', msg: 'before' });
      assert.equal(first.reply.name, 'r1-vm1');
      const updated = await f.updateFloatingIp(fip1.id, { port_id: null });
      assert.equal(updated.status, 'DOWN');
      await f.settle();
      await fails(f.at('r1-ext').call({ op: 'tcpSend', id: 'long', msg: 'after', timeoutMs: FAIL_FAST }));
      await f.at('r1-ext').call({ op: 'tcpClose', id: 'long' });
      await fails(tcp('r1-ext', addr(fip1), FAIL_FAST));
      await fails(udp('r1-ext', addr(fip1), FAIL_FAST));
      const p = await ping('r1-ext', addr(fip1), 2);
      assert.equal(p.received, 0, 'pings to a disassociated floating IP must not be answered');
      const onDevice = await readFloatingAddresses({
        routerId: f.router('r1').routerId,
        namespace: f.routerNamespace('r1'),
        gatewayDevice: 'qg-r1',
      });
      assert.equal(onDevice.has(addr(fip1)), false, 'the address left the gateway device');
      const out = await udp('r1-vm1', ext1);
      assert.equal(out.reply.peer, gateway1, 'the VM falls back to shared SNAT');
      // Associate again for the remaining cases.
      fip1 = await f.updateFloatingIp(fip1.id, { port_id: f.router('r1').ports.vm1 });
      await f.settle();
      assert.equal((await tcp('r1-ext', addr(fip1))).reply.name, 'r1-vm1');
    });

    it('repairs drift without a restart and leaves objects it does not own alone', async () => {
      const repairs: ReconcileOutcome[] = [];
      const onReconciled = (o: ReconcileOutcome) => {
        if (o.cause === 'resync' && o.drifted && o.routerId === f.router('r1').routerId) repairs.push(o);
      };
      f.agent.on('reconciled', onReconciled);
      for (const argv of options.drift) await f.inRouter('r1', argv[0]!, argv.slice(1));
      // Someone else's table, created after the damage: the repair must not touch it.
      await f.inRouter('r1', 'nft', ['add', 'table', 'inet', 'someone_else']);
      await f.inRouter('r1', 'nft', [
        'add',
        'chain',
        'inet',
        'someone_else',
        'input',
        '{ type filter hook input priority 0; policy accept; }',
      ]);
      const deadline = Date.now() + 10 * f.resyncIntervalMs + 3000;
      let repaired = false;
      while (!repaired && Date.now() < deadline) {
        const t = await tcp('r1-ext', addr(fip1), 500).catch(() => undefined);
        // The damage is several commands, and a resync may run between them: repaired means the VM is
        // reached and sees the client's own address (not the gateway's, as a half-repaired stateful router
        // would show), so that no later case starts a flow on half-repaired rules.
        repaired = t?.reply.name === 'r1-vm1' && t.reply.peer === ext1;
        if (!repaired) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(repaired, 'traffic through the floating IP came back');
      await f.settle();
      f.agent.off('reconciled', onReconciled);
      assert.ok(repairs.length >= 1, 'the periodic resync saw the damage and repaired it');
      assert.equal((await tcp('r1-ext', addr(fip2))).reply.name, 'r1-vm3');
      assert.equal((await udp('r1-vm1', ext1)).reply.peer, addr(fip1), 'outbound translation is back too');
      const tables = await f.inRouter('r1', 'nft', ['list', 'table', 'inet', 'someone_else']);
      assert.match(tables, /chain input/);
    });

    it('restarts the agent without losing a packet or rewriting the kernel', async () => {
      const count = 300;
      // fip2 belongs to vm3 since the move; fip1 to vm1.
      await f.at('r1-vm3').call({ op: 'listen', proto: 'udp', port: 6001 });
      await f.at('r1-ext').call({ op: 'listen', proto: 'udp', port: 6002 });
      const stream = (from: string, host: string, port: number, tag: string) =>
        f.at(from).call<{ sent: number }>({ op: 'udpStream', host, port, tag, count, intervalMs: 10 });
      const inbound = stream('r1-ext', addr(fip2), 6001, 'in');
      const outbound = stream('r1-vm1', ext1, 6002, 'out');
      await new Promise((r) => setTimeout(r, 500));
      await f.agent.stop();
      f.agent = f.newAgent();
      await f.agent.start();
      assert.deepEqual(
        f.agent.routerOutcomes().filter((o) => o.changed || o.error),
        [],
        'a restarted agent must find the kernel right and change nothing',
      );
      assert.equal((await inbound).sent, count);
      assert.equal((await outbound).sent, count);
      type Received = { unique: number; peers: string[] };
      // Wait for the receivers rather than for a fixed time: on a loaded machine they may lag behind the senders.
      const receivedAll = async (probe: string, port: number, tag: string) => {
        const deadline = Date.now() + 5000;
        for (;;) {
          const got = await f.at(probe).call<Received>({ op: 'received', port, tag });
          if (got.unique >= count || Date.now() > deadline) return got;
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      const gotIn = await receivedAll('r1-vm3', 6001, 'in');
      const gotOut = await receivedAll('r1-ext', 6002, 'out');
      assert.equal(gotIn.unique, count, 'inbound packets lost across the restart');
      assert.deepEqual(gotIn.peers, [ext1]);
      assert.equal(gotOut.unique, count, 'outbound packets lost across the restart');
      assert.deepEqual(gotOut.peers, [addr(fip1)]);
    });

    it('reports ERROR with the reason when a router’s namespace does not exist', async () => {
      const missing = `${options.prefix}-gone`;
      const net = (await f.api.post<{ network: Json }>('/v2.0/networks', { network: { name: 'err-net' } }))
        .network;
      const subnet = (
        await f.api.post<{ subnet: Json }>('/v2.0/subnets', {
          subnet: { network_id: net.id, cidr: '10.9.0.0/24' },
        })
      ).subnet;
      const router = (
        await f.api.post<{ router: Json }>('/v2.0/routers', {
          router: {
            name: 'err',
            namespace: missing,
            gateway_device: 'qg-err',
            external_gateway_info: { network_id: f.router('r1').externalNetworkId },
          },
        })
      ).router;
      await f.api.put(`/v2.0/routers/${String(router.id)}/add_router_interface`, { subnet_id: subnet.id });
      const port = (await f.api.post<{ port: Json }>('/v2.0/ports', { port: { network_id: net.id } })).port;
      const fip = (
        await f.api.post<{ floatingip: Json }>('/v2.0/floatingips', {
          floatingip: { floating_network_id: f.router('r1').externalNetworkId, port_id: port.id },
        })
      ).floatingip;
      await f.settle();
      const shown = await f.showFloatingIp(fip.id);
      assert.equal(shown.status, 'ERROR');
      assert.match(String(shown.status_reason), new RegExp(missing));
      // The other routers are unaffected.
      assert.equal((await tcp('r1-ext', addr(fip1))).reply.name, 'r1-vm1');
      await f.api.delete(`/v2.0/floatingips/${String(fip.id)}`);
      await f.api.put(`/v2.0/routers/${String(router.id)}/remove_router_interface`, { subnet_id: subnet.id });
      await f.api.delete(`/v2.0/routers/${String(router.id)}`);
      await f.api.delete(`/v2.0/ports/${String(port.id)}`);
      await f.api.delete(`/v2.0/networks/${String(net.id)}`);
      await f.settle();
    });

    it('removes a router’s kernel state when its floating IPs and the router are deleted', async () => {
      const r2 = f.router('r2');
      await f.api.delete(`/v2.0/floatingips/${String(fipR2.id)}`);
      await f.api.put(`/v2.0/routers/${r2.routerId}/remove_router_interface`, {
        subnet_id: r2.internalSubnetId,
      });
      await f.api.delete(`/v2.0/routers/${r2.routerId}`);
      await f.settle();
      const target = { routerId: r2.routerId, namespace: f.routerNamespace('r2'), gatewayDevice: 'qg-r2' };
      const actual = await f.dataplane.read(target);
      assert.equal(actual.present, false, 'the backend still holds state for a deleted router');
      assert.equal((await readFloatingAddresses(target)).size, 0, 'its floating addresses are gone');
      await fails(tcp('r2-ext', addr(fipR2), FAIL_FAST));
      assert.deepEqual(await f.dataplane.owned(f.routerNamespace('r2')), []);
      // r1 is untouched by r2's removal.
      assert.equal((await tcp('r1-ext', addr(fip1))).reply.name, 'r1-vm1');
    });
  });
}
