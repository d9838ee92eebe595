/**
 * The tc backend on this host's kernel, which has no act_nat: capability refusal without half-applying, and the bad
 * inputs that must be refused before anything is changed. Real namespaces, real tools.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { run, type Runner } from '../../src/exec/run.js';
import { TcDataplane } from '../../src/dataplane/tc/tc-backend.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { parseIPv4, SfipError } from '../../src/model/index.js';

const prefix = `tqh${process.pid % 10000}`;
const ns = `${prefix}-r`;
const peer = `${prefix}-x`;
const probeNamespace = `${prefix}-probe`;
const ip = parseIPv4;

const desired: DesiredRouter = {
  routerId: '0b6d1a5e-4d36-4c41-8d5e-1f0a2b3c4d5e',
  namespace: ns,
  gatewayDevice: 'qg-t',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [{ floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11') }],
};

const inNs = (file: string, args: string[]) => run(file, args, { netns: ns });

/** Everything in the namespace the tc backend could touch, as text, to compare before and after. */
async function kernelState(): Promise<string> {
  const parts = await Promise.all([
    inNs('tc', ['qdisc', 'show']),
    inNs('tc', ['filter', 'show', 'dev', 'qg-t', 'ingress']),
    inNs('iptables-save', []),
    inNs('ipset', ['list', '-n']),
    inNs('ip', ['-4', 'address', 'show']),
    inNs('ip', ['route', 'show', 'table', 'all']),
  ]);
  return parts.map((p) => p.stdout.replace(/^# .*$/gm, '')).join('\n---\n');
}

describe('tc backend on a kernel without act_nat', () => {
  before(async () => {
    for (const n of [ns, peer]) await run('ip', ['netns', 'del', n]).catch(() => undefined);
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['netns', 'add', peer]);
    await inNs('ip', ['link', 'add', 'qg-t', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
    await inNs('ip', ['link', 'add', 'qr-t', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', peer]);
    await inNs('ip', ['address', 'add', '203.0.113.2/24', 'dev', 'qg-t']);
    await inNs('ip', ['address', 'add', '10.0.0.1/24', 'dev', 'qr-t']);
    for (const d of ['qg-t', 'qr-t', 'lo']) await inNs('ip', ['link', 'set', d, 'up']);
  });
  after(async () => {
    for (const n of [ns, peer, probeNamespace]) await run('ip', ['netns', 'del', n]).catch(() => undefined);
  });

  it('reports act_nat missing, naming the kernel feature and the alternatives', async () => {
    const checks = await new TcDataplane(run, { probeNamespace }).check();
    const actNat = checks.find((c) => c.name === 'act_nat')!;
    assert.equal(actNat.ok, false);
    assert.match(actNat.detail, /act_nat \(CONFIG_NET_ACT_NAT/);
    assert.match(actNat.detail, /nftables backend/);
    assert.match(actNat.detail, /ebpf/);
    // The tools themselves are here; only the kernel lacks the action: its build says so, and so does the probe.
    assert.deepEqual(
      checks.filter((c) => !c.ok).map((c) => c.name),
      ['CONFIG_NET_ACT_NAT', 'act_nat'],
    );
    const namespaces = (await run('ip', ['netns', 'list'])).stdout;
    assert.doesNotMatch(
      namespaces,
      new RegExp(`^${probeNamespace}\\b`, 'm'),
      'the probe namespace was left behind',
    );
  });

  it('refuses to apply, before changing anything, when act_nat is missing', async () => {
    const dp = new TcDataplane(run, { probeNamespace });
    const before = await kernelState();
    const actual = await dp.read(desired, desired);
    assert.equal(actual.present, false);
    assert.deepEqual(actual.internalDevices, ['qr-t']);
    const plan = dp.plan(desired, actual);
    assert.ok(plan.batch, 'there is something to apply');
    await assert.rejects(dp.apply(plan), /The tc backend cannot run here: this kernel has no act_nat/);
    assert.equal(await kernelState(), before, 'a refused apply left the kernel changed');
  });

  it("refuses someone else's qdisc on the gateway device, naming it, and changes nothing", async () => {
    await inNs('tc', ['qdisc', 'add', 'dev', 'qg-t', 'root', 'handle', '1:', 'htb']);
    try {
      const dp = new TcDataplane(run, { probeNamespace });
      const before = await kernelState();
      const actual = await dp.read(desired, desired);
      assert.throws(
        () => dp.plan(desired, actual),
        (e: unknown) =>
          e instanceof SfipError &&
          e.message.includes('qg-t: root qdisc htb 1:') &&
          e.message.includes(`namespace ${ns}`) &&
          e.message.includes('takeOverForeignQdisc'),
      );
      assert.equal(await kernelState(), before);
    } finally {
      await inNs('tc', ['qdisc', 'del', 'dev', 'qg-t', 'root']);
    }
  });

  it('names a missing gateway device and a vanished namespace', async () => {
    const dp = new TcDataplane(run, { probeNamespace });
    await assert.rejects(
      dp.read({ ...desired, gatewayDevice: 'qg-gone' }, desired),
      /gateway device qg-gone does not exist in namespace/,
    );
    await assert.rejects(
      dp.read({ ...desired, namespace: `${prefix}-gone` }),
      new RegExp(`${prefix}-gone does not exist`),
    );
    assert.deepEqual(await dp.owned(`${prefix}-gone`), []);
  });

  it('runs no command at all for a device name or router id that is not safe to write into a batch', async () => {
    const calls: string[][] = [];
    const spy: Runner = async (file, args, options) => {
      calls.push([file, ...args]);
      return run(file, args, options);
    };
    const dp = new TcDataplane(spy, { probeNamespace });
    for (const bad of [
      { ...desired, gatewayDevice: 'qg-t\nqdisc del dev eth0 root' },
      { ...desired, gatewayDevice: 'qg-tttttttttttttt' },
      { ...desired, routerId: 'not-a-uuid' },
    ]) {
      await assert.rejects(dp.read(bad, bad), SfipError);
      await assert.rejects(dp.remove(bad), SfipError);
    }
    assert.deepEqual(calls, []);
  });
});
