import { readFileSync } from 'node:fs';
import { ApiClient, type Transport } from '../../src/client/api-client.js';
import { resolveToken } from '../../src/client/token-source.js';

/** What a churn run measured; latencies are histogram bucket bounds (≤), from the daemon's own metric. */
export interface ChurnResult {
  readonly targetPerSecond: number;
  readonly seconds: number;
  /** Association changes answered by the API, and the rate they achieved. */
  readonly changes: number;
  readonly achievedPerSecond: number;
  /** Changes the API refused (they are not counted in `changes`). */
  readonly refused: number;
  /** sfip_floating_ip_change_seconds over the run: observations and bucket bounds of p50 and p99. */
  readonly observed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Set when the quantile lies past the histogram's last finite bound, which p50Ms or p99Ms then holds (>). */
  readonly p50Beyond?: boolean;
  readonly p99Beyond?: boolean;
  /**
   * From the last answered change to the last change observed applied (the backlog at the end, in time). When
   * `observed` < `changes`, the rest were applied by full passes, which the histogram does not count.
   */
  readonly drainMs: number;
  /** The daemon's CPU over the run, in cores (user + system). */
  readonly cpuCores: number;
  /** Observations per bucket over the run (not cumulative): [upper bound in ms, count], empty buckets left out. */
  readonly bucketCounts?: readonly (readonly [number, number])[];
  /**
   * Per second of the run (the histogram read once a second), the changes observed slower than the goal's 200 ms:
   * tells a tail spread over the run from one gathered in a few seconds (a periodic resync, a collection).
   */
  readonly slowPerSecond?: readonly number[];
  /**
   * Per second of the run, the changes observed applied (fast or slow): a dip below the rate sent is the daemon
   * falling behind (the backlog that the slow changes of the next seconds wait in).
   */
  readonly appliedPerSecond?: readonly number[];
  /** When the first change was sent (epoch ms): lines up slowPerSecond with the daemon's own logs and probes. */
  readonly startedAt?: number;
}

const CHANGE_METRIC = 'sfip_floating_ip_change_seconds';
/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const TICKS_PER_SECOND = 100;
/** Changes sent and not answered yet, at most (a kept-alive transport needs as many sockets). */
export const MAX_IN_FLIGHT = 64;
/** Issue 15's goal for the churn's p99: slowPerSecond counts the changes above it. */
const GOAL_SECONDS = 0.2;
/** Sending stops this many times the run's duration after it started. */
const SEND_SLACK = 1.5;

/**
 * Sustained churn through the API: association changes at a fixed rate (each floating IP in turn is
 * disassociated or associated back to its port), while the daemon reports each change's store → applied
 * latency in its histogram. Requests that fall behind the schedule are sent as soon as one of at most 64 in
 * flight answers, so a daemon that cannot keep up shows a lower achieved rate instead of an unbounded queue here;
 * no change is sent after 1.5 × the duration.
 */
