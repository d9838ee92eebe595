/**
 * `npm run bench`: forwarding, conntrack exhaustion, control plane and backend switching, then
 * docs/benchmarks.md and its plots from the JSON results. Needs root (namespaces) and a built dist/ (the npm
 * script builds first). Options:
 *   --profile full|medium|small|smoke  sizes (default full; medium stops the control plane at 10,000 FIPs;
 *                            small: the forwarding matrix at 1 and 100,000 FIPs, for a loaded machine)
 *   --only a,b               forwarding, exhaustion, control, switch (default all four); the others keep the
 *                            results of the previous run of the same profile. Opt-in: churn (floating IPs
 *                            churning under tagged traffic, per backend) and crash (SIGKILLed agent and API),
 *                            which write their own marked sections of benchmarks.md; metrics (/metrics scrape
 *                            time and API show p99 with and without scrapes at 1k/10k/100k, bench/metrics/); and
 *                            scale (issue 15: the control plane at 1,000 to 100,000 floating IPs through the
 *                            daemon on one router and on 100 routers × 1,000, per backend, --backends default
 *                            nftables,ebpf,iptables), its own marked section too;
 *                            bgp (issue 20: association to route at a BGP peer, failover BGP + BFD against
 *                            GARP, in the routed lab, and 100,000 routes announced at once; bench/bgp/), its
 *                            own marked section;
 *                            port-forwarding (issue 18: per-packet cost through a forwarded port with 1, 1,000
 *                            and 10,000 forwardings on nftables, eBPF and the iptables baseline, beside 1:1
 *                            floating IPs; writes DIR/benchmarks/port-forwarding.md, bench/port-forwarding/);
 *                            qos (issue 19: one floating IP's limit update with 1, 1,000 and 10,000 limited
 *                            floating IPs, and the per-packet cost of a limited floating IP, on nftables and
 *                            eBPF; its marked section of benchmarks.md and qos.md, bench/qos/);
 *                            tc-guest (issue 17: the tc backend against plain routing, both in the act_nat guest
 *                            under qemu -icount; its marked section of benchmarks.md, bench/tc-guest/)
 *   --bgp-ttl a,b            lease TTLs (s) the bgp suite compares failover at (default 2)
 *   --scale-topologies RxN,...  the scale suite's topologies: R routers with N floating IPs each, e.g.
 *                            1x100000,100x1000 (issue 15's two)
 *   --scale-counts a,b --scale-samples N --scale-fill N   one router with each count (short for
 *                            --scale-topologies 1xa,1xb), samples per topology, floating IPs filled through the
 *                            API per topology (0: no fill)
 *   --scale-churn RATE/SECONDS  the scale suite's association churn, e.g. 1000/60 (0/0: none)
 *   --scale-fill-workers default|N|none  the API workers of the scale suite's last fill, its headline (default:
 *                            default, one per core, as `sfip serve` runs; none: only the 0-worker fills)
 *   --burst-us N             forwarding: hand the router CPU its packets in bursts of N µs (0: frame by frame; default
 *                            the profile's, see bench/forwarding/rps.ts burstReceive)
 *   --backends a,b           backends for forwarding and exhaustion (default every one that passes its checks)
 *   --prefix P               namespace prefix (default sfipbench)
 *   --out DIR                where benchmarks.md, benchmarks/*.png and benchmarks/results.json go (default docs)
 *   --report-only            regenerate the document and plots from DIR/benchmarks/results.json
 */
import { runBgpSuite } from './bgp/run-suite.js';
import { execFileSyncProgram as execFileSync } from '../src/exec/spawn.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, parseBackendName, type BackendName } from '../src/model/index.js';
import { runControl } from './control/run-control.js';
import { runSwitch } from './control/run-switch.js';
import { parseTopologies, runScaleSuite } from './control/run-scale-suite.js';
import type { ScaleShape } from './control/scale-topology.js';
import { parseApiWorkers, type ApiWorkersSetting } from './control/processes.js';
import { runChurnSuite } from './churn/run-suite.js';
import { runCrashSuite } from './crash/run-suite.js';
import { runMetricsSuite } from './metrics/run-suite.js';
import { runPortForwardingSuite } from './port-forwarding/run-suite.js';
import { runQosSuite } from './qos/run-suite.js';
import { runTcGuestSuite } from './tc-guest/run-suite.js';

import { runExhaustion } from './exhaustion.js';
import { runForwarding } from './forwarding/run-forwarding.js';
import { PROFILES } from './profiles.js';
import { readResults, writeReport } from './report/write-report.js';
import type { BenchResults } from './results.js';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'full' },
    only: { type: 'string' },
    backends: { type: 'string' },
    prefix: { type: 'string', default: 'sfipbench' },
    'bgp-ttl': { type: 'string' },
    out: { type: 'string', default: 'docs' },
    'report-only': { type: 'boolean', default: false },
    port: { type: 'string', default: '19696' },
    'scale-counts': { type: 'string' },
    'scale-samples': { type: 'string' },
    'burst-us': { type: 'string' },
    'scale-fill': { type: 'string' },
    'scale-churn': { type: 'string' },
    'scale-topologies': { type: 'string' },
    'scale-fill-workers': { type: 'string' },
  },
});

