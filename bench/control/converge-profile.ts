/**
 * Converge and restart of one lab router holding N floating IPs, or of R routers holding N each (`--routers R`:
 * issue 15's 100 × 1,000 is `--routers 100 --fips 1000`), with the daemon's CPU profile: where a full pass
 * spends its time. `node --import tsx bench/control/converge-profile.ts --fips 100000 --backend nftables
 * --prof-dir DIR [--count-programs]` (after `npm run build`). Prints converge and restart times, CPU and RSS;
 * the profiles (converge.cpuprofile, restart.cpuprofile) land in DIR. Converge starts from an empty kernel, the
 * eBPF pins of the state's routers included; a state from --from-state is measured with every router on
 * --backend. --count-programs: how many processes the daemon started in each phase, per program.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import type { BackendName } from '../../src/model/index.js';
import { ServerProcess } from './processes.js';
import { profileTopology, stateRouters } from './profile-topology.js';
import { countPrograms } from './program-counts.js';

const { values } = parseArgs({
  options: {
    fips: { type: 'string', default: '100000' },
    /** R routers of --fips each, on the scale suite's topology; absent: one router on the forwarding bench's. */
    routers: { type: 'string' },
    'count-programs': { type: 'boolean' },
    backend: { type: 'string', default: 'nftables' },
    'prof-dir': { type: 'string' },
    port: { type: 'string', default: '29700' },
    /** A state directory populated before (same topology prefix): copied instead of populating again. */
    'from-state': { type: 'string' },
    /** Keep a copy of the freshly populated store here, for --from-state in later runs. */
    'save-state': { type: 'string' },
    'no-restart': { type: 'boolean' },
    /** After converging, force a full GC (by writing a heap snapshot into --prof-dir) and report the live heap. */
    'heap-snapshot': { type: 'boolean' },
    /** Seconds to keep the converged daemon running after its settled figures, to inspect it from outside. */
    hold: { type: 'string', default: '0' },
    /** Namespace and device prefix: runs beside each other need their own (a state keeps the router's namespace). */
    prefix: { type: 'string', default: 'cvp' },
    /**
     * Scrape /metrics every this many ms while converging, as Prometheus or an open dashboard would (absent: no
     * scrape until converged). Shows what the metrics index costs a converge it runs beside.
     */
    'scrape-ms': { type: 'string' },
    /** Run the daemon of another built tree (e.g. main, to compare on the same machine state); ends with /. */
    root: { type: 'string' },
  },
});
const fips = Number(values.fips);
const port = Number(values.port);
const routers = values.routers === undefined ? undefined : Number(values.routers);
const t = profileTopology(values.prefix, fips, routers);
const total = fips * (routers ?? 1);
const stateDir = mkdtempSync(join(tmpdir(), 'sfip-converge-'));
const url = `http://127.0.0.1:${port}`;
const load = () => loadavg()[0]!.toFixed(1);
/** The routers of the state: eBPF pins outlive the namespaces, and a copied state brings the same ids back. */
let routerIds: string[] = [];
const removePins = () => {
  for (const id of routerIds) rmSync(join(PIN_ROOT, id), { recursive: true, force: true });
};
const profile = (name: string) => [
  ...(values['prof-dir']
    ? ['--cpu-prof', `--cpu-prof-dir=${values['prof-dir']}`, `--cpu-prof-name=${name}.cpuprofile`]
    : []),
  // Writing a snapshot collects garbage first: the heap figures after it are what the daemon really holds.
  ...(values['heap-snapshot']
    ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${values['prof-dir'] ?? '.'}`]
    : []),
];
try {
  await t.build();
  const p0 = performance.now();
  if (values['from-state']) cpSync(values['from-state'], stateDir, { recursive: true });
  else await t.populate(stateDir, values.backend as BackendName);
  if (values['save-state'] && !values['from-state'])
    cpSync(stateDir, values['save-state'], { recursive: true });
  routerIds = await stateRouters(stateDir, values.backend as BackendName, values.prefix);
  // Converge starts from an empty kernel: a run before this one (same state, same router ids) left its pins.
  removePins();
  console.log(`populated ${routers ?? 1} × ${fips} = ${total} in ${(performance.now() - p0).toFixed(0)} ms`);
  /** The daemon's own view of its memory (prom-client's process metrics), beside RSS from /proc. */
  async function heap(when: string): Promise<void> {
    const text = await (await fetch(`${url}/metrics`, { headers: await adminHeaders() })).text();
    const metric = (name: string) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
    console.log(
      `${when}: RSS ${server.memory().rssMiB.toFixed(0)} MiB, heap used ${metric('sfip_nodejs_heap_size_used_bytes').toFixed(0)} of ${metric('sfip_nodejs_heap_size_total_bytes').toFixed(0)} MiB, external ${metric('sfip_nodejs_external_memory_bytes').toFixed(0)} MiB`,
    );
  }
  async function adminHeaders(): Promise<Record<string, string>> {
    const token = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    return { 'x-auth-token': token, authorization: `Bearer ${token}` };
  }
  /** One scrape at a time, each `everyMs` after the last began; those before the admin token exists fail. */
  function scrapeWhileConverging(everyMs: number): { stop: () => Promise<string> } {
    let stopped = false;
    let ok = 0;
    let failed = 0;
    const durations: number[] = [];
    const loop = (async () => {
      while (!stopped) {
        const began = performance.now();
        try {
          const response = await fetch(`${url}/metrics`, { headers: await adminHeaders() });
          await response.text();
          if (response.ok) {
            ok++;
            durations.push(performance.now() - began);
          } else failed++;
        } catch {
          failed++;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (performance.now() - began))));
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await loop;
        const ms = durations.map((d) => d.toFixed(0)).join(', ');
        return `${ok} answered (${ms} ms), ${failed} failed or refused`;
      },
    };
  }
  const cpu = (s: ServerProcess): string => {
    const { daemon, children, running, server, serverPrograms, channels, channelsBy } = s.cpuSeconds();
    const by = Object.entries(channelsBy)
      .sort(([, a], [, b]) => b - a)
      .map(([comm, seconds]) => `${comm} ${seconds.toFixed(2)}`)
      .join(', ');
    return `CPU ${daemon.toFixed(1)} s daemon + ${children.toFixed(1)} s children + ${running.toFixed(1)} s running children (spawn server ${server.toFixed(1)} s, its programs ${serverPrograms.toFixed(1)} s, channels ${channels.toFixed(1)} s: ${by})`;
  };
  const programs = values['count-programs'] ? countPrograms() : undefined;
  let server = new ServerProcess(stateDir, port, profile('converge'), values.root);
  const scraper =
    values['scrape-ms'] === undefined ? undefined : scrapeWhileConverging(Number(values['scrape-ms']));
  const converge = await server.whenReady(url, 600_000);
  if (scraper) console.log(`scrapes while converging: ${await scraper.stop()}`);
  const m1 = server.memory();
  console.log(
    `converge ${converge.toFixed(0)} ms (load ${load()}), ${cpu(server)}, RSS ${m1.rssMiB.toFixed(0)} MiB (peak ${m1.peakMiB.toFixed(0)})`,
  );
  if (programs) console.log(`converge started ${programs.take()}`);
  // 10 s: when the scale suite reads the settled RSS (run-control.ts SETTLE_MS), from /proc, nothing asked of the
  // daemon before: a /metrics scrape reads every floating IP's counters, which the daemon then keeps (16 MiB at
  // 100,000 on nftables) and, on nftables, parses for seconds, which keeps V8 from shrinking its young generation.
  await new Promise((r) => setTimeout(r, 10_000));
  console.log(
    `10 s later, unscraped (the scale suite's settled RSS): RSS ${server.memory().rssMiB.toFixed(0)} MiB`,
  );
  await heap('10 s later, scraped');
  await new Promise((r) => setTimeout(r, 5_000));
  await heap('15 s later');
  if (Number(values.hold) > 0) {
    console.log(`holding the daemon (pid ${server.child.pid}) for ${values.hold} s`);
    await new Promise((r) => setTimeout(r, Number(values.hold) * 1000));
    await heap('after holding');
  }
  if (values['heap-snapshot']) {
    const dir = values['prof-dir'] ?? '.';
    const before = new Set(readdirSync(dir));
    server.child.kill('SIGUSR2');
    // The snapshot is written synchronously on the daemon's thread; its file is complete once /metrics answers.
    while (![...readdirSync(dir)].some((f) => f.endsWith('.heapsnapshot') && !before.has(f)))
      await new Promise((r) => setTimeout(r, 500));
    // The snapshot blocks the daemon for seconds: wait until it answers again.
    for (let i = 0; i < 120; i++) {
      try {
        await heap('after a full GC (heap snapshot)');
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
  await server.stop();
  if (programs) console.log(`after converging, until stopped: ${programs.take()}`);
  if (!values['no-restart']) {
    server = new ServerProcess(stateDir, port, profile('restart'), values.root);
    const restart = await server.whenReady(url, 600_000);
    const m2 = server.memory();
    console.log(
      `restart ${restart.toFixed(0)} ms (load ${load()}), ${cpu(server)}, RSS ${m2.rssMiB.toFixed(0)} MiB (peak ${m2.peakMiB.toFixed(0)})`,
    );
    if (programs) console.log(`restart started ${programs.take()}`);
    // Settled as after converging: what the restarted daemon keeps once its heap trim has had its chance.
    await heap('restart');
    await new Promise((r) => setTimeout(r, 15_000));
    await heap('restart, 15 s later');
    await server.stop();
  }
} finally {
  await t.destroy();
  removePins();
  rmSync(stateDir, { recursive: true, force: true });
}