export async function churnThroughApi(o: {
  readonly url: string;
  readonly serverPid: number;
  /** Floating IP ids and the port each belongs to; all start associated. */
  readonly fips: readonly { readonly id: string; readonly portId: string }[];
  readonly perSecond: number;
  readonly seconds: number;
  /**
   * How the changes are sent; fetch by default. On the 2-core bench machine the client's CPU is the daemon's loss:
   * with fetch it took 0.5-0.85 of a core at 1,000 changes a second (bench/control/http-transport.ts).
   */
  readonly transport?: Transport;
}): Promise<ChurnResult> {
  const api = new ApiClient(o.url, undefined, o.transport);
  const before = await changeHistogram(o.url);
  const cpuBefore = cpuTicks(o.serverPid);
  const associated = new Map(o.fips.map((f) => [f.id, true]));
  const total = Math.round(o.perSecond * o.seconds);
  let sent = 0;
  let answered = 0;
  let refused = 0;
  let inFlight = 0;
  const started = performance.now();
  const startedAt = Date.now();
  // A daemon that cannot keep up would stretch the run without bound (60,000 changes at 300/s take 200 s):
  // sending stops at 1.5 × the duration, and the achieved rate tells.
  const cutoff = started + o.seconds * 1000 * SEND_SLACK;
  const cut = () => performance.now() > cutoff;
  const slowPerSecond: number[] = [];
  const appliedPerSecond: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    let last = before;
    while (sampling) {
      await new Promise((r) => setTimeout(r, 1000));
      const next = await changeHistogram(o.url).catch(() => last);
      slowPerSecond.push(slowerThan(next, GOAL_SECONDS) - slowerThan(last, GOAL_SECONDS));
      appliedPerSecond.push(next.count - last.count);
      last = next;
    }
  })();
  await new Promise<void>((resolve) => {
    const pump = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * o.perSecond) + 1);
      while (sent < due && inFlight < MAX_IN_FLIGHT && !cut()) {
        const fip = o.fips[sent % o.fips.length]!;
        const next = !associated.get(fip.id);
        associated.set(fip.id, next);
        sent++;
        inFlight++;
        void api
          .put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: next ? fip.portId : null } })
          .then(
            () => answered++,
            () => refused++,
          )
          .finally(() => {
            inFlight--;
            if ((sent === total || cut()) && inFlight === 0) resolve();
            else pump();
          });
      }
      if (cut() && inFlight === 0) resolve();
      else if (sent < total && !cut()) setTimeout(pump, 1);
    };
    pump();
  });
  const elapsedMs = performance.now() - started;
  const cpuAfter = cpuTicks(o.serverPid);
  sampling = false;
  await sampler;
  // The backlog: wait until the daemon has observed as many applied changes as were answered, or until it has
  // observed nothing new for 5 s (changes applied by a full pass are not observed): drained at the last increase.
  const lastAnswered = performance.now();
  let after = await changeHistogram(o.url);
  let lastIncrease = lastAnswered;
  const deadline = lastAnswered + 120_000;
  while (after.count - before.count < answered && performance.now() < deadline) {
    if (performance.now() - lastIncrease > 5000) break;
    await new Promise((r) => setTimeout(r, 50));
    const next = await changeHistogram(o.url);
    if (next.count > after.count) lastIncrease = performance.now();
    after = next;
  }
  const drainMs = Math.max(0, lastIncrease - lastAnswered);
  const buckets = after.buckets.map(([le, n], i) => [le, n - (before.buckets[i]?.[1] ?? 0)] as const);
  const observed = after.count - before.count;
  const p50 = bucketBound(buckets, observed, 0.5);
  const p99 = bucketBound(buckets, observed, 0.99);
  return {
    targetPerSecond: o.perSecond,
    seconds: o.seconds,
    changes: answered,
    achievedPerSecond: answered / (elapsedMs / 1000),
    refused,
    observed,
    p50Ms: p50.seconds * 1000,
    p99Ms: p99.seconds * 1000,
    ...(p50.beyond && { p50Beyond: true }),
    ...(p99.beyond && { p99Beyond: true }),
    drainMs,
    cpuCores: (cpuAfter - cpuBefore) / TICKS_PER_SECOND / (elapsedMs / 1000),
    bucketCounts: buckets
      .map(([le, n], i) => [le * 1000, n - (buckets[i - 1]?.[1] ?? 0)] as const)
      .filter(([, n]) => n > 0),
    slowPerSecond,
    appliedPerSecond,
    startedAt,
  };
}

/** Observations above `seconds` (which must be one of the histogram's bounds). */
function slowerThan(h: Histogram, seconds: number): number {
  return h.count - (h.buckets.find(([le]) => le === seconds)?.[1] ?? h.count);
}

interface Histogram {
  readonly count: number;
  /** Cumulative, as Prometheus writes them: [upper bound in seconds, observations ≤ it]. */
  readonly buckets: (readonly [number, number])[];
}

async function changeHistogram(url: string): Promise<Histogram> {
  const token = resolveToken(url, {});
  // Only this family: a full scrape at 100,000 floating IPs reads every counter and renders 60 MB, and polled
  // every 50 ms it slowed the very drain it watches.
  const response = await fetch(`${url}/metrics?name[]=${CHANGE_METRIC}`, {
    headers: token ? { 'x-auth-token': token } : {},
  });
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  const buckets: [number, number][] = [];
  let count = 0;
  for (const line of text.split('\n')) {
    const bucket = new RegExp(`^${CHANGE_METRIC}_bucket\\{le="([^"]+)"\\} (\\d+)`).exec(line);
    if (bucket) buckets.push([bucket[1] === '+Inf' ? Infinity : Number(bucket[1]), Number(bucket[2])]);
    const total = new RegExp(`^${CHANGE_METRIC}_count (\\d+)`).exec(line);
    if (total) count = Number(total[1]);
  }
  return { count, buckets };
}

/** The upper bound of the bucket in which the quantile falls: a "≤" figure, as coarse as the buckets. */
function bucketBound(
  buckets: readonly (readonly [number, number])[],
  count: number,
  q: number,
): { seconds: number; beyond: boolean } {
  if (count === 0) return { seconds: Number.NaN, beyond: false };
  const bound = buckets.find(([, n]) => n >= q * count)?.[0] ?? Number.NaN;
  if (bound !== Infinity) return { seconds: bound, beyond: false };
  // Past the last finite bound: keep that bound (JSON has no Infinity) and say "more than".
  const finite = buckets.filter(([le]) => Number.isFinite(le)).at(-1)?.[0] ?? Number.NaN;
  return { seconds: finite, beyond: true };
}

function cpuTicks(pid: number): number {
  // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
