/**
 * The eBPF fast path really skips the stack: with it on, floating-IP packets in both directions never reach the
 * router's netfilter forward hook, yet arrive and are counted per floating IP; with the router's fast_path off the
 * same packets cross the forward hook one by one. A packet the router cannot forward by itself yet (its
 * neighbour unresolved) goes to the stack, which resolves it and delivers. The witness is an nft table of the
 * test's own with counters at the forward hook. Real namespaces, real packets.
 */
import { RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/index.js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EbpfDataplane } from '../../src/dataplane/ebpf/index.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { run } from '../../src/exec/run.js';
import { buildLab, destroyLab, labNamespaces, vmMac, type LabSpec } from '../../src/lab/index.js';
import { parseIPv4 } from '../../src/model/index.js';
import { capture, macOf, sendCraftedUdp } from '../support/packets.js';

const prefix = `tfp${process.pid % 10000}`;
const EXT = '203.0.113.1';
const FIP = '203.0.113.21';
const FIXED = '10.0.0.11';
const spec: LabSpec = {
  prefix,
  routers: [
    {
      name: 'r1',
      externalCidr: '203.0.113.0/24',
      upstreamIp: EXT,
      gatewayIp: '203.0.113.2',
      poolStart: '203.0.113.10',
      poolEnd: '203.0.113.250',
      internalCidr: '10.0.0.0/24',
      internalGatewayIp: '10.0.0.1',
      vms: [{ name: 'vm1', ip: FIXED }],
    },
  ],
};
const r1 = spec.routers[0]!;
const ns = {
  router: labNamespaces.router(spec, r1),
  ext: labNamespaces.external(spec, r1),
  vm: labNamespaces.vm(spec, r1, r1.vms[0]!),
};
const desired: DesiredRouter = {
  routerId: randomUUID(),
  namespace: ns.router,
  gatewayDevice: 'qg-r1',
  gatewayIp: parseIPv4('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [{ floatingIp: parseIPv4(FIP), fixedIp: parseIPv4(FIXED), fixedMac: vmMac(r1.vms[0]!) }],
};

const WITNESS = 'fpwitness';
/** Counters at the forward hook: what the stack forwarded to and from the VM. Recreated empty. */
async function resetWitness(): Promise<void> {
  await run('nft', ['-f', '-'], {
    netns: ns.router,
    input: [
      `table ip ${WITNESS}`,
      `delete table ip ${WITNESS}`,
      `table ip ${WITNESS} {`,
      '  counter to_vm { }',
      '  counter from_vm { }',
      '  chain forwarded {',
      '    type filter hook forward priority 0; policy accept;',
      `    ip daddr ${FIXED} counter name to_vm`,
      `    ip saddr ${FIXED} counter name from_vm`,
      '  }',
      '}',
      '',
    ].join('\n'),
  });
}

async function witness(): Promise<{ toVm: number; fromVm: number }> {
  const read = async (name: string) => {
    const { stdout } = await run('nft', ['-j', 'list', 'counter', 'ip', WITNESS, name], { netns: ns.router });
    const found = (JSON.parse(stdout) as { nftables: { counter?: { packets: number } }[] }).nftables.find(
      (o) => o.counter,
    );
    return found?.counter?.packets ?? -1;
  };
  return { toVm: await read('to_vm'), fromVm: await read('from_vm') };
}

/** Pings the floating IP from outside: echo requests go in, the VM's replies come out. Returns replies. */
async function pingFip(count: number): Promise<number> {
  const { stdout } = await run('ping', ['-c', String(count), '-i', '0.05', '-W', '1', FIP], {
    netns: ns.ext,
    okExitCodes: [1],
  });
  return Number(/(\d+) received/.exec(stdout)?.[1] ?? 0);
}

async function reconcile(dataplane: EbpfDataplane, want: DesiredRouter): Promise<void> {
  await new RouterDataplane(dataplane, WITHOUT_CHORES).reconcile(want);
}

const vm2 = `${prefix}-fpvm2`;
const FIP2 = '203.0.113.22';
const FIXED2 = '10.0.1.11';

async function ifindexIn(namespace: string, device: string): Promise<number> {
  const { stdout } = await run('ip', ['-j', 'link', 'show', device], { netns: namespace });
  return (JSON.parse(stdout) as { ifindex: number }[])[0]!.ifindex;
}

/** Packets the device transmitted (`ip -s`): what redirect_peer skips and bpf_redirect pays. */
async function txPackets(namespace: string, device: string): Promise<number> {
  const { stdout } = await run('ip', ['-s', '-j', 'link', 'show', device], { netns: namespace });
  return (JSON.parse(stdout) as { stats64: { tx: { packets: number } } }[])[0]!.stats64.tx.packets;
}

describe('eBPF fast path', { timeout: 60_000 }, () => {
  const dataplane = new EbpfDataplane();

  before(async () => {
    await destroyLab(spec);
    await run('ip', ['netns', 'del', vm2]).catch(() => undefined);
    await buildLab(spec);
    await run('ip', ['netns', 'add', vm2]);
    const support = await dataplane.fastPath();
    assert.ok(support.available, `this kernel must run the fast path for these cases: ${support.detail}`);
    await reconcile(dataplane, desired);
  });
  after(async () => {
    await new RouterDataplane(dataplane, WITHOUT_CHORES).remove(desired).catch(() => undefined);
    await destroyLab(spec);
    await run('ip', ['netns', 'del', vm2]).catch(() => undefined);
  });

  it('passes a packet for an unresolved neighbour to the stack, which resolves it and delivers', async () => {
    await run('ip', ['neigh', 'flush', 'all'], { netns: ns.router });
    await resetWitness();
    assert.equal(await pingFip(1), 1, 'the first echo request reached the VM and its reply came back');
    const seen = await witness();
    assert.ok(seen.toVm >= 1, `the stack forwarded the first request (forward hook saw ${seen.toVm})`);
  });

  it('forwards floating-IP packets in both directions past netfilter, and counts them', async () => {
    await pingFip(2); // neighbours on both sides resolved
    await resetWitness();
    const before = (await dataplane.counters(desired)).find((c) => c.floatingIp === FIP);
    assert.equal(await pingFip(10), 10);
    assert.deepEqual(await witness(), { toVm: 0, fromVm: 0 }, 'no packet crossed the forward hook');
    const now = (await dataplane.counters(desired)).find((c) => c.floatingIp === FIP)!;
    assert.ok(now.packetsIn - (before?.packetsIn ?? 0) >= 10, 'inbound packets counted');
    assert.ok(now.packetsOut - (before?.packetsOut ?? 0) >= 10, 'outbound packets counted');
  });

  it('leaves a frame for another MAC to the stack, which drops it; the same frame to the router arrives', async () => {
    await pingFip(2);
    const frame = (dstMac: string, payload: string) => ({
      dstMac,
      saddr: EXT,
      daddr: FIP,
      sport: 4000,
      dport: 5999,
      payload,
      zeroChecksum: false,
    });
    const foreign = await capture(ns.vm, 'eth0', 'udp and dst port 5999', 1, 2);
    await sendCraftedUdp(ns.ext, 'eth0', frame('02:00:5e:10:00:01', 'not-for-this-router'));
    assert.equal((await foreign.done).trim(), '', 'a frame for another MAC never reached the VM');
    const own = await capture(ns.vm, 'eth0', 'udp and dst port 5999', 1, 3);
    await sendCraftedUdp(ns.ext, 'eth0', frame(await macOf(ns.router, 'qg-r1'), 'for-this-router'));
    assert.match(
      await own.done,
      new RegExp(`${EXT.replace(/\./g, '\\.')}\\.4000 > ${FIXED.replace(/\./g, '\\.')}\\.5999`),
    );
  });

  it('hands fast-pathed packets to the veth peers with redirect_peer: right addresses, TTL and MACs in the VM', async () => {
    const actual = await dataplane.read(desired, desired);
    const veths = [await ifindexIn(ns.router, 'qg-r1'), await ifindexIn(ns.router, 'qr-r1')].sort(
      (a, b) => a - b,
    );
    assert.deepEqual(actual.ebpf.peerMap, veths, 'both veths (peers in other namespaces) are in peer_devs');
    await pingFip(2);
    const [vmMacNow, routerMac] = [await macOf(ns.vm, 'eth0'), await macOf(ns.router, 'qr-r1')];
    // Only a request as the router forwards it matches: fixed destination, TTL 64 - 1, the router's MAC to the VM's.
    const seen = await capture(
      ns.vm,
      'eth0',
      `icmp[icmptype] = icmp-echo and src host ${EXT} and dst host ${FIXED} and ip[8] = 63 and ether src ${routerMac} and ether dst ${vmMacNow}`,
      3,
      4,
    );
    const txBefore = { qr: await txPackets(ns.router, 'qr-r1'), qg: await txPackets(ns.router, 'qg-r1') };
    const counted = (await dataplane.counters(desired)).find((c) => c.floatingIp === FIP)!;
    await resetWitness();
    assert.equal(await pingFip(3), 3);
    const out = await seen.done;
    assert.equal(out.match(/ICMP echo request/g)?.length, 3, 'three requests arrived as forwarded');
    assert.doesNotMatch(out, /bad cksum|incorrect/, 'tcpdump -vv found the IP header checksum right');
    assert.deepEqual(await witness(), { toVm: 0, fromVm: 0 }, 'none crossed the forward hook');
    // redirect_peer enters the peer's ingress straight away: the router-side devices transmit none of them.
    const txAfter = { qr: await txPackets(ns.router, 'qr-r1'), qg: await txPackets(ns.router, 'qg-r1') };
    assert.ok(txAfter.qr - txBefore.qr < 3, `qr-r1 transmitted ${txAfter.qr - txBefore.qr} packets`);
    assert.ok(txAfter.qg - txBefore.qg < 3, `qg-r1 transmitted ${txAfter.qg - txBefore.qg} packets`);
    const now = (await dataplane.counters(desired)).find((c) => c.floatingIp === FIP)!;
    assert.ok(now.packetsIn - counted.packetsIn >= 3, 'inbound packets counted');
    assert.ok(now.packetsOut - counted.packetsOut >= 3, 'outbound packets counted');
  });

  it('keeps bpf_redirect for a device that is not a veth with a peer elsewhere (a bridge), and delivers', async () => {
    // A second subnet behind a bridge in the router's namespace: its VM hangs off a veth enslaved to the bridge.
    await run('ip', ['link', 'add', 'br-fp', 'type', 'bridge'], { netns: ns.router });
    await run('ip', ['link', 'add', 'fpv', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm2], {
      netns: ns.router,
    });
    await run('ip', ['link', 'set', 'fpv', 'master', 'br-fp', 'up'], { netns: ns.router });
    await run('ip', ['address', 'add', '10.0.1.1/24', 'dev', 'br-fp'], { netns: ns.router });
    await run('ip', ['link', 'set', 'br-fp', 'up'], { netns: ns.router });
    await run('ip', ['link', 'set', 'lo', 'up'], { netns: vm2 });
    await run('ip', ['address', 'add', `${FIXED2}/24`, 'dev', 'eth0'], { netns: vm2 });
    await run('ip', ['link', 'set', 'eth0', 'up'], { netns: vm2 });
    await run('ip', ['route', 'add', 'default', 'via', '10.0.1.1'], { netns: vm2 });
    const withBridge: DesiredRouter = {
      ...desired,
      internalCidrs: ['10.0.0.0/24', '10.0.1.0/24'],
      mappings: [
        ...desired.mappings,
        { floatingIp: parseIPv4(FIP2), fixedIp: parseIPv4(FIXED2), fixedMac: await macOf(vm2, 'eth0') },
      ],
    };
    await reconcile(dataplane, withBridge);
    const actual = await dataplane.read(withBridge, withBridge);
    assert.ok(actual.ebpf.internalDevices.includes('br-fp'));
    assert.ok(
      !actual.ebpf.peerMap?.includes(await ifindexIn(ns.router, 'br-fp')),
      'the bridge is not in peer_devs',
    );

    const ping = (count: number) =>
      run('ping', ['-c', String(count), '-i', '0.05', '-W', '1', FIP2], {
        netns: ns.ext,
        okExitCodes: [1],
      }).then(({ stdout }) => Number(/(\d+) received/.exec(stdout)?.[1] ?? 0));
    await ping(2); // neighbours resolved
    const txBefore = await txPackets(ns.router, 'br-fp');
    const counted = (await dataplane.counters(withBridge)).find((c) => c.floatingIp === FIP2);
    assert.equal(
      await ping(10),
      10,
      'every request reached the VM behind the bridge and its reply came back',
    );
    // bpf_redirect goes out through the bridge device's transmit, which counts every request.
    assert.ok((await txPackets(ns.router, 'br-fp')) - txBefore >= 10, 'the bridge transmitted the requests');
    const now = (await dataplane.counters(withBridge)).find((c) => c.floatingIp === FIP2)!;
    assert.ok(now.packetsIn - (counted?.packetsIn ?? 0) >= 10, 'inbound packets counted');
    assert.ok(now.packetsOut - (counted?.packetsOut ?? 0) >= 10, 'outbound packets counted');
    await reconcile(dataplane, desired);
  });

  it('follows a re-created internal device: its new ifindex replaces the old one in peer_devs', async () => {
    const old = await ifindexIn(ns.router, 'qr-r1');
    const sw = labNamespaces.switch(spec, r1);
    await run('ip', ['link', 'del', 'qr-r1'], { netns: ns.router });
    await run('ip', ['link', 'add', 'qr-r1', 'type', 'veth', 'peer', 'name', 'sw-r1', 'netns', sw], {
      netns: ns.router,
    });
    await run('ip', ['link', 'set', 'sw-r1', 'master', 'br0', 'up'], { netns: sw });
    await run('ip', ['address', 'add', '10.0.0.1/24', 'dev', 'qr-r1'], { netns: ns.router });
    await run('ip', ['link', 'set', 'qr-r1', 'up'], { netns: ns.router });
    const renewed = await ifindexIn(ns.router, 'qr-r1');
    assert.notEqual(renewed, old);

    await reconcile(dataplane, desired);
    const actual = await dataplane.read(desired, desired);
    const gateway = await ifindexIn(ns.router, 'qg-r1');
    assert.deepEqual(
      actual.ebpf.peerMap,
      [gateway, renewed].sort((a, b) => a - b),
      'the new ifindex is in, the old one out',
    );
    await pingFip(2);
    await resetWitness();
    const txBefore = await txPackets(ns.router, 'qr-r1');
    assert.equal(await pingFip(5), 5);
    assert.deepEqual(await witness(), { toVm: 0, fromVm: 0 }, 'still past the stack');
    assert.ok((await txPackets(ns.router, 'qr-r1')) - txBefore < 5, 'and handed to the new peer directly');
  });

  it('keeps every packet on the stack’s path when the router turns the fast path off, and back', async () => {
    await reconcile(dataplane, { ...desired, fastPath: false });
    await resetWitness();
    assert.equal(await pingFip(10), 10);
    assert.deepEqual(await witness(), { toVm: 10, fromVm: 10 }, 'every packet crossed the forward hook');

    await reconcile(dataplane, desired);
    await resetWitness();
    assert.equal(await pingFip(10), 10);
    assert.deepEqual(await witness(), { toVm: 0, fromVm: 0 });
  });
});
