/**
 * Preloaded into the daemon by churn-profile.ts --loop-probe FILE (node --import): once a second, one JSON line
 * in FILE with the event loop's delay (max and p99, ms), its utilisation, the process's CPU (all threads), and V8's
 * collections in that second (count and pause by kind). Plain JavaScript so that it loads in any built tree (--root), without tsx. A bench
 * tool: it tells which seconds of a churn the daemon's loop was held up, and by what (a collection or its own work).
 */
import { appendFileSync } from 'node:fs';
import { setInterval } from 'node:timers';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

const file = process.env.SFIP_LOOP_PROBE_FILE;
if (file) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  /** Collections of the current second by kind: major, minor, incremental, weakcb. */
  let gc = {};
  const kinds = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[entry.detail?.kind ?? 0] ?? 'other';
      const k = (gc[kind] ??= { n: 0, ms: 0, maxMs: 0 });
      k.n++;
      k.ms += entry.duration;
      k.maxMs = Math.max(k.maxMs, entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  let elu = performance.eventLoopUtilization();
  // CPU of the whole process (every thread: V8's compiler and collector threads, SQLite's checkpointer): beside the
  // loop's utilisation, it tells a loop that waits for a core (cpu < busy) from one helped by other threads.
  let cpu = process.cpuUsage();
  const timer = setInterval(() => {
    const since = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const line = {
      at: Date.now(),
      delayMaxMs: Math.round(delay.max / 1e5) / 10,
      delayP99Ms: Math.round(delay.percentile(99) / 1e5) / 10,
      elu: Math.round(since.utilization * 100) / 100,
      cpuMs: Math.round((used.user + used.system) / 1000),
      gc: Object.fromEntries(
        Object.entries(gc).map(([kind, v]) => [
          kind,
          { n: v.n, ms: Math.round(v.ms), maxMs: Math.round(v.maxMs) },
        ]),
      ),
    };
    gc = {};
    delay.reset();
    appendFileSync(file, JSON.stringify(line) + '\n');
  }, 1000);
  timer.unref();
}
