/**
 * Why the tc backend's NOTRACK rules differ from the seed's: its recipe, typed in literally (with documentation
 * addresses), next to the corrected rule, in a kernel that has act_nat. Runs inside the guest only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/exec/run.js';
import type { Echo } from '../../src/lab/netprobe.js';
import {
  conntrackEntries,
  entriesMentioning,
  flushConntrack,
  startGuestLab,
  type GuestLab,
} from './guest-lab.js';

const FIP = '203.0.113.11';
const FIXED = '10.0.0.11';
const GW = 'qg-r1';

describe("the seed's literal recipe", () => {
  let lab: GuestLab;
  const inRouter = (file: string, args: string[]) => run(file, args, { netns: lab.routerNs });
  const tcp = (host: string) =>
    lab.ext.call<{ reply: Echo }>({ op: 'tcp', host, port: 7, msg: 'hello', timeoutMs: 5000 });
  const udp = (host: string) =>
    lab.ext.call<{ reply: Echo }>({ op: 'udp', host, port: 7, msg: 'hello', timeoutMs: 5000 });

  before(async () => {
    lab = await startGuestLab('tqs');
    // Shared SNAT, as in a Neutron router: without a conntrack user, "no entries" would prove nothing.
    await inRouter('iptables', [
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-s',
      '10.0.0.0/24',
      '-o',
      GW,
      '-j',
      'MASQUERADE',
    ]);
    await inRouter('ip', ['address', 'add', `${FIP}/32`, 'dev', GW]);
    // The seed, line by line (its 212.201.100.135 is FIP here, its 199.181.132.250 is FIXED; its egress and NOTRACK
    // lines said 199.181.132.25, a typo, which is left out here: see the last case).
    await inRouter('iptables', ['-t', 'raw', '-A', 'PREROUTING', '-d', `${FIP}/32`, '-j', 'NOTRACK']);
    await inRouter('iptables', ['-t', 'raw', '-A', 'PREROUTING', '-s', `${FIXED}/32`, '-j', 'NOTRACK']);
    await inRouter('tc', ['qdisc', 'add', 'dev', GW, 'ingress', 'handle', 'ffff:']);
    await inRouter(
      'tc',
      ['filter', 'add', 'dev', GW, 'parent', 'ffff:', 'protocol', 'ip', 'prio', '10', 'u32'].concat([
        'match',
        'ip',
        'dst',
        `${FIP}/32`,
        'action',
        'nat',
        'ingress',
        `${FIP}/32`,
        FIXED,
      ]),
    );
    await inRouter('tc', ['qdisc', 'add', 'dev', GW, 'root', 'handle', '10:', 'htb']);
    await inRouter(
      'tc',
      ['filter', 'add', 'dev', GW, 'parent', '10:', 'protocol', 'ip', 'prio', '10', 'u32'].concat([
        'match',
        'ip',
        'src',
        `${FIXED}/32`,
        'action',
        'nat',
        'egress',
        `${FIXED}/32`,
        FIP,
      ]),
    );
  });
  after(async () => {
    await lab?.close();
  });

  it('translates, but its inbound NOTRACK never matches and every inbound flow leaves an UNREPLIED entry', async () => {
    await flushConntrack(lab.routerNs);
    await lab.vms.vm3.call({ op: 'udp', host: '203.0.113.1', port: 7, msg: 'snat', timeoutMs: 5000 });
    for (let i = 0; i < 3; i++) assert.equal((await tcp(FIP)).reply.local, FIXED);
    assert.equal((await udp(FIP)).reply.name, 'vm1');
    const entries = await conntrackEntries(lab.routerNs);
    assert.ok(entriesMentioning(entries, ['10.0.0.13']).length >= 1, 'shared SNAT is active');
    const fip = entriesMentioning(entries, [FIXED]);
    // tc ingress ran before netfilter: conntrack saw the fixed address, never the floating one.
    assert.ok(fip.length >= 4, `one entry per inbound flow expected:\n${fip.map((e) => e.line).join('\n')}`);
    assert.ok(
      fip.every((e) => e.unreplied && e.line.includes(`dst=${FIXED} `)),
      fip.map((e) => e.line).join('\n'),
    );
    // The seed's rule for the floating address counted nothing.
    const raw = (await inRouter('iptables', ['-t', 'raw', '-L', 'PREROUTING', '-v', '-x', '-n'])).stdout;
    const seedRule = raw.split('\n').find((l) => l.includes('NOTRACK') && l.includes(FIP));
    assert.ok(seedRule, raw);
    assert.equal(seedRule.trim().split(/\s+/)[0], '0', `the seed's -d ${FIP} rule matched packets:\n${raw}`);
  });

  it('creates no entries once the inbound rule matches the fixed address on the gateway device', async () => {
    await inRouter('iptables', [
      '-t',
      'raw',
      '-I',
      'PREROUTING',
      '1',
      '-i',
      GW,
      '-d',
      `${FIXED}/32`,
      '-j',
      'NOTRACK',
    ]);
    await flushConntrack(lab.routerNs);
    await lab.vms.vm3.call({ op: 'udp', host: '203.0.113.1', port: 7, msg: 'snat', timeoutMs: 5000 });
    for (let i = 0; i < 3; i++) assert.equal((await tcp(FIP)).reply.local, FIXED);
    assert.equal((await udp(FIP)).reply.name, 'vm1');
    const entries = await conntrackEntries(lab.routerNs);
    assert.ok(entriesMentioning(entries, ['10.0.0.13']).length >= 1, 'shared SNAT is active');
    assert.deepEqual(entriesMentioning(entries, [FIXED, FIP]), []);
  });

  it("leaves a VM's own traffic untranslated with the seed's typo (egress filter on the wrong address)", async () => {
    // The seed translates 199.181.132.250 but matches egress on 199.181.132.25: the same slip here.
    const typo = FIXED.slice(0, -1);
    await inRouter('tc', ['filter', 'del', 'dev', GW, 'parent', '10:', 'protocol', 'ip', 'prio', '10']);
    await inRouter(
      'tc',
      ['filter', 'add', 'dev', GW, 'parent', '10:', 'protocol', 'ip', 'prio', '10', 'u32'].concat([
        'match',
        'ip',
        'src',
        `${typo}/32`,
        'action',
        'nat',
        'egress',
        `${typo}/32`,
        FIP,
      ]),
    );
    await lab.ext.call({ op: 'listen', proto: 'udp', port: 6100 });
    await lab.vms.vm1.call({
      op: 'udpStream',
      host: '203.0.113.1',
      port: 6100,
      tag: 'typo',
      count: 3,
      intervalMs: 50,
    });
    await new Promise((r) => setTimeout(r, 300));
    const got = await lab.ext.call<{ count: number; peers: string[] }>({
      op: 'received',
      port: 6100,
      tag: 'typo',
    });
    assert.ok(got.count >= 1);
    assert.deepEqual(got.peers, [FIXED], 'the private fixed address leaked to the outside');
  });
});
