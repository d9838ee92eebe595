/**
 * Routed floating IPs (issue 20), `npm run bench -- --only bgp`: in the routed multi-node lab (two nodes, etcd,
 * one `sfip agent --bgp-… --bgp-bfd` per node, an upstream BIRD 2 peer with BFD, the external host behind it):
 *
 * - association → route at the peer: from the PUT that associates a floating IP to the /32 appearing in the
 *   upstream's kernel table (`ip monitor route` there), after a disassociation withdrew it;
 * - failover: the owning node fails (agent SIGKILLed, uplinks down), UDP at 100 packets/s from the external host;
 *   the outage (longest run of lost packets) with BGP + BFD, with BGP + BFD and a hot standby (`--bgp-standby`:
 *   the other node holds the translation and announces a longer path), and in the same run with the L2 lab
 *   (GARP);
 * - announcing N host routes at start (100,000; 10,000 in the smoke profile), stage by stage from the agent's
 *   kernel table to the peer's kernel (announce-scale.ts).
 *
 * Writes its marked section of docs/benchmarks.md. Everything stays in namespaces it creates.
 */
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { spawnProgram } from '../../src/exec/spawn.js';
import { analyzeStream, MultiNodeHarness, multiNodeNames } from '../../src/lab/index.js';
import { writeMarkedSection } from '../report/write-section.js';
import { measureAnnounceScale, type AnnounceScaleResult } from './announce-scale.js';

export interface BgpSuiteOptions {
  readonly profileName: string;
  readonly associations: number;
  readonly failovers: number;
  /** Host routes announced at once, and how many times. */
  readonly announceRoutes: number;
  readonly announceRepeats: number;
  /** Lease TTLs to compare failover at (the association latency is measured at the first). */
  readonly ttlSeconds: readonly number[];
  readonly prefix: string;
  readonly documentPath: string;
  readonly command: string;
  readonly log: (line: string) => void;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

/** Lines of `ip monitor route` in a namespace, each with when it arrived. */
class RouteMonitor {
  private readonly child: ChildProcess;
  private waiters: { match: (line: string) => boolean; resolve: (at: number) => void }[] = [];

  constructor(namespace: string) {
    this.child = spawnProgram('ip', ['-n', namespace, 'monitor', 'route'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const at = performance.now();
      this.waiters = this.waiters.filter((w) => (w.match(line) ? (w.resolve(at), false) : true));
    });
  }

  next(match: (line: string) => boolean, timeoutMs = 20_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no such route change in time')), timeoutMs);
      this.waiters.push({
        match,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
    });
  }

