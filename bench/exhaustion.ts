import { spawnProgram as spawn } from '../src/exec/spawn.js';
import { run, commandLine } from '../src/exec/run.js';
import type { BackendName } from '../src/model/index.js';
import { withConntrackMax } from './conntrack-max.js';
import { benchRouterId } from './forwarding/run-forwarding.js';
import { installSinkCounters, readSinkCounter } from './forwarding/sink-counter.js';
import { trafgenConfig } from './forwarding/trafgen.js';
import { steerReceiveTo } from './forwarding/rps.js';
import { availability, installFloatingIps, removeEbpfPins } from './install.js';
import { benchTopology, buildTopology, destroyTopology, floatingIpOf, macOf } from './topology.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ExhaustionOptions {
  readonly prefix: string;
  readonly backends: readonly BackendName[];
  /** nf_conntrack_max during the run (restored afterwards). */
  readonly conntrackMax: number;
  /** New flows per second offered to each router. */
  readonly ratePps: number;
  readonly seconds: number;
  readonly intervalMs: number;
  readonly genCpu: number;
  readonly routerCpu: number;
  readonly log: (line: string) => void;
}

export interface ExhaustionPoint {
  readonly config: string;
  /** Seconds since the traffic started. */
  readonly t: number;
  readonly offered: number;
  readonly delivered: number;
  readonly conntrackEntries: number;
}

export interface ExhaustionResult {
  readonly options: Omit<ExhaustionOptions, 'log'>;
  readonly originalConntrackMax: number;
  readonly unavailable: { backend: string; reason: string }[];
  readonly points: ExhaustionPoint[];
  readonly totals: { config: string; offered: number; delivered: number; maxEntries: number }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function conntrackCount(netns: string): Promise<number> {
  const { stdout } = await run('conntrack', ['-C'], { netns });
  return Number(stdout.trim());
}

/**
 * Every packet a new flow, to one floating IP per backend, all routers at once, while nf_conntrack_max is low.
 * Stateless backends keep delivering; a stateful one fills its table and then drops new flows.
 */
export async function runExhaustion(o: ExhaustionOptions): Promise<ExhaustionResult> {
  const unavailable: { backend: string; reason: string }[] = [];
  const backends: BackendName[] = [];
  for (const b of o.backends) {
    const a = await availability(b);
    if (a.ok) backends.push(b);
    else unavailable.push({ backend: b, reason: a.reason });
  }
  const t = benchTopology(o.prefix, backends);
  const points: ExhaustionPoint[] = [];
  const original = Number((await run('sysctl', ['-n', 'net.netfilter.nf_conntrack_max'])).stdout.trim());
  await buildTopology(t);
  const dir = mkdtempSync(join(tmpdir(), 'sfip-exhaust-'));
  try {
    await installSinkCounters(t);
    for (const r of t.routers) {
      await steerReceiveTo(r.namespace, t.gatewayDevice, o.routerCpu);
      await installFloatingIps(t, r, r.name as BackendName, benchRouterId(r.name), 1);
    }
    const total = Math.round(o.ratePps * o.seconds);
    await withConntrackMax(o.conntrackMax, async () => {
      const generators = [];
      for (const r of t.routers) {
        const conf = join(dir, `${r.name}.cfg`);
        writeFileSync(
          conf,
          trafgenConfig({
            srcMac: await macOf(t.gen, r.genDevice),
            dstMac: await macOf(r.namespace, t.gatewayDevice),
            dst: floatingIpOf(0),
            pattern: 'new-flows',
          }),
        );
        await run('conntrack', ['-F'], { netns: r.namespace, okExitCodes: [1] });
        const argv = commandLine(
          'taskset',
          [
            '-c',
            String(o.genCpu),
            'trafgen',
            '--dev',
            r.genDevice,
            '--conf',
            conf,
            '--cpus',
            '1',
            '--gap',
            `${Math.round(1e6 / o.ratePps)}us`,
            '--num',
            String(total),
            '--no-cpu-stats',
          ],
          t.gen,
        );
        const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
        generators.push(new Promise<void>((resolve) => child.on('exit', () => resolve())));
      }
      const start = performance.now();
      const base = new Map<string, number>();
      for (const r of t.routers) base.set(r.name, await readSinkCounter(t, r.sinkDevice));
      let done = false;
      void Promise.all(generators).then(() => (done = true));
      while (!done && performance.now() - start < (o.seconds + 5) * 1000) {
        await sleep(o.intervalMs);
        const elapsed = (performance.now() - start) / 1000;
        for (const r of t.routers) {
          points.push({
            config: r.name,
            t: elapsed,
            offered: Math.min(total, Math.round(elapsed * o.ratePps)),
            delivered: (await readSinkCounter(t, r.sinkDevice)) - base.get(r.name)!,
            conntrackEntries: await conntrackCount(r.namespace),
          });
        }
      }
      await Promise.all(generators);
      await sleep(200);
      const elapsed = (performance.now() - start) / 1000;
      for (const r of t.routers) {
        points.push({
          config: r.name,
          t: elapsed,
          offered: total,
          delivered: (await readSinkCounter(t, r.sinkDevice)) - base.get(r.name)!,
          conntrackEntries: await conntrackCount(r.namespace),
        });
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await destroyTopology(t);
    for (const r of t.routers.filter((x) => x.name === 'ebpf')) await removeEbpfPins(benchRouterId(r.name));
  }
  const totals = t.routers.map((r) => {
    const mine = points.filter((p) => p.config === r.name);
    const last = mine[mine.length - 1];
    return {
      config: r.name,
      offered: last?.offered ?? 0,
      delivered: last?.delivered ?? 0,
      maxEntries: Math.max(0, ...mine.map((p) => p.conntrackEntries)),
    };
  });
  for (const x of totals)
    o.log(
      `exhaustion: ${x.config} delivered ${x.delivered}/${x.offered}, max ${x.maxEntries} conntrack entries`,
    );
  const { log: _log, ...options } = o;
  return { options, originalConntrackMax: original, unavailable, points, totals };
}
