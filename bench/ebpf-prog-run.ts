/**
 * gw_ingress's own cost on the tc path, without the machine's noise (issue 17): each build of the programs
 * (this tree's dist/bpf/sfip_nat.o as `new`, any others as name=file.o) is installed on a lab router with the fast
 * path off, and BPF_PROG_TEST_RUN (`bpftool prog run ... repeat N`) runs its gw_ingress on one inbound UDP packet
 * to the floating IP. The repeats reuse one skb, which the first run rewrites; so the floating IP is mapped to
 * itself (fip2fixed F -> F, written straight into the pinned map): every run then looks up, translates (to the
 * same address, at the same cost), patches checksums and counts, as a real packet does. Builds alternate, round
 * after round; the kernel reports the mean run time of each call. Results go to stdout only.
 *
 *   node --import tsx bench/ebpf-prog-run.ts [--objects name=file.o,...] [--rounds N] [--repeat N]
 *
 * It measures the program alone: not the cache misses of a packet's first touch on a CPU, not the stack after it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RouterDataplane, WITHOUT_CHORES } from '../src/dataplane/index.js';
import { EbpfDataplane } from '../src/dataplane/ebpf/index.js';
import { PIN_ROOT } from '../src/dataplane/ebpf/layout.js';
import { DEFAULT_OBJECT_PATH } from '../src/dataplane/ebpf/object.js';
import { listGenerations } from '../src/dataplane/ebpf/read.js';
import type { DesiredRouter } from '../src/dataplane/types.js';
import { run } from '../src/exec/run.js';
import { buildLab, destroyLab, labNamespaces, labRouter, type LabSpec } from '../src/lab/index.js';
import type { IPv4 } from '../src/model/index.js';
import { removeEbpfPins } from './install.js';
import { summarize } from './stats.js';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '' },
    rounds: { type: 'string', default: '7' },
    repeat: { type: 'string', default: '2000000' },
  },
});
const objects: [string, string][] = [
  ['new', DEFAULT_OBJECT_PATH],
  ...values
    .objects!.split(',')
    .filter((x) => x !== '')
    .map((x) => x.split('=') as [string, string]),
];

// One router, one VM: the demo's addresses.
const spec: LabSpec = { prefix: `tpr${process.pid % 10000}`, routers: [labRouter('r1', '203.0.113', 1)] };
const r1 = spec.routers[0]!;
const FIP = '203.0.113.21';
const desired = (routerId: string): DesiredRouter => ({
  routerId,
  namespace: labNamespaces.router(spec, r1),
  gatewayDevice: 'qg-r1',
  gatewayIp: '203.0.113.2' as IPv4,
  internalCidrs: ['10.0.0.0/24'],
  mappings: [{ floatingIp: FIP as IPv4, fixedIp: '10.0.0.11' as IPv4 }],
  fastPath: false,
});

/** 64-byte frame: Ethernet, IPv4 (46 bytes) 203.0.113.1 -> FIP, UDP 40000 -> 9 with a checksum, 18 bytes of 0x42. */
function frame(): Buffer {
  const b = Buffer.alloc(60, 0x42);
  b.writeUIntBE(0x020000000001, 0, 6);
  b.writeUIntBE(0x020000000002, 6, 6);
  b.writeUInt16BE(0x0800, 12);
  const ip = Buffer.from([
    0x45,
    0,
    0,
    46,
    0,
    1,
    0,
    0,
    64,
    17,
    0,
    0,
    203,
    0,
    113,
    1,
    ...FIP.split('.').map(Number),
  ]);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  ip.copy(b, 14);
  b.writeUInt16BE(40000, 34);
  b.writeUInt16BE(9, 36);
  b.writeUInt16BE(26, 38);
  b.writeUInt16BE(0x1234, 40);
  return b;
}

const hexBytes = (ip: string) => ip.split('.').map((o) => `0x${Number(o).toString(16).padStart(2, '0')}`);
const dir = await mkdtemp(join(tmpdir(), 'sfip-prog-run-'));
const packet = join(dir, 'frame.bin');
await writeFile(packet, frame());
const routers = objects.map(([name, objectPath]) => ({ name, objectPath, routerId: randomUUID() }));
const times = new Map<string, number[]>(objects.map(([name]) => [name, []]));
await destroyLab(spec);
await buildLab(spec);
try {
  const programs = new Map<string, string>();
  for (const r of routers) {
    await new RouterDataplane(
      new EbpfDataplane(undefined, { objectPath: r.objectPath }),
      WITHOUT_CHORES,
    ).reconcile(desired(r.routerId));
    const routerDir = join(PIN_ROOT, r.routerId);
    const [generation] = await listGenerations(routerDir);
    await run('bpftool', [
      'map',
      'update',
      'pinned',
      join(routerDir, generation!, 'fip2fixed'),
      'key',
      ...hexBytes(FIP),
      'value',
      ...hexBytes(FIP),
    ]);
    programs.set(r.name, join(routerDir, generation!, 'progs', 'gw_ingress'));
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const r of round % 2 ? [...routers].reverse() : routers) {
      const { stdout, stderr } = await run('bpftool', [
        'prog',
        'run',
        'pinned',
        programs.get(r.name)!,
        'data_in',
        packet,
        'repeat',
        values.repeat!,
      ]);
      const m = /duration \(average\): (\d+)ns/.exec(stdout + stderr);
      if (!m) throw new Error(`bpftool prog run said: ${stdout}${stderr}`);
      times.get(r.name)!.push(Number(m[1]));
    }
  }
} finally {
  await destroyLab(spec);
  for (const r of routers) await removeEbpfPins(r.routerId);
  await rm(dir, { recursive: true, force: true });
}
console.log(`gw_ingress, tc path, ns per run (BPF_PROG_TEST_RUN, ${values.repeat} repeats per call):`);
for (const [name, t] of times) {
  const s = summarize(t);
  console.log(`${name.padEnd(10)} median ${s.median}  min–max ${s.min}–${s.max}  [${t.join(' ')}]`);
}
