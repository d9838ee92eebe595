/**
 * Failover time and packet loss of the multi-node setup: `node --import tsx bench/failover.ts [--ttl 1,2,3]
 * [--repeat 5] [--write]`. For each lease TTL it starts a real etcd server, the API, two `sfip agent` processes
 * and the two-node lab (test/e2e/multinode-failover.test.ts uses the same harness), streams UDP at 100 packets/s
 * from the shared segment to a floating IP, and makes the node carrying it fail (SIGKILL of its agent and its
 * uplinks down at the same instant). Measured per failure:
 *
 * - outage: the longest run of lost packets, as time (10 ms resolution);
 * - lost packets;
 * - the phases, from the agents' own logs: failure -> router rescheduled (lease expiry, etcd's expiry check and
 *   the scheduler), rescheduled -> programmed on the new node, programmed -> first packet delivered there
 *   (GARP reaching the upstream neighbour).
 *
 * Also once per TTL: the loss when only the agent process is SIGKILLed (the node's kernel keeps forwarding
 * until the new node's GARP moves traffic). With --write the results replace the marked section of
 * docs/benchmarks.md. Everything stays in namespaces named te-bf*; nothing leaves the machine.
 */
import { writeMarkedSection } from './report/write-section.js';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { analyzeStream, MultiNodeHarness, type StreamResult } from '../src/lab/index.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const ttls = option('ttl', '1,2,3')
  .split(',')
  .map(Number)
  .filter((t) => Number.isInteger(t) && t >= 1);
const repeat = Math.max(1, Number(option('repeat', '5')));
const write = args.includes('--write');
const INTERVAL_MS = 10;

interface Failure {
  ttl: number;
  outageMs: number;
  lost: number;
  toRescheduledMs: number;
  /** The new node noticing, programming the router, its GARP, and the first packet arriving there. */
  toFirstPacketMs: number;
  /** The router had already moved before the induced failure (a lease lost under load): not counted. */
  spurious: boolean;
}