const log = (line: string) => console.log(`[bench] ${line}`);
const tool = (file: string, args: string[]) => {
  try {
    return execFileSync(file, args, { encoding: 'utf8' }).trim().split('\n')[0]!;
  } catch {
    return `${file}: not available`;
  }
};

async function main(): Promise<void> {
  const out = values.out!;
  if (values['report-only']) {
    await writeReport(readResults(out), out);
    log(`wrote ${out}/benchmarks.md from ${out}/benchmarks/results.json`);
    return;
  }
  const profile = PROFILES[values.profile!];
  if (!profile)
    throw new Error(`Unknown profile '${values.profile}': expected ${Object.keys(PROFILES).join(' or ')}`);
  const suites = new Set((values.only ?? 'forwarding,exhaustion,control,switch').split(','));
  const known = [
    'forwarding',
    'exhaustion',
    'control',
    'switch',
    'churn',
    'crash',
    'metrics',
    'scale',
    'port-forwarding',
    'qos',
    'bgp',
    'tc-guest',
  ];
  for (const s of suites) {
    if (!known.includes(s))
      throw new Error(`Unknown suite '${s}' in --only: expected one of ${known.join(', ')}`);
  }
  const backends: BackendName[] = values.backends
    ? values.backends.split(',').map((b) => parseBackendName(b))
    : BACKEND_NAMES.filter((b) => b !== 'fake');
  const prefix = values.prefix!;
  const port = Number(values.port);
  // The fault suites write their own sections; they run first, so a failure elsewhere cannot lose their results.
  if (suites.has('churn')) {
    await runChurnSuite({
      profileName: profile.name,
      profile: profile.churn,
      ...(values.backends && { backends }),
      prefix: `${prefix}c`,
      port: port + 10,
      out,
      log,
    });
  }
  if (suites.has('scale')) {
    await runScaleSuite({
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
      profileName: profile.name,
      profile: {
        ...profile.scale,
        topologies: scaleTopologies(profile.scale.topologies),
        ...(values['scale-samples'] && { latencySamples: Number(values['scale-samples']) }),
        ...(values['scale-fill'] && { fillCount: Number(values['scale-fill']) }),
        ...(values['scale-churn'] && { churn: parseChurn(values['scale-churn']) }),
        ...fillWorkers(values['scale-fill-workers']),
      },
      backends: values.backends ? backends : ['nftables', 'ebpf', 'iptables'],
      prefix: `${prefix}s`,
      port: port + 30,
      out,
      log,
    });
  }
  if (suites.has('crash')) {
    await runCrashSuite({
      profileName: profile.name,
      ...profile.crash,
      ...(values.backends && { backends }),
      prefix: `${prefix}k`,
      port: port + 20,
      out,
      log,
    });
  }
  if (suites.has('metrics')) {
    await runMetricsSuite({
      sizes:
        profile.name === 'smoke'
          ? [1000]
          : profile.name === 'medium'
            ? [1000, 10_000]
            : [1000, 10_000, 100_000],
      rounds: 3,
      windowMs: 3000,
      prefix: `${prefix}m`,
      port: port + 30,
      out,
      command: `npm run bench -- --profile ${profile.name} --only metrics`,
      log,
    });
  }
  if (suites.has('port-forwarding')) {
    // Measured here: smoke 8 s; full 5.5 minutes (six configurations, two patterns, interleaved).
    const sizes =
      profile.name === 'smoke'
        ? { reps: 1, packets: 20_000, counts: [1, 1000] }
        : profile.name === 'medium'
          ? { reps: 3, packets: 50_000, counts: [1, 1000, 10_000] }
          : { reps: 7, packets: 100_000, counts: [1, 1000, 10_000] };
    await runPortForwardingSuite({
      ...sizes,
      ratePps: 200_000,
      prefix: `${prefix}p`,
      out: join(out, 'benchmarks'),
      genCpu: 0,
      routerCpu: Math.min(1, cpus().length - 1),
      command: `npm run bench -- --profile ${profile.name} --only port-forwarding`,
      documentPath: join(out, 'benchmarks.md'),
      log,
    });
  }
  if (suites.has('qos')) {
    const sizes =
      profile.name === 'smoke'
        ? { reps: 1, updates: 3, packets: 20_000, counts: [1, 1000] }
        : { reps: 5, updates: 21, packets: 100_000, counts: [1, 1000, 10_000] };
    await runQosSuite({
      ...sizes,
      ratePps: 200_000,
      prefix: `${prefix}q`,
      out: join(out, 'benchmarks'),
      genCpu: 0,
      routerCpu: Math.min(1, cpus().length - 1),
      command: `npm run bench -- --profile ${profile.name} --only qos`,
      documents: [join(out, 'benchmarks.md'), join(out, 'qos.md')],
      log,
    });
  }
  if (suites.has('tc-guest')) {
    await runTcGuestSuite({
      reps: profile.name === 'smoke' ? 1 : 5,
      out: join(out, 'benchmarks'),
      document: join(out, 'benchmarks.md'),
      command: `npm run bench -- --profile ${profile.name} --only tc-guest`,
      log,
    });
  }
  if (suites.has('bgp')) {
    const sizes =
      profile.name === 'smoke'
        ? { associations: 10, failovers: 1, announceRoutes: 10_000, announceRepeats: 1 }
        : profile.name === 'medium'
          ? { associations: 50, failovers: 3, announceRoutes: 100_000, announceRepeats: 3 }
          : { associations: 100, failovers: 5, announceRoutes: 100_000, announceRepeats: 5 };
    await runBgpSuite({
      ...sizes,
      profileName: profile.name,
      ttlSeconds: values['bgp-ttl'] ? values['bgp-ttl'].split(',').map(Number) : [2],
      prefix: `${prefix}g`,
      documentPath: join(out, 'benchmarks.md'),
      command: `npm run bench -- --profile ${profile.name} --only bgp${values['bgp-ttl'] ? ` --bgp-ttl ${values['bgp-ttl']}` : ''}`,
      log,
    });
  }
  if (![...suites].some((s) => ['forwarding', 'exhaustion', 'control', 'switch'].includes(s))) {
    log(`wrote the ${[...suites].join(' and ')} sections of ${out}/benchmarks.md`);
    return;
  }
  const startedAt = new Date().toISOString();
  const cpuCount = cpus().length;
  if (cpuCount < 2)
    throw new Error('The forwarding benchmark needs two CPUs: one generates, the other routes.');
  const results: BenchResults = {
    profile: profile.name,
    startedAt,
    finishedAt: '',
    environment: {
      kernel: tool('uname', ['-r']),
      cpu: cpus()[0]?.model ?? 'unknown',
      cpus: cpuCount,
      node: process.version,
      iptables: tool('iptables-nft', ['--version']),
      nft: tool('nft', ['--version']),
    },
    ...(suites.has('forwarding') && {
      forwarding: await runForwarding({
        prefix,
        backends,
        ...profile.forwarding,
        ...(values['burst-us'] !== undefined && { burstUs: Number(values['burst-us']) }),
        genCpu: 0,
        routerCpu: 1,
        seed: 7,
        log,
      }),
    }),
  };
  const exhaustion = suites.has('exhaustion')
    ? await runExhaustion({ prefix, backends, ...profile.exhaustion, genCpu: 0, routerCpu: 1, log })
    : undefined;
  const control = suites.has('control')
    ? await runControl({ prefix, backend: 'nftables', ...profile.control, port, log })
    : undefined;
  const backendSwitch = suites.has('switch')
    ? await runSwitch({ prefix, ...profile.backendSwitch, port: port + 1, log })
    : undefined;
  // With --only, the suites not run keep their previous results, so a run can be redone one suite at a time.
  const previous =
    values.only && existsSync(join(out, 'benchmarks', 'results.json')) ? readResults(out) : undefined;
  const final: BenchResults = {
    ...(previous && previous.profile === profile.name && previous),
    ...results,
    finishedAt: new Date().toISOString(),
    ...(exhaustion && { exhaustion }),
    ...(control && { control }),
    ...(backendSwitch && { backendSwitch }),
  };
  await writeReport(final, out);
  log(`wrote ${out}/benchmarks.md, ${out}/benchmarks/*.png and ${out}/benchmarks/results.json`);
}