  close(): void {
    this.child.kill();
  }
}

async function configureBgp(h: MultiNodeHarness): Promise<void> {
  await h.speakBgpToUpstream();
  await h.waitFor('the floating IP to be routed at the upstream', async () =>
    (await h.upstream!.kernelRoutes())[h.routers[0]!.floatingIp] ? true : undefined,
  );
}

/** A standby lab is ready for a failover once the upstream holds both the owner's and the standby's path. */
const standbyAnnounced = async (h: MultiNodeHarness): Promise<void> => {
  await h.waitFor("the standby's path at the upstream", async () =>
    (await h.upstream!.routesTo(h.routers[0]!.floatingIp)).length === 2 ? true : undefined,
  );
};

async function failoverOutages(
  h: MultiNodeHarness,
  count: number,
  log: (l: string) => void,
  ready: (h: MultiNodeHarness) => Promise<void> = async () => undefined,
): Promise<number[]> {
  const outages: number[] = [];
  for (let i = 0; i < count; i++) {
    await ready(h);
    const owner = (await h.nodeOf(h.routers[0]!.routerId))!;
    const [result] = await h.stream(8000, 10, async () => {
      await new Promise((r) => setTimeout(r, 1000));
      await h.failNode(owner);
    });
    const outage = analyzeStream(result!).outageMs;
    log(`  failover ${i + 1}: outage ${outage} ms`);
    outages.push(outage);
    await h.restoreNode(owner);
    await h.waitForActive();
    await new Promise((r) => setTimeout(r, 2000));
  }
  return outages;
}

/** From the PUT that associates the floating IP to its /32 in the upstream's kernel, after a disassociation. */
async function associationLatencies(
  routed: MultiNodeHarness,
  count: number,
  log: (l: string) => void,
): Promise<number[]> {
  const associations: number[] = [];
  const monitor = new RouteMonitor(multiNodeNames.segment(routed.spec));
  // `ip monitor` subscribes after it starts: give it that moment before the first change.
  await new Promise((r) => setTimeout(r, 500));
  const { fipId, floatingIp, portId } = routed.routers[0]!;
  const mentions = (line: string) =>
    line.startsWith(`${floatingIp} `) || line.startsWith(`${floatingIp}/32 `);
  try {
    for (let i = 0; i < count; i++) {
      const gone = monitor.next((l) => l.startsWith('Deleted ') && mentions(l.slice(8)));
      await routed.api.put(`/v2.0/floatingips/${fipId}`, { floatingip: { port_id: null } });
      await gone;
      const back = monitor.next(mentions);
      const start = performance.now();
      await routed.api.put(`/v2.0/floatingips/${fipId}`, { floatingip: { port_id: portId } });
      associations.push((await back) - start);
    }
  } finally {
    monitor.close();
  }
  log(`association -> route at the peer: p50 ${quantile(associations, 0.5).toFixed(1)} ms`);
  return associations;
}

export async function runBgpSuite(options: BgpSuiteOptions): Promise<void> {
  const { log } = options;
  const load = loadavg()[0]!.toFixed(1);
  let associations: number[] = [];
  const outages: { ttl: number; bgp: number[]; standby: number[]; garp: number[] }[] = [];
  for (const [index, ttl] of options.ttlSeconds.entries()) {
    log(`lease TTL ${ttl} s:`);
    const routed = await MultiNodeHarness.start({
      prefix: `${options.prefix}r`,
      routers: 1,
      leaseTtlSeconds: ttl,
      routed: true,
      bfd: true,
    });
    const bgp: number[] = [];
    try {
      await configureBgp(routed);
      if (index === 0) associations = await associationLatencies(routed, options.associations, log);
      bgp.push(...(await failoverOutages(routed, options.failovers, log)));
    } finally {
      await routed.close();
    }
    const hot = await MultiNodeHarness.start({
      prefix: `${options.prefix}h`,
      routers: 1,
      leaseTtlSeconds: ttl,
      routed: true,
      bfd: true,
      standby: true,
    });
    const standby: number[] = [];
    try {
      await configureBgp(hot);
      log('  with a hot standby:');
      standby.push(...(await failoverOutages(hot, options.failovers, log, standbyAnnounced)));
    } finally {
      await hot.close();
    }
    const l2 = await MultiNodeHarness.start({
      prefix: `${options.prefix}l`,
      routers: 1,
      leaseTtlSeconds: ttl,
    });
    const garp: number[] = [];
    try {
      garp.push(...(await failoverOutages(l2, options.failovers, log)));
    } finally {
      await l2.close();
    }
    outages.push({ ttl, bgp, standby, garp });
  }
  const announces: AnnounceScaleResult[] = [];
  for (let i = 0; i < options.announceRepeats; i++) {
    log(`announcing ${options.announceRoutes} routes, run ${i + 1}:`);
    announces.push(
      await measureAnnounceScale({ routes: options.announceRoutes, prefix: `${options.prefix}s`, log }),
    );
  }
  const loadAfter = loadavg()[0]!.toFixed(1);
  const stage = (name: string, key: keyof Omit<AnnounceScaleResult, 'routes'>) => {
    const xs = announces.map((a) => a[key]);
    return `| ${name} | ${quantile(xs, 0.5)} | ${Math.min(...xs)} | ${Math.max(...xs)} |`;
  };
  associations = associations.map((x) => Math.round(x * 10) / 10);
  const row = (ttl: number, name: string, xs: number[]) =>
    `| ${ttl} s | ${name} | ${xs.length} | ${quantile(xs, 0.5)} | ${Math.min(...xs)} | ${Math.max(...xs)} | ${xs.join(', ')} |`;
  writeMarkedSection(
    options.documentPath,
    'bgp',
    `## Routed floating IPs (BGP)

\`${options.command}\` (profile ${options.profileName}; load average ${load} at the start; lease TTL
${options.ttlSeconds.join(' and ')} s; BIRD 2 on both sides, BFD 100 ms × 3). Lab: src/lab/bgp-lab.ts.

Association → route at the peer (PUT of \`port_id\` to the /32 in the upstream's kernel table), ${associations.length}
samples at a ${options.ttlSeconds[0]} s TTL: p50 ${quantile(associations, 0.5)} ms, p99 ${quantile(associations, 0.99)} ms, max ${Math.max(...associations)} ms.

Failover, owning node fails (agent SIGKILLed and uplinks down at once), UDP at 100 packets/s; outage in ms:

| lease TTL | path | runs | median | best | worst | all |
| --- | --- | --- | --- | --- | --- | --- |
${outages
  .flatMap((o) => [
    row(o.ttl, 'BGP + BFD (routed lab)', o.bgp),
    row(o.ttl, 'BGP + BFD with hot standby (`--bgp-standby`)', o.standby),
    row(o.ttl, 'GARP (L2 lab)', o.garp),
  ])
  .join('\n')}

With a hot standby the other node already holds the translation and announces the floating IP with its AS
prepended 3×: the upstream switches to that path when BFD drops the owner's session, before the lease expires,
so the outage no longer depends on the TTL.

Announcing ${options.announceRoutes.toLocaleString('en-US')} host routes at once (an agent's start), ${announces.length} runs, ms from
the start of the write (bench/bgp/announce-scale.ts: the agent's HostRouteTable and BIRD configuration, an
upstream BIRD installing into its kernel; load average ${loadAfter} at the end of the suite):

| stage | median | min | max |
| --- | --- | --- | --- |
${stage('written into table 4242 (`ip -batch`)', 'written')}
${stage("in the node's BIRD (kernel protocol, netlink notifications)", 'nodeBird')}
${stage("in the upstream's BIRD (BGP)", 'upstreamBird')}
${stage("in the upstream's kernel", 'upstreamKernel')}`,
  );
  log(`wrote the bgp section of ${options.documentPath}`);
}
