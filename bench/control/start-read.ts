/**
 * The main-thread work every converge and restart begins with, without a daemon or a kernel: the agent's start
 * read (every floating IP listed and grouped by router) and each router's desired state (`routerIntent`), in one
 * read of a copy of a saved state. Prints, per round, the ms of the list, of the intents (wall and the process's
 * CPU, garbage collector threads included: less swayed by a loaded machine), and of the garbage collections that
 * ran during the round; then the median of each.
 *
 *   node --import tsx bench/control/start-read.ts --from-state /work/hf-state [--rounds 7]
 *
 * Not a test: the figures depend on the machine and its load (printed beside them).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { routerIntent } from '../../src/dataplane/desired.js';
import type { FloatingIp } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const { values } = parseArgs({
  options: { 'from-state': { type: 'string' }, rounds: { type: 'string', default: '7' } },
});
if (!values['from-state'])
  throw new Error('--from-state DIR is required (a state saved by converge-profile)');
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'sfip-start-read-'));
let gcMs = 0;
const gc = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
});
gc.observe({ entryTypes: ['gc'] });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  cpSync(values['from-state'], dir, { recursive: true });
  const store = new SqliteStore({ path: join(dir, 'sfip.db') });
  const figures = { list: [] as number[], intents: [] as number[], cpu: [] as number[], gc: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    gcMs = 0;
    const [listMs, intentMs, cpuMs, mapped] = await store.read((view) => {
      const t0 = performance.now();
      const byRouter = new Map<string, FloatingIp[]>();
      for (const fip of view.list('floatingip')) {
        if (fip.routerId === null) continue;
        const of = byRouter.get(fip.routerId);
        if (of) of.push(fip);
        else byRouter.set(fip.routerId, [fip]);
      }
      const t1 = performance.now();
      const cpu = process.cpuUsage();
      let mappings = 0;
      for (const router of view.list('router'))
        mappings += routerIntent(view, router, byRouter.get(router.id) ?? []).desired?.mappings.length ?? 0;
      const used = process.cpuUsage(cpu);
      return [t1 - t0, performance.now() - t1, (used.user + used.system) / 1000, mappings] as const;
    });
    // The observer reports collections asynchronously.
    await new Promise((resolve) => setTimeout(resolve, 50));
    figures.list.push(listMs);
    figures.intents.push(intentMs);
    figures.cpu.push(cpuMs);
    figures.gc.push(gcMs);
    console.log(
      `round ${round}: list ${listMs.toFixed(0)} ms, intents ${intentMs.toFixed(0)} ms (CPU ${cpuMs.toFixed(0)} ms, ${mapped} mappings), GC ${gcMs.toFixed(0)} ms, load ${loadavg()[0]!.toFixed(1)}`,
    );
  }
  console.log(
    `median: list ${median(figures.list).toFixed(0)} ms, intents ${median(figures.intents).toFixed(0)} ms (CPU ${median(figures.cpu).toFixed(0)} ms), GC ${median(figures.gc).toFixed(0)} ms`,
  );
  await store.close();
} finally {
  gc.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
