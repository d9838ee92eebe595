/**
 * Forwarding cost through a floating IP, side by side in one run: plain routing (no sfip state at all), the
 * eBPF backend and the nftables backend, interleaved repetition by repetition, for one long flow and for a new
 * flow in every packet. Method from shared/notes/kernel-and-dataplane.md: the router's receive work is steered
 * to CPU 1 with RPS, trafgen sends rate-limited from CPU 0, the sink counts delivered packets with an nft
 * `counter drop` at prerouting, and the cost is CPU 1's softirq time per delivered packet. On a
 * shared 2-core machine every number is provisional: other work on CPU 1 is counted too. Needs root and trafgen
 * (Debian package netsniff-ng, not installed by scripts/setup.sh: only this benchmark uses it).
 *
 *   node --import tsx bench/ebpf-forwarding.ts [reps=5] [packets=300000] [rate=100000]
 */
import { randomUUID } from 'node:crypto';
import { RouterDataplane, WITHOUT_CHORES } from '../src/dataplane/index.js';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EbpfDataplane } from '../src/dataplane/ebpf/index.js';
import { NftablesDataplane } from '../src/dataplane/nftables/nftables-backend.js';
import type { Dataplane, DesiredRouter } from '../src/dataplane/types.js';
import { run } from '../src/exec/run.js';
import { buildLab, destroyLab, labNamespaces, labRouter, type LabSpec } from '../src/lab/index.js';
import type { IPv4 } from '../src/model/index.js';

const reps = Number(process.argv[2] ?? 5);
const packets = Number(process.argv[3] ?? 300_000);
const rate = Number(process.argv[4] ?? 100_000);

// One router, one VM: the demo's addresses.
const spec: LabSpec = { prefix: `tbf${process.pid % 10000}`, routers: [labRouter('r1', '203.0.113', 1)] };
const r1 = spec.routers[0]!;
const ns = {
  ext: labNamespaces.external(spec, r1),
  router: labNamespaces.router(spec, r1),
  vm: labNamespaces.vm(spec, r1, r1.vms[0]!),
};
const FIP = '203.0.113.21';
const desired: DesiredRouter = {
  routerId: randomUUID(),
  namespace: ns.router,
  gatewayDevice: 'qg-r1',
  gatewayIp: '203.0.113.2' as IPv4,
  internalCidrs: ['10.0.0.0/24'],
  mappings: [{ floatingIp: FIP as IPv4, fixedIp: '10.0.0.11' as IPv4 }],
};

type Config = { name: string; dataplane: Dataplane | null; destination: string };
const configs: Config[] = [
  { name: 'plain routing', dataplane: null, destination: '10.0.0.11' },
  { name: 'eBPF backend', dataplane: new EbpfDataplane(), destination: FIP },
  { name: 'nftables backend', dataplane: new NftablesDataplane(), destination: FIP },
];
const modes = [
  { name: 'one flow', sport: '40000' },
  { name: 'new flow per packet', sport: 'drnd()' },
];

async function mac(namespace: string, device: string): Promise<string> {
  const { stdout } = await run('ip', ['-j', 'link', 'show', 'dev', device], { netns: namespace });
  return (JSON.parse(stdout) as { address: string }[])[0]!.address;
}

/**
 * CPU 1's softirq time, in USER_HZ ticks (10 ms). All of the router's forwarding runs there in NET_RX softirq
 * (RPS, then veth and bridge hops on the same CPU). The notes' system+irq+softirq also counts other processes'
 * system calls, which on a shared machine swamped the signal (plain routing ranged 900-5400 ns in one run).
 */
async function cpu1Busy(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n').find((l) => l.startsWith('cpu1 '))!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return f[6]!;
}

