/**
 * QoS packet-rate limits on the wire, nftables backend (issue 19). Real packets through the wire lab:
 * mid (203.0.113.1) -- router -- vm1, vm2. vm1's floating IP has a policy of 1 kpps per direction (default
 * burst: a tenth of a second, 100 packets); vm2's has none. Each case blasts BLAST small UDP datagrams back to
 * back and counts what arrived: the limited floating IP gets at most rate x (measured send time + slack) +
 * burst, the other all or nearly all. Counts, not timings: the send time only widens the bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Json } from '../../src/client/api-client.js';
import { parseNftTable } from '../../src/dataplane/nftables/parse.js';
import { tableName } from '../../src/dataplane/nftables/render.js';
import { conntrackLines, mentioning } from '../support/conntrack.js';
import { DataplaneFixture, UDP_PORT } from '../support/dataplane-fixture.js';
import { wireLab } from '../support/wire-topology.js';

const BLAST = 2_000;
const RATE_PPS = 1_000;
const BURST = 100;
/** Packets still queued on the way when the sender's clock stopped: the limiter sees them a little later. */
const SLACK_MS = 50;
const MID = '203.0.113.1';

describe('QoS packet-rate limits on the wire: nftables', { timeout: 120_000 }, () => {
  const f = new DataplaneFixture('nftables', wireLab(`sfq${process.pid % 10000}`));
  let fip1 = '';
  let fip1Id = '';
  let fip2 = '';
  let policyId = '';
  let tags = 0;

  /** Blasts from one probe to an address and returns what the receiving probe counted, with the send time. */
  const blast = async (from: string, to: string, host: string) => {
    const tag = `q${tags++}`;
    const sent = await f.at(from).call<{ sent: number; durationMs: number }>({
      op: 'udpBlast',
      host,
      port: UDP_PORT,
      tag,
      count: BLAST,
    });
    await new Promise((r) => setTimeout(r, 300)); // let the last datagrams land
    const got = await f.at(to).call<{ unique: number }>({ op: 'received', port: UDP_PORT, tag });
    return { arrived: got.unique, durationMs: sent.durationMs };
  };

  /** The most a 1 kpps limit lets through while the blast lasted; it must be well below BLAST to test anything. */
  const bound = (durationMs: number) => {
    const most = Math.ceil((RATE_PPS * (durationMs + SLACK_MS)) / 1000) + BURST;
    assert.ok(
      most < BLAST / 2,
      `the blast took ${durationMs.toFixed(0)} ms: too slow to test a 1 kpps limit`,
    );
    return most;
  };

  const table = () => tableName(f.router('r1').routerId);
  const listTable = async () =>
    parseNftTable(await f.inRouter('r1', 'nft', ['-j', 'list', 'table', 'ip', table()]));
  /** vm1's ingress packet-rate limit as the kernel holds it (its element of qos_in_pps). */
  const ingressLimit = async () =>
    (await listTable()).limitElements.get('qos_in_pps')?.get(fip1) ?? undefined;

  before(async () => {
    await f.start();
    const policy = (
      await f.api.post<{ policy: Json }>('/v2.0/qos/policies', { policy: { name: 'one-kpps' } })
    ).policy;
    policyId = String(policy.id);
    for (const direction of ['ingress', 'egress'])
      await f.api.post(`/v2.0/qos/policies/${policyId}/packet_rate_limit_rules`, {
        packet_rate_limit_rule: { max_kpps: RATE_PPS / 1000, direction },
      });
    const limited = await f.createFloatingIp('r1', 'vm1');
    fip1Id = String(limited.id);
    fip1 = String(limited.floating_ip_address);
    await f.updateFloatingIp(fip1Id, { qos_policy_id: policyId });
    fip2 = String((await f.createFloatingIp('r1', 'vm2')).floating_ip_address);
    await f.settle();
    assert.equal((await f.showFloatingIp(fip1Id)).status, 'ACTIVE');
  });
  after(() => f.stop());

  it('ingress: the limited floating IP gets at most rate x time + burst, the other nearly all', async () => {
    const limited = await blast('r1-ext', 'r1-vm1', fip1);
    const free = await blast('r1-ext', 'r1-vm2', fip2);
    console.log(
      `# ingress: limited ${limited.arrived}/${BLAST} in ${limited.durationMs.toFixed(1)} ms, free ${free.arrived}/${BLAST} in ${free.durationMs.toFixed(1)} ms`,
    );
    assert.ok(limited.arrived >= 1, 'the burst lets the first packets through');
    assert.ok(limited.arrived <= bound(limited.durationMs), `${limited.arrived} arrived through the limit`);
    assert.ok(free.arrived >= BLAST * 0.95, `${free.arrived} of ${BLAST} arrived without a limit`);
  });

  it('egress: the same from the VMs out', async () => {
    const limited = await blast('r1-vm1', 'r1-ext', MID);
    const free = await blast('r1-vm2', 'r1-ext', MID);
    console.log(
      `# egress: limited ${limited.arrived}/${BLAST} in ${limited.durationMs.toFixed(1)} ms, free ${free.arrived}/${BLAST} in ${free.durationMs.toFixed(1)} ms`,
    );
    assert.ok(limited.arrived >= 1);
    assert.ok(limited.arrived <= bound(limited.durationMs), `${limited.arrived} left through the limit`);
    assert.ok(free.arrived >= BLAST * 0.95, `${free.arrived} of ${BLAST} left without a limit`);
  });

  it('limited traffic stays untracked: no conntrack entry for either floating IP or its VM', async () => {
    const lines = await conntrackLines(f.routerNamespace('r1'));
    assert.deepEqual(mentioning(lines, [fip1, fip2, '10.0.0.11', '10.0.0.12']), []);
  });

  it('a limit deleted by hand is restored by the next full pass', async () => {
    await f.inRouter('r1', 'nft', ['delete', 'element', 'ip', table(), 'qos_in_pps', `{ ${fip1} }`]);
    assert.equal(await ingressLimit(), undefined, 'deleted');
    f.agent.resyncAll('resync');
    await f.settle();
    assert.deepEqual(await ingressLimit(), { rate: RATE_PPS, burst: BURST, per: 'second', inv: true });
    const limited = await blast('r1-ext', 'r1-vm1', fip1);
    assert.ok(limited.arrived <= bound(limited.durationMs), `${limited.arrived} arrived: limited again`);
  });

  it('a rule change reaches the kernel; removing the policy removes the limits', async () => {
    const rules = (
      await f.api.get<{ packet_rate_limit_rules: Json[] }>(
        `/v2.0/qos/policies/${policyId}/packet_rate_limit_rules`,
      )
    ).packet_rate_limit_rules;
    const ingress = rules.find((r) => r.direction === 'ingress')!;
    await f.api.put(`/v2.0/qos/policies/${policyId}/packet_rate_limit_rules/${String(ingress.id)}`, {
      packet_rate_limit_rule: { max_kpps: 2, max_burst_kpps: 1 },
    });
    await f.settle();
    assert.deepEqual(await ingressLimit(), { rate: 2_000, burst: 1_000, per: 'second', inv: true });

    await f.updateFloatingIp(fip1Id, { qos_policy_id: null });
    await f.settle();
    const state = await listTable();
    assert.ok([...state.limitElements.values()].every((m) => m.size === 0));
    assert.equal(await ingressLimit(), undefined);
    const free = await blast('r1-ext', 'r1-vm1', fip1);
    assert.ok(free.arrived >= BLAST * 0.95, `${free.arrived} of ${BLAST} arrived once the policy is gone`);
  });
});
