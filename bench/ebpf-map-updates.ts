/**
 * How fast can 100,000 floating IPs be written into, read back from and deleted from a pinned BPF hash map?
 * Compares the ways the brief allows: the `bpf` npm package's batch syscalls (what the backend uses), the same
 * package one entry per syscall, and a bpftool batch file (one process, one syscall per line). Each method runs
 * REPS times on a fresh map, interleaved; the median is reported. Then the whole backend once: the first apply
 * of a router with that many floating IPs (generation, maps, programs, nft, tc and a local route per floating
 * address), and the read + plan a restarted agent does (nothing to change). Needs root and bpffs.
 *
 *   node --import tsx bench/ebpf-map-updates.ts [entries=100000] [reps=5]
 */
import { mkdir, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { run } from '../src/exec/run.js';
import { changeAddressMap, openPinnedMap, readAddressMap } from '../src/dataplane/ebpf/maps.js';
import { addressBytes } from '../src/dataplane/ebpf/values.js';
import { EbpfDataplane } from '../src/dataplane/ebpf/index.js';
import type { DesiredRouter } from '../src/dataplane/types.js';
import { ipv4FromUint32, type IPv4 } from '../src/model/index.js';

const entries = Number(process.argv[2] ?? 100_000);
const reps = Number(process.argv[3] ?? 5);
const dir = `/sys/fs/bpf/sfip/bench-${process.pid}`;
const path = `${dir}/fip2fixed`;

const pairs: [string, string][] = Array.from({ length: entries }, (_, i) => [
  ipv4FromUint32(0xc6120000 + i), // 198.18.0.0/15, the benchmarking range
  ipv4FromUint32(0x0a000000 + i),
]);

async function freshMap(): Promise<void> {
  await rm(path, { force: true });
  await run('bpftool', [
    'map',
    'create',
    path,
    'type',
    'hash',
    'key',
    '4',
    'value',
    '4',
    'entries',
    String(262_144),
    'name',
    'bench',
    'flags',
    '1',
  ]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => Promise<void> | void): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const hexBytes = (ip: string) =>
  [...addressBytes(ip)].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');

const results: Record<string, number[]> = {};
const record = (name: string, ms: number) => (results[name] ??= []).push(ms);

await mkdir(dir, { recursive: true });
try {
  for (let rep = 0; rep < reps; rep++) {
    await freshMap();
    const map = openPinnedMap(path)!;
    record(
      'bpf package, batch syscalls (8192/call): insert',
      await time(() => changeAddressMap(map, { remove: [], set: pairs }, (k) => k)),
    );
    let read = 0;
    record(
      'bpf package, batch syscalls: read back',
      await time(async () => void (read = (await readAddressMap(map)).size)),
    );
    if (read !== entries) throw new Error(`read back ${read} entries, expected ${entries}`);
    record(
      'bpf package, batch syscalls: delete',
      await time(() => changeAddressMap(map, { remove: pairs.map(([k]) => k), set: [] }, (k) => k)),
    );
    record(
      'bpf package, one syscall per entry: insert',
      await time(() => {
        for (const [k, v] of pairs) map.raw.set(addressBytes(k), addressBytes(v));
      }),
    );
    map.close();

    await freshMap();
    const file =
      pairs.map(([k, v]) => `map update pinned ${path} key ${hexBytes(k)} value ${hexBytes(v)}`).join('\n') +
      '\n';
    record(
      'bpftool batch file (one process): insert',
      await time(
        async () => void (await run('bpftool', ['batch', 'file', '-'], { input: file, timeoutMs: 600_000 })),
      ),
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

// The whole backend, in a scratch namespace with a gateway and an internal device.
const namespace = `tbbench-${process.pid}`;
const backend: Record<string, number> = {};
await run('ip', ['netns', 'add', namespace]);
try {
  const ip = (...args: string[]) => run('ip', ['-n', namespace, ...args]);
  await ip('link', 'add', 'qg-b', 'type', 'veth', 'peer', 'name', 'qr-b');
  await ip('addr', 'add', '198.18.255.254/15', 'dev', 'qg-b');
  await ip('addr', 'add', '10.255.255.254/8', 'dev', 'qr-b');
  await ip('link', 'set', 'qg-b', 'up');
  await ip('link', 'set', 'qr-b', 'up');
  const desired: DesiredRouter = {
    routerId: `bench-${process.pid}`,
    namespace,
    gatewayDevice: 'qg-b',
    gatewayIp: '198.18.255.254' as IPv4,
    internalCidrs: ['10.0.0.0/8'],
    mappings: pairs.map(([floatingIp, fixedIp]) => ({
      floatingIp: floatingIp as IPv4,
      fixedIp: fixedIp as IPv4,
    })),
  };
  const dataplane = new EbpfDataplane();
  let actual = await dataplane.read(desired, desired);
  let plan = dataplane.plan(desired, actual);
  backend['first apply (generation, maps, programs, nft, tc, local routes)'] = await time(() =>
    dataplane.apply(plan),
  );
  backend['restart: read back'] = await time(
    async () => void (actual = await dataplane.read(desired, desired)),
  );
  backend['restart: plan'] = await time(() => void (plan = dataplane.plan(desired, actual)));
  if (plan.batch !== null) throw new Error(`a restart found something to change: ${plan.batch}`);
} finally {
  await new EbpfDataplane().remove({ routerId: `bench-${process.pid}`, namespace, gatewayDevice: 'qg-b' });
  await run('ip', ['netns', 'del', namespace]);
}

console.log(`${entries} entries, median of ${reps} runs (ms):`);
for (const [name, xs] of Object.entries(results)) {
  console.log(
    `  ${name.padEnd(52)} ${median(xs).toFixed(1).padStart(9)}   (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`,
  );
}
console.log(`backend, one run (ms):`);
for (const [name, ms] of Object.entries(backend))
  console.log(`  ${name.padEnd(52)} ${ms.toFixed(1).padStart(9)}`);
