/**
 * Two builds of the eBPF programs side by side in one forwarding run (issue 17): the objects this tree built
 * (dist/bpf) and another build's (--base DIR, holding sfip_nat.o, for example compiled from an earlier commit's
 * bpf/sfip_nat.c), each with the fast path on and off, beside plain routing, interleaved as the forwarding
 * benchmark interleaves its configurations. The routers' nft tables come from this tree in every configuration,
 * so only the programs differ. Results go to stdout only, never into docs/benchmarks.md.
 *
 *   node --import tsx bench/ebpf-object-ab.ts [--base DIR] [--objects name=file.o,...] [--modes fp,tc] [--reps N] [--packets N] [--fips a,b] [--bytes a,b]
 *
 * Besides CPU time per packet it prints gw_ingress's own run time per run (kernel.bpf_stats_enabled) over the
 * whole run, per configuration. Needs root, two CPUs and the programs of `npm run bench`.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RouterDataplane, WITHOUT_CHORES } from '../src/dataplane/index.js';
import { EbpfDataplane } from '../src/dataplane/ebpf/index.js';
import { DEFAULT_OBJECT_PATH } from '../src/dataplane/ebpf/object.js';
import { tableName } from '../src/dataplane/ebpf/nft.js';
import { run } from '../src/exec/run.js';
import { benchDesired, removeEbpfPins } from './install.js';
import { printCells } from './forwarding/print-cells.js';
import { runForwarding } from './forwarding/run-forwarding.js';
import { gatewayIngressRuns, withBpfStats, type ProgramRuns } from './qos/program-time.js';
import { benchTopology, type BenchRouter } from './topology.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    objects: { type: 'string' },
    modes: { type: 'string', default: 'fp,tc' },
    'nft-variants': { type: 'string', default: '' },
    'no-bpf-stats': { type: 'boolean', default: false },
    reps: { type: 'string', default: '5' },
    packets: { type: 'string', default: '250000' },
    fips: { type: 'string', default: '1' },
    bytes: { type: 'string', default: '46' },
    prefix: { type: 'string', default: 'sfipab' },
  },
});
/** name=object pairs: this tree's build as `new`, --base DIR's sfip_nat.o as `base`, and any --objects. */
const objects: [string, string][] = [
  ['new', DEFAULT_OBJECT_PATH],
  ...(values.base ? [['base', join(values.base, 'sfip_nat.o')] as [string, string]] : []),
  ...(values.objects ?? '')
    .split(',')
    .filter((x) => x !== '')
    .map((x) => x.split('=') as [string, string]),
];
const modes = values.modes!.split(',');
/** Configuration name (at most 13 characters: devices are `g-<name>`) -> object, fast path, router id. */
const CONFIGS = new Map(
  objects.flatMap(([name, objectPath]) =>
    modes.map((mode) => [`${name}-${mode}`, { objectPath, fastPath: mode === 'fp', routerId: randomUUID() }]),
  ),
);
/**
 * Ablations of the router's nft table on the tc path (this tree's objects, fast path off), never configurations
 * to ship: what the hairpin-replies chain and the raw rule's mark clearing cost per packet.
 */
const NFT_VARIANTS: ReadonlyMap<string, (table: string) => string> = new Map([
  ['nohp', (t: string) => `delete chain ip ${t} hairpin_replies\n`],
  [
    'rawbare',
    (t: string) =>
      `flush chain ip ${t} raw_prerouting\nadd rule ip ${t} raw_prerouting meta mark & 0x10000000 == 0x10000000 notrack\n`,
  ],
]);
for (const v of values['nft-variants']!.split(',').filter((x) => x !== '')) {
  if (!NFT_VARIANTS.has(v)) throw new Error(`Unknown nft variant '${v}'`);
  CONFIGS.set(`${v}-tc`, { objectPath: DEFAULT_OBJECT_PATH, fastPath: false, routerId: randomUUID() });
}
const shape = benchTopology(values.prefix!, []);
const runs = new Map<string, ProgramRuns>();

async function load(config: string, r: BenchRouter, fips: number): Promise<void> {
  const c = CONFIGS.get(config)!;
  const dataplane = new EbpfDataplane(undefined, { objectPath: c.objectPath });
  const desired = { ...benchDesired(shape, r, c.routerId, fips), fastPath: c.fastPath };
  await new RouterDataplane(dataplane, WITHOUT_CHORES).reconcile(desired);
  const cut = NFT_VARIANTS.get(config.replace(/-tc$/, ''));
  if (cut) await run('nft', ['-f', '-'], { netns: r.namespace, input: cut(tableName(c.routerId)) });
  runs.set(config, await gatewayIngressRuns(c.routerId));
}

const log = (line: string) => process.stderr.write(line + '\n');
// The scratch objects' gw_ingress time is read over the whole run (below), so stats are on for all of it here,
// as they were for the cost per packet; --no-bpf-stats measures the cost without them.
const forwarding = () =>
  runForwarding({
    prefix: values.prefix!,
    backends: [],
    fipCounts: values.fips!.split(',').map(Number),
    repetitions: Number(values.reps),
    packets: Number(values.packets),
    ratePps: 0,
    ipBytes: values.bytes!.split(',').map(Number),
    scratch: new Map([...CONFIGS.keys()].map((n) => [n, (r: BenchRouter, f: number) => load(n, r, f)])),
    genCpu: 0,
    routerCpu: 1,
    seed: 17,
    bpfStats: false,
    log,
  });
const result = await (values['no-bpf-stats'] ? forwarding() : withBpfStats(forwarding));

printCells(result);
console.log('\ngw_ingress ns/run over the whole run (kernel.bpf_stats_enabled):');
for (const [config, c] of CONFIGS) {
  const before = runs.get(config);
  try {
    const after = await gatewayIngressRuns(c.routerId);
    const n = after.runs - (before?.runs ?? 0);
    console.log(
      `${config.padEnd(12)} ${((after.runTimeNs - (before?.runTimeNs ?? 0)) / n).toFixed(0)} ns over ${n} runs`,
    );
  } catch (error) {
    console.log(`${config.padEnd(12)} unavailable: ${(error as Error).message}`);
  }
}
// The scratch routers' pins outlive their namespaces: nothing else would remove them.
for (const c of CONFIGS.values()) await removeEbpfPins(c.routerId);