main().catch((error: unknown) => {
  console.error(`[bench] ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});

/** --scale-topologies replaces the profile's topologies; --scale-counts too, with one router per count. */
function scaleTopologies(fromProfile: readonly ScaleShape[]): ScaleShape[] {
  if (values['scale-topologies']) return parseTopologies(values['scale-topologies']);
  if (!values['scale-counts']) return [...fromProfile];
  const counts = values['scale-counts'].split(',').map(Number);
  for (const n of counts)
    if (!Number.isInteger(n) || n < 1)
      throw new Error(
        `--scale-counts '${values['scale-counts']}': expected positive integers, e.g. 1000,10000`,
      );
  return counts.map((perRouter) => ({ routers: 1, perRouter }));
}

/** `--scale-fill-workers default|N|none`: none leaves the workers' fill out; absent, the profile's. */
function fillWorkers(text: string | undefined): { fillApiWorkers?: ApiWorkersSetting } {
  if (text === undefined) return {};
  if (text === 'none') return { fillApiWorkers: undefined };
  return { fillApiWorkers: parseApiWorkers(text) };
}

/** `--scale-churn RATE/SECONDS`; 0/0 turns the churn off. */
function parseChurn(text: string): { perSecond: number; seconds: number } | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m) throw new Error(`--scale-churn '${text}': expected RATE/SECONDS, e.g. 1000/60`);
  const [perSecond, seconds] = [Number(m[1]), Number(m[2])];
  return perSecond > 0 && seconds > 0 ? { perSecond, seconds } : undefined;
}
