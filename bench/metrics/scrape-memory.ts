/**
 * What scrapes leave in the daemon's memory, without a kernel or a store: `node --import tsx
 * bench/metrics/scrape-memory.ts [--fips 100000] [--scrapes 5]`. Serves a synthetic observation through the real
 * exporter and route (as scrape-loop.ts does), scrapes it with curl, and prints RSS, the malloc heap's resident
 * part ([heap] in smaps: where Buffers' memory comes from) and V8's heap, before the first scrape and after each.
 */
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { run } from '../../src/exec/run.js';
import {
  createMetricsRegistry,
  registerMetricsRoute,
  ReconcileHistory,
  type Observation,
  type Observer,
} from '../../src/metrics/index.js';

const { values } = parseArgs({
  options: { fips: { type: 'string', default: '100000' }, scrapes: { type: 'string', default: '5' } },
});
const fips = Number(values.fips);
const address = (i: number) => `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const observation: Observation = {
  at: Date.now(),
  readMs: 0,
  conntrack: [],
  routers: [
    {
      id: '00000000-0000-4000-8000-000000000001',
      name: 'r',
      backend: 'nftables',
      namespace: 'qrouter-r',
      gatewayDevice: 'qg-bench',
      problem: '',
      countersSupported: true,
      countersError: null,
      statusCounts: { ACTIVE: fips, DOWN: 0, ERROR: 0 },
      floatingIps: Array.from({ length: fips }, (_, i) => ({
        id: `fip-${i}`,
        address: address(i),
        fixedIp: null,
        status: 'ACTIVE' as const,
        statusReason: '',
      })),
      counters: Array.from({ length: fips }, (_, i) => ({
        floatingIp: address(i),
        packetsIn: i,
        packetsOut: 0,
        bytesIn: i * 60,
        bytesOut: 0,
      })),
    },
  ],
};
const observer = { observe: async () => observation, latest: () => observation } as unknown as Observer;
const metrics = createMetricsRegistry({ observer, history: new ReconcileHistory(), processMetrics: false });
const app = Fastify();
registerMetricsRoute(app, metrics, async () => 'allowed');
await app.listen({ host: '127.0.0.1', port: 0 });
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/metrics`;

function memory(when: string): void {
  let mallocKb = 0;
  let current = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) current = line.trim().split(/\s+/)[5] ?? '';
    else if (line.startsWith('Rss:') && current === '[heap]') mallocKb += Number(line.split(/\s+/)[1]);
  }
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
  const m = process.memoryUsage();
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  console.log(
    `${when}: RSS ${rss.toFixed(0)} MiB, malloc heap ${(mallocKb / 1024).toFixed(0)} MiB, V8 heap used ${mib(m.heapUsed)} of ${mib(m.heapTotal)} MiB, external ${mib(m.external)} MiB`,
  );
}
memory('before scraping');
for (let i = 1; i <= Number(values.scrapes); i++) {
  const { stdout } = await run('curl', [
    '-sf',
    '-o',
    '/dev/null',
    '-w',
    '%{time_total} %{size_download}',
    url,
  ]);
  const [seconds, size] = stdout.split(' ').map(Number);
  memory(`scrape ${i} (${(seconds! * 1000).toFixed(0)} ms, ${(size! / 1e6).toFixed(1)} MB)`);
}
await new Promise((r) => setTimeout(r, 2000));
memory('2 s after');
console.log(
  `load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
await app.close();
