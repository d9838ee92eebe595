/**
 * What a read of an unchanged counter dump costs the event loop at 100,000 floating IPs, with and without
 * CounterDumps (docs/metrics.md): `node --import tsx bench/metrics/unchanged-dump.ts`. A synthetic dump, no kernel.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CounterDumps, readNftCounters } from '../../src/dataplane/nftables/counters.js';
import type { SetDumpChannel } from '../../src/dataplane/common/set-dump-channel.js';
const lines: string[] = [];
for (let i = 0; i < 100000; i++) {
  const a = `100.${66 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  lines.push(`fipcount_in ${a} - 0 0`, `fipcount_out ${a} - 0 0`);
}
const text = lines.join('\n') + '\n';
// Fresh copies: the dumper's answer is a new string each time (the same string would compare by pointer).
let copies: string[] = [];
const fresh = () => Buffer.from(text).toString('utf8');
const channel = { dump: async () => copies.pop() ?? fresh() } as unknown as SetDumpChannel;
const target = { routerId: '11111111-2222-3333-4444-555555555555', namespace: 'x', gatewayDevice: 'qg' };
const run = () => Promise.reject(new Error('no'));
for (const memo of [false, true]) {
  const dumps = memo ? new CounterDumps() : undefined;
  await readNftCounters(target, run, null, channel, dumps); // first read (parses either way)
  copies = Array.from({ length: 10 }, fresh);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < 10; k++) await readNftCounters(target, run, null, channel, dumps);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  h.disable();
  console.log(
    `${memo ? 'with CounterDumps' : 'without'}: 10 reads of an unchanged 100,000-FIP dump: ${ms.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU, event loop delay max ${(h.max / 1e6).toFixed(1)} ms`,
  );
}
