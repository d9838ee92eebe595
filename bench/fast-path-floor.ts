/**
 * How low can a tc-ingress fast path on veth go (issue 17, goal: the eBPF fast path at most 0.8 × plain routing)?
 * The forwarding benchmark's method (bench/forwarding/), side by side in one run:
 *   plain        plain routing, no NAT (the limit the goals are ratios to);
 *   floor-peer   a tc ingress program that hands every packet to the sink with bpf_redirect_peer, nothing else;
 *   floor-fib    the same after bpf_fib_lookup, the TTL and the MAC rewrite: a forwarder without NAT;
 *   ebpf         sfip's fast path (and ebpf-tcpath, the same backend with it off).
 * The floor programs (bench/fast-path-floor/floor.c) are built here with clang and attached with tc; traffic to
 * them goes to the fixed address. Results go to stdout only.
 *
 *   node --import tsx bench/fast-path-floor.ts [--reps N] [--packets N] [--bytes 46,1500] [--fips a,b] [--prefix P]
 *                                              [--burst-us N]
 *
 * The floors forward faster than the generator writes, so with frame-by-frame delivery they batch fewer packets per
 * softirq than the others and pay more of its fixed cost per packet; --burst-us hands the router CPU its packets in
 * bursts (bench/forwarding/rps.ts burstReceive), the same for every configuration.
 *
 * Needs root, two CPUs, clang and libbpf-dev, and the programs of `npm run bench`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../src/exec/run.js';
import { printCells } from './forwarding/print-cells.js';
import { runForwarding } from './forwarding/run-forwarding.js';
import { benchTopology, type BenchRouter } from './topology.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    packets: { type: 'string', default: '250000' },
    bytes: { type: 'string', default: '46,1500' },
    fips: { type: 'string', default: '1' },
    prefix: { type: 'string', default: 'ff' },
    'burst-us': { type: 'string' },
  },
});

const SOURCE = resolve(import.meta.dirname, 'fast-path-floor/floor.c');
/** Configuration name -> the build's extra flags (one program per object, in section "tc"). */
const FLOORS: ReadonlyMap<string, readonly string[]> = new Map([
  ['floor-peer', []],
  ['floor-fib', ['-DFLOOR_FIB']],
]);
const shape = benchTopology(values.prefix!, []);
const scratchDir = await mkdtemp(join(tmpdir(), 'sfip-floor-'));

async function attach(config: string, r: BenchRouter): Promise<void> {
  const { stdout } = await run('ip', ['-n', r.namespace, '-j', 'link', 'show', 'dev', shape.internalDevice]);
  const ifindex = (JSON.parse(stdout) as { ifindex: number }[])[0]!.ifindex;
  const object = join(scratchDir, `${config}.o`);
  const { stdout: multiarch } = await run('clang', ['-print-multiarch']);
  await run('clang', [
    '-O2',
    '-g',
    '-Wall',
    '-Werror',
    '-target',
    'bpf',
    '-mcpu=v3',
    ...(multiarch.trim() ? [`-I/usr/include/${multiarch.trim()}`] : []),
    `-DOUT_IFINDEX=${ifindex}`,
    ...FLOORS.get(config)!,
    '-c',
    SOURCE,
    '-o',
    object,
  ]);
  const dev = shape.gatewayDevice;
  await run('tc', ['qdisc', 'replace', 'dev', dev, 'clsact'], { netns: r.namespace });
  await run(
    'tc',
    [
      'filter',
      'replace',
      'dev',
      dev,
      'ingress',
      'pref',
      '1',
      'handle',
      '1',
      'bpf',
      'da',
      'obj',
      object,
      'sec',
      'tc',
    ],
    { netns: r.namespace },
  );
}

const log = (line: string) => process.stderr.write(line + '\n');
try {
  const result = await runForwarding({
    prefix: values.prefix!,
    backends: ['ebpf'],
    fipCounts: values.fips!.split(',').map(Number),
    repetitions: Number(values.reps),
    packets: Number(values.packets),
    ratePps: 0,
    ipBytes: values.bytes!.split(',').map(Number),
    scratch: new Map([...FLOORS.keys()].map((n) => [n, (r: BenchRouter) => attach(n, r)])),
    untranslated: new Set(FLOORS.keys()),
    ...(values['burst-us'] && { burstUs: Number(values['burst-us']) }),
    bpfStats: false,
    genCpu: 0,
    routerCpu: 1,
    seed: 23,
    log,
  });
  printCells(result);
} finally {
  await rm(scratchDir, { recursive: true, force: true });
}