interface LogEvent {
  at: number;
  source: string;
  msg: string;
  router?: string;
  cause?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
      ? s[(s.length - 1) >> 1]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function runTtl(
  ttl: number,
): Promise<{ failures: Failure[]; agentOnlyLost: number[]; leasesLost: number }> {
  const events: LogEvent[] = [];
  const h = await MultiNodeHarness.start({
    prefix: `te-bf${ttl}`,
    leaseTtlSeconds: ttl,
    routers: 1,
    onLog: (source, line) => {
      try {
        const e = JSON.parse(line) as { time: number; msg: string; router?: string; cause?: string };
        events.push({
          at: e.time,
          source,
          msg: e.msg,
          ...(e.router && { router: e.router }),
          ...(e.cause && { cause: e.cause }),
        });
      } catch {
        /* not a log line */
      }
    },
  });
  const failures: Failure[] = [];
  const agentOnlyLost: number[] = [];
  try {
    const router = h.routers[0]!;
    for (let i = 0; i < repeat; i++) {
      const victim = (await h.nodeOf(router.routerId))!;
      const survivor = h.spec.nodes.find((n) => n !== victim)!;
      let failedAt = 0;
      let startedAt = 0;
      const [result] = await h.stream(ttl * 1000 + 4000, INTERVAL_MS, async () => {
        startedAt = Date.now();
        await new Promise((r) => setTimeout(r, 1000));
        failedAt = Date.now();
        await h.failNode(victim);
      });
      const a = analyzeStream(result!);
      const rescheduled = events.find(
        (e) => e.at >= failedAt && e.msg === 'rescheduled router' && e.router === router.routerId,
      );
      const spurious = events.some(
        (e) =>
          e.at >= startedAt &&
          e.at < failedAt &&
          e.msg === 'rescheduled router' &&
          e.router === router.routerId,
      );
      const firstSeq = firstAfterGap(result!, survivor);
      failures.push({
        ttl,
        outageMs: a.outageMs,
        lost: a.lost,
        toRescheduledMs: rescheduled ? rescheduled.at - failedAt : NaN,
        toFirstPacketMs:
          rescheduled && firstSeq !== undefined ? startedAt + firstSeq * INTERVAL_MS - rescheduled.at : NaN,
        spurious,
      });
      console.log(`ttl ${ttl}s, failure ${i + 1}/${repeat} of ${victim}: ${JSON.stringify(failures.at(-1))}`);
      await h.restoreNode(victim);
    }
    // The agent process alone dies: its kernel forwards on until the new owner's GARP.
    const owner = (await h.nodeOf(router.routerId))!;
    const [result] = await h.stream(ttl * 1000 + 3000, INTERVAL_MS, async () => {
      await new Promise((r) => setTimeout(r, 500));
      await h.killAgent(owner);
    });
    agentOnlyLost.push(analyzeStream(result!).lost);
    console.log(`ttl ${ttl}s, agent-only SIGKILL of ${owner}: lost ${agentOnlyLost.at(-1)}`);
  } finally {
    await h.close();
  }
  const leasesLost = events.filter((e) => e.msg.startsWith('lost the lease')).length;
  return { failures, agentOnlyLost, leasesLost };
}

/** The first packet the survivor's copy received, i.e. when traffic was back. */
function firstAfterGap(result: StreamResult, survivor: string): number | undefined {
  return result.received.get(survivor)?.[0];
}

const loadBefore = loadavg()[0]!;
const all: Failure[] = [];
const agentOnly = new Map<number, number[]>();
const leaseLosses = new Map<number, number>();
for (const ttl of ttls) {
  const { failures, agentOnlyLost, leasesLost } = await runTtl(ttl);
  all.push(...failures);
  agentOnly.set(ttl, agentOnlyLost);
  leaseLosses.set(ttl, leasesLost);
}

const fmt = (xs: number[]) => {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (ok.length === 0) return 'n/a';
  return `${Math.round(median(ok))} (${Math.round(Math.min(...ok))}–${Math.round(Math.max(...ok))})`;
};
const rows = ttls.map((ttl) => {
  const f = all.filter((x) => x.ttl === ttl && !x.spurious);
  const spoiled = all.filter((x) => x.ttl === ttl && x.spurious).length;
  return `| ${ttl} s | ${f.length} | ${fmt(f.map((x) => x.outageMs))} | ${fmt(f.map((x) => x.lost))} | ${fmt(f.map((x) => x.toRescheduledMs))} | ${fmt(f.map((x) => x.toFirstPacketMs))} | ${agentOnly.get(ttl)!.join(', ')} | ${leaseLosses.get(ttl)} (${spoiled}) |`;
});
const section = [
  '## Multi-node failover',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on this project's 2-core machine with`,
  `\`node --import tsx bench/failover.ts --ttl ${ttls.join(',')} --repeat ${repeat} --write\` (bench/failover.ts says`,
  'exactly what it does). Two nodes on one machine (docs/multi-node.md), one real etcd 3.4 server (election',
  'timeout 500 ms), UDP at 100 packets/s from the shared segment to one floating IP; the node carrying it fails',
  '(its agent SIGKILLed and its uplinks down at the same instant). The 1-minute load average was',
  `${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run. Medians, with (min–max):`,
  '',
  '| lease TTL | failures counted | traffic back after (ms) | packets lost | failure → rescheduled (ms) | rescheduled → first packet on the new node (ms) | lost when only the agent is SIGKILLed | leases lost without a failure (runs spoiled) |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
  '- "traffic back after" is the longest gap in the stream; "failure → rescheduled" is lease expiry (at most',
  "  one TTL after the last renewal, renewals every TTL/6) plus etcd's expiry check (every 500 ms) plus the",
  '  scheduler; "rescheduled → first packet" is the new node noticing, programming the router, its GARP',
  '  reaching the upstream neighbour and the first packet arriving (log and stream clocks differ by a few ms).',
  '- "leases lost without a failure": renewals that did not get through in time on this loaded machine, so a',
  "  healthy node's router moved; a run where that happened before the induced failure is not counted above.",
  "- When only the agent process dies, the node's kernel keeps forwarding until the new owner's GARP moves",
  '  the traffic, so nothing (or next to nothing) is lost; its ARP fence has closed by then, so it cannot win',
  '  the address back.',
].join('\n');

console.log(`\n${section}\n`);
if (write) {
  const path = join(import.meta.dirname, '..', 'docs', 'benchmarks.md');
  writeMarkedSection(path, 'failover', section);
  console.log(`wrote ${path}`);
}
