/**
 * What each part of the nftables backend's table costs per packet (issue 17, item 4): the forwarding benchmark's
 * method (bench/forwarding/), with plain routing, the nftables backend as it installs itself, and scratch copies of
 * its table with parts removed, side by side in one run. The scratch tables are the product's own rendering
 * (renderFull) with lines cut out as text: they forward the benchmark's inbound traffic, and nothing else is
 * claimed for them. Results go to stdout only, never into docs/benchmarks.md.
 *
 *   node --import tsx bench/nft-ablation.ts [--reps N] [--packets N] [--fips a,b] [--variants a,b] [--prefix P]
 *                                           [--no-backend] [--baseline-src DIR] [--without-plain]
 *
 * --baseline-src adds 'nft-base': the table as another source tree renders it (for example an earlier commit's
 * src/, exported with `git archive <commit> src | tar -x -C .base`), to compare a change with what it replaced.
 *
 * --without-plain (with one configuration left) lets a profiler on the router CPU attribute every sample to that
 * configuration, which a loaded machine does not blur as it blurs /proc/stat's CPU time:
 *   perf record -e cpu-clock -F 1999 -g -C 1 -o out.perf -- node --import tsx bench/nft-ablation.ts --no-backend \
 *     --variants nft-copy --without-plain
 *   perf report -i out.perf --children --sort sym --stdio -g none   (net_rx_action, nf_hook_slow, nft_do_chain...)
 *
 * Needs root, two CPUs and the programs of `npm run bench`.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../src/exec/run.js';
import { renderFull } from '../src/dataplane/nftables/render.js';
import { benchDesired } from './install.js';
import { benchRouterId, runForwarding, type ForwardingSample } from './forwarding/run-forwarding.js';
import { summarize } from './stats.js';
import { benchTopology, type BenchRouter } from './topology.js';

/** A variant's table: the rendered lines, some taken out. */
type Cut = (lines: readonly string[]) => string[];

const withoutRules =
  (pattern: RegExp): Cut =>
  (lines) =>
    lines.filter((l) => !(l.startsWith('    ') && !l.includes(' type ') && pattern.test(l)));

/** Drops whole chains (regular or base) by name. */
const withoutChains =
  (...names: string[]): Cut =>
  (lines) => {
    const out: string[] = [];
    let skipping = false;
    for (const l of lines) {
      if (names.some((n) => l === `  chain ${n} {`)) skipping = true;
      else if (skipping && l === '  }') skipping = false;
      else if (!skipping) out.push(l);
    }
    return out;
  };

const both =
  (...cuts: Cut[]): Cut =>
  (lines) =>
    cuts.reduce<string[]>((ls, cut) => cut(ls), [...lines]);

/** Every rule of raw_prerouting except the 1:1 translation. */
const rawOnlyTranslate: Cut = (lines) => {
  let inRaw = false;
  return lines.filter((l) => {
    if (l === '  chain raw_prerouting {') inRaw = true;
    else if (inRaw && l === '  }') inRaw = false;
    else if (inRaw && l.startsWith('    ') && !l.includes(' type ') && !l.includes('map @fip2fixed notrack'))
      return false;
    return true;
  });
};

/** Variant names become device names (`g-<name>`, at most 15 characters). */
const VARIANTS: ReadonlyMap<string, Cut> = new Map<string, Cut>([
  ['nft-copy', (ls) => [...ls]],
  ['nft-noqos', withoutRules(/@qos_/)],
  ['nft-nocount', withoutRules(/@fipcount_/)],
  ['nft-noicmp', withoutRules(/jump icmp_errors/)],
  ['nft-nospoof', withoutRules(/(ip daddr \{|@fixed_macs).* drop comment/)],
  ['nft-nonat', withoutChains('nat_prerouting', 'nat_postrouting')],
  ['nft-nopost', withoutChains('stateless_postrouting')],
  ['nft-raw1nat', both(rawOnlyTranslate, withoutChains('stateless_postrouting'))],
  [
    'nft-raw1',
    both(rawOnlyTranslate, withoutChains('stateless_postrouting', 'nat_prerouting', 'nat_postrouting')),
  ],
]);

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    packets: { type: 'string', default: '250000' },
    fips: { type: 'string', default: '1' },
    variants: { type: 'string' },
    prefix: { type: 'string', default: 'sfipabl' },
    'no-backend': { type: 'boolean', default: false },
    'baseline-src': { type: 'string' },
    'without-plain': { type: 'boolean', default: false },
  },
});
type Render = typeof renderFull;
const baseline = values['baseline-src']
  ? (
      (await import(resolve(values['baseline-src'], 'dataplane/nftables/render.ts'))) as {
        renderFull: Render;
      }
    ).renderFull
  : undefined;
const BASELINE = 'nft-base';
const names = [
  ...(values.variants === '' ? [] : values.variants ? values.variants.split(',') : [...VARIANTS.keys()]),
  ...(baseline ? [BASELINE] : []),
];
for (const n of names) if (!VARIANTS.has(n) && n !== BASELINE) throw new Error(`Unknown variant '${n}'`);
const shape = benchTopology(values.prefix!, []);

async function load(variant: string, r: BenchRouter, fips: number): Promise<void> {
  const render = variant === BASELINE ? baseline! : renderFull;
  const text = render(benchDesired(shape, r, benchRouterId(variant), fips));
  const cut = VARIANTS.get(variant) ?? ((ls: readonly string[]) => [...ls]);
  await run('nft', ['-f', '-'], { netns: r.namespace, input: cut(text.split('\n')).join('\n') });
}

const result = await runForwarding({
  prefix: values.prefix!,
  backends: values['no-backend'] ? [] : ['nftables'],
  fipCounts: values.fips!.split(',').map(Number),
  repetitions: Number(values.reps),
  packets: Number(values.packets),
  ratePps: 0,
  ipBytes: [46],
  withoutPlain: values['without-plain'],
  scratch: new Map(names.map((n) => [n, (r: BenchRouter, fips: number) => load(n, r, fips)])),
  genCpu: 0,
  routerCpu: 1,
  seed: 17,
  log: (line) => process.stderr.write(line + '\n'),
});

const cell = (s: readonly ForwardingSample[]) => summarize(s.map((x) => x.nsPerPacket)).median;
for (const fips of new Set(result.samples.map((s) => s.fips))) {
  for (const pattern of ['one-flow', 'new-flows'] as const) {
    const of = (config: string) =>
      result.samples.filter((s) => s.fips === fips && s.pattern === pattern && s.config === config);
    const plain = cell(of('plain'));
    console.log(`\n${fips} FIPs, ${pattern}: median ns/packet, × plain, packets/softirq, samples`);
    for (const config of result.configs) {
      const s = of(config);
      const ns = cell(s);
      const batching = summarize(
        s.map((x) => (x.netRxSoftirqs ? x.delivered / x.netRxSoftirqs : NaN)),
      ).median;
      const spread = s.map((x) => x.nsPerPacket.toFixed(0)).join(' ');
      console.log(
        `${config.padEnd(12)} ${ns.toFixed(0).padStart(6)}  ${(ns / plain).toFixed(2)}×  ${batching.toFixed(1)}  [${spread}]`,
      );
    }
  }
}