async function delivered(): Promise<number> {
  const { stdout } = await run('nft', ['-j', 'list', 'table', 'inet', 'tbsink'], { netns: ns.vm });
  const objects = (
    JSON.parse(stdout) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }
  ).nftables;
  for (const o of objects) for (const e of o.rule?.expr ?? []) if (e.counter) return e.counter.packets;
  return 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const cfgFile = join(tmpdir(), `sfip-trafgen-${process.pid}.cfg`);
const results = new Map<string, { nsPerPacket: number[]; deliveredShare: number[] }>();

await run('trafgen', ['-v']).catch(() => {
  throw new Error('trafgen is missing: apt-get install netsniff-ng (this benchmark sends with it)');
});
await destroyLab(spec);
await buildLab(spec);
try {
  await run('ip', ['route', 'add', '10.0.0.0/24', 'via', '203.0.113.2'], { netns: ns.ext });
  await run('nft', ['-f', '-'], {
    netns: ns.vm,
    input:
      'table inet tbsink { chain pre { type filter hook prerouting priority -400; udp dport 9 counter drop; }; }\n',
  });
  // The router's receive work on CPU 1; the generator is pinned to CPU 0.
  await run('tee', ['/sys/class/net/qg-r1/queues/rx-0/rps_cpus'], { netns: ns.router, input: '2\n' });
  await run('ping', ['-c', '1', '-W', '1', '10.0.0.11'], { netns: ns.router });
  const gwMac = await mac(ns.router, 'qg-r1');
  const extMac = await mac(ns.ext, 'eth0');
  for (let rep = 0; rep < reps; rep++) {
    for (const config of configs) {
      if (config.dataplane) {
        await new RouterDataplane(config.dataplane, WITHOUT_CHORES).reconcile(desired);
      }
      for (const mode of modes) {
        await writeFile(
          cfgFile,
          `{ eth(da=${gwMac}, sa=${extMac}, type=0x0800), ipv4(saddr=203.0.113.1, daddr=${config.destination}, ttl=64), udp(sp=${mode.sport}, dp=9), fill(0x42, 18) }\n`,
        );
        const before = [await delivered(), await cpu1Busy()] as const;
        await run(
          'taskset',
          [
            '-c',
            '0',
            'trafgen',
            '-i',
            cfgFile,
            '-o',
            'eth0',
            '-P',
            '1',
            '-b',
            `${rate}pps`,
            '-n',
            String(packets),
            '-q',
          ],
          { netns: ns.ext, timeoutMs: 120_000 },
        );
        await new Promise((r) => setTimeout(r, 200));
        const got = (await delivered()) - before[0];
        const ticks = (await cpu1Busy()) - before[1];
        const key = `${config.name} | ${mode.name}`;
        const entry = results.get(key) ?? { nsPerPacket: [], deliveredShare: [] };
        entry.nsPerPacket.push(got > 0 ? (ticks * 10e6) / got : Infinity);
        entry.deliveredShare.push(got / packets);
        results.set(key, entry);
      }
      if (config.dataplane) await new RouterDataplane(config.dataplane, WITHOUT_CHORES).remove(desired);
    }
  }
} finally {
  await rm(cfgFile, { force: true });
  await destroyLab(spec);
}

console.log(
  `${packets} packets at ${rate} pps per run, ${reps} interleaved repetitions; median CPU 1 softirq ns per delivered packet`,
);
console.log('| configuration | flows | ns/packet (median) | runs | delivered | vs plain |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const mode of modes) {
  const plain = median(results.get(`plain routing | ${mode.name}`)!.nsPerPacket);
  for (const config of configs) {
    const r = results.get(`${config.name} | ${mode.name}`)!;
    const m = median(r.nsPerPacket);
    console.log(
      `| ${config.name} | ${mode.name} | ${m.toFixed(0)} | ${r.nsPerPacket.map((x) => x.toFixed(0)).join(', ')} | ${(
        median(r.deliveredShare) * 100
      ).toFixed(1)}% | ${(m / plain).toFixed(2)}× |`,
    );
  }
}
