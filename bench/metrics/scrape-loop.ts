/**
 * How long one /metrics scrape holds the event loop while it writes its body, without a kernel or a store:
 * `node --import tsx bench/metrics/scrape-loop.ts [--fips 100000] [--routers 1] [--scrapes 20] [--budget-ms 4]`.
 * The real exporter and route serve a synthetic observation (its text rendered per scrape, as the daemon
 * does); curl scrapes in its own process, one after another. A 1 ms timer in the serving process records each gap
 * between two of its turns, in wall time and in the process's CPU time over the gap (wall time alone on a loaded
 * machine counts time the process was not scheduled), and a client in another process times GET /ping (answered
 * on the same loop, as an API call is) every 10 ms while the scrapes run. `--budget-ms Infinity` never yields: the body then leaves
 * as an unpaced stream of buffers did before pacedStream.
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import Fastify from 'fastify';
import { run } from '../../src/exec/run.js';
import { spawnProgram } from '../../src/exec/spawn.js';
import {
  createMetricsRegistry,
  registerMetricsRoute,
  ReconcileHistory,
  type Observation,
  type ObservedRouter,
  type Observer,
} from '../../src/metrics/index.js';
import { quantile } from '../stats.js';

const { values } = parseArgs({
  options: {
    fips: { type: 'string', default: '100000' },
    routers: { type: 'string', default: '1' },
    scrapes: { type: 'string', default: '20' },
    'budget-ms': { type: 'string', default: '4' },
  },
});
const routers = Number(values.routers);
const perRouter = Math.floor(Number(values.fips) / routers);

function router(r: number): ObservedRouter {
  const address = (i: number) => `100.${64 + (r >> 6)}.${((r & 63) << 2) | (i >> 8)}.${i & 255}`;
  return {
    id: `00000000-0000-4000-8000-${String(r).padStart(12, '0')}`,
    name: `r${r}`,
    backend: 'nftables',
    namespace: `qrouter-${r}`,
    gatewayDevice: 'qg-bench',
    problem: '',
    countersSupported: true,
    countersError: null,
    statusCounts: { ACTIVE: perRouter, DOWN: 0, ERROR: 0 },
    floatingIps: Array.from({ length: perRouter }, (_, i) => ({
      id: `fip-${r}-${i}`,
      address: address(i),
      fixedIp: null,
      status: 'ACTIVE' as const,
      statusReason: '',
    })),
    counters: Array.from({ length: perRouter }, (_, i) => ({
      floatingIp: address(i),
      packetsIn: i,
      packetsOut: 0,
      bytesIn: i * 60,
      bytesOut: 0,
    })),
  };
}

const observation: Observation = {
  at: Date.now(),
  readMs: 0,
  conntrack: [],
  routers: Array.from({ length: routers }, (_, r) => router(r)),
};
const observer = {
  observe: async () => observation,
  latest: () => observation,
} as unknown as Observer;
const metrics = createMetricsRegistry({ observer, history: new ReconcileHistory(), processMetrics: false });
const app = Fastify();
registerMetricsRoute(app, metrics, async () => 'allowed', { budgetMs: Number(values['budget-ms']) });
// Stands in for an API call: answered on the same loop, as the daemon's API is.
app.get('/ping', async () => ({ pong: true }));
await app.listen({ host: '127.0.0.1', port: 0 });
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/metrics`;
const bytes = Buffer.concat([...(await metrics.body())]).length;

let wallMax = 0;
let cpuMax = 0;
let last = performance.now();
let lastCpu = process.cpuUsage();
const timer = setInterval(() => {
  const now = performance.now();
  const cpu = process.cpuUsage(lastCpu);
  wallMax = Math.max(wallMax, now - last);
  cpuMax = Math.max(cpuMax, (cpu.user + cpu.system) / 1000);
  last = now;
  lastCpu = process.cpuUsage();
}, 1);
const scrapeMs: number[] = [];
const wallGaps: number[] = [];
const cpuGaps: number[] = [];
const cpuPerScrape: number[] = [];
// A client in its own process sends GET /ping every 10 ms while the scrapes run and prints its latencies.
const pinger = spawnProgram(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `const ms = []; let stop = false; process.stdin.on('end', () => (stop = true)); process.stdin.resume();
     await (await fetch(process.argv[1])).arrayBuffer();
     process.stderr.write('ready\\n');
     const pending = [];
     while (!stop) {
       const t = performance.now();
       pending.push(fetch(process.argv[1]).then(async (r) => { await r.arrayBuffer(); ms.push(performance.now() - t); }));
       await new Promise((r) => setTimeout(r, 10));
     }
     await Promise.all(pending);
     process.stdout.write(JSON.stringify(ms));`,
    url.replace('/metrics', '/ping'),
  ],
  { stdio: ['pipe', 'pipe', 'pipe'] },
);
await new Promise((resolve) => pinger.stderr!.once('data', resolve));
let pings = '';
pinger.stdout!.on('data', (d: Buffer) => (pings += d.toString()));
const pinged = new Promise((resolve) => pinger.once('exit', resolve));
try {
  for (let i = 0; i < Number(values.scrapes); i++) {
    // curl's own start is outside the measured gaps: a spawn from this process forks it.
    const scrape = run('curl', ['-sf', '-o', '/dev/null', '-w', '%{time_total}', url]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    wallMax = 0;
    cpuMax = 0;
    const cpuBefore = process.cpuUsage();
    const { stdout } = await scrape;
    const cpu = process.cpuUsage(cpuBefore);
    cpuPerScrape.push((cpu.user + cpu.system) / 1000);
    scrapeMs.push(Number(stdout) * 1000);
    wallGaps.push(wallMax);
    cpuGaps.push(cpuMax);
  }
} finally {
  clearInterval(timer);
  pinger.stdin!.end();
  await pinged;
  await app.close();
}
const pingMs = (JSON.parse(pings || '[]') as number[]).sort((a, b) => a - b);
const f = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${quantile(s, 0.5).toFixed(1)} / ${s.at(-1)!.toFixed(1)}`;
};
console.log(
  `${routers} × ${perRouter}, budget ${values['budget-ms']} ms, ${(bytes / 1e6).toFixed(1)} MB, ${scrapeMs.length} scrapes: ` +
    `scrape ${f(scrapeMs)} ms (median / max); longest loop gap per scrape, wall ${f(wallGaps)} ms, process CPU ` +
    `${f(cpuGaps)} ms; CPU per scrape ${f(cpuPerScrape)} ms; GET /ping from another process during the scrapes ` +
    `p50 ${quantile(pingMs, 0.5).toFixed(1)} p99 ${quantile(pingMs, 0.99).toFixed(1)} ms (${pingMs.length}); load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
