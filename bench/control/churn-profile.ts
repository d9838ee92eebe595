/**
 * Churn and scrape of one lab router holding N floating IPs, or of R routers holding N each (`--routers R`, as in
 * converge-profile.ts), optionally with the daemon's CPU profile: where a change and a scrape spend their time. Faster than the scale suite (no samples, fill or restart), for one row.
 * `node --import tsx bench/control/churn-profile.ts --fips 100000 --backend nftables --per-second 1000
 * --seconds 60 [--prof-dir DIR] [--from-state DIR | --save-state DIR] [--resync-interval 1m] [--transport http]
 * [--loop-probe FILE]` (after `npm run build`).
 * --resync-interval: the daemon's periodic resync (the scale suite's 1m by default); a longer one keeps it out of
 * the churn, to tell its share of the tail from the deltas' own. Prints the
 * converge time, the scrape figures, the churn figures and the CPU of the daemon and of its children.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../../src/client/api-client.js';
import { run } from '../../src/exec/run.js';
import { quantile } from '../stats.js';
import type { BackendName } from '../../src/model/index.js';
import { churnAssociations, scrapeDuringShows } from './api-measures.js';
import { MAX_IN_FLIGHT } from './churn-load.js';
import { httpTransport } from './http-transport.js';
import { ServerProcess } from './processes.js';
import { profileTopology, stateRouters } from './profile-topology.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';

const { values } = parseArgs({
  options: {
    fips: { type: 'string', default: '100000' },
    /** R routers of --fips each, on the scale suite's topology; absent: one router on the forwarding bench's. */
    routers: { type: 'string' },
    backend: { type: 'string', default: 'nftables' },
    'prof-dir': { type: 'string' },
    port: { type: 'string', default: '29700' },
    'from-state': { type: 'string' },
    'save-state': { type: 'string' },
    'per-second': { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
    /** Each window of the scrape measure (shows alone, then shows during scrapes); 0: no scrape measure. */
    'scrape-window-ms': { type: 'string', default: '5000' },
    prefix: { type: 'string', default: 'cvp' },
    /** Run the daemon of another built tree (e.g. main, to compare on the same machine state); ends with /. */
    root: { type: 'string' },
    'resync-interval': { type: 'string', default: '1m' },
    /** FILE: the daemon writes its event-loop delay and collections there once a second (loop-probe.mjs). */
    'loop-probe': { type: 'string' },
    /**
     * How the churn's changes are sent: http (the default since 2026-12-06, as the scale suite's churn and the
     * fills: kept-alive node:http, http-transport.ts) or fetch (as rows before it were measured): the client's CPU on
     * the 2-core machine is the daemon's loss.
     */
    transport: { type: 'string', default: 'http' },
    /** Flags for the daemon's node, space-separated (e.g. V8's --always-sparkplug), to try them on a churn. */
    'daemon-node-args': { type: 'string' },
  },
});
if (values.transport !== 'fetch' && values.transport !== 'http')
  throw new Error(`--transport ${values.transport}: expected fetch or http`);
const fips = Number(values.fips);
const port = Number(values.port);
const t = profileTopology(
  values.prefix,
  fips,
  values.routers === undefined ? undefined : Number(values.routers),
);
const stateDir = mkdtempSync(join(tmpdir(), 'sfip-churn-'));
const url = `http://127.0.0.1:${port}`;
const load = () => loadavg()[0]!.toFixed(1);
/** CPU seconds so far of each process living in the routers' namespaces (the agent's nft and ip channels). */
const namespaceCpu = async (): Promise<Map<string, number>> => {
  const pids: string[] = [];
  for (const namespace of t.namespaces)
    pids.push(...(await run('ip', ['netns', 'pids', namespace])).stdout.split(/\s+/).filter(Boolean));
  const out = new Map<string, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${comm} ${pid}`, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      /* gone */
    }
  }
  return out;
};
/** API show p99 over `windowMs` (one every 10 ms), while `work` runs back to back. */
const showsWhile = async (fipId: string, windowMs: number, work: () => Promise<void>) => {
  const api = new ApiClient(url);
  let busy = true;
  let works = 0;
  const worker = (async () => {
    while (busy) {
      await work();
      works++;
    }
  })();
  const latencies: Promise<number>[] = [];
  const end = performance.now() + windowMs;
  while (performance.now() < end) {
    const sent = performance.now();
    latencies.push(api.get(`/v2.0/floatingips/${fipId}`).then(() => performance.now() - sent));
    await new Promise((res) => setTimeout(res, 10));
  }
  const sorted = (await Promise.all(latencies)).sort((a, b) => a - b);
  busy = false;
  await worker;
  return { shows: sorted.length, showP99Ms: quantile(sorted, 0.99), scrapes: works };
};
/** The state's routers: their eBPF pins outlive the namespaces (see converge-profile.ts). */
let routerIds: string[] = [];
const removePins = () => {
  for (const id of routerIds) rmSync(join(PIN_ROOT, id), { recursive: true, force: true });
};
let server: ServerProcess | undefined;
try {
  await t.build();
  if (values['from-state']) cpSync(values['from-state'], stateDir, { recursive: true });
  else await t.populate(stateDir, values.backend as BackendName);
  if (values['save-state'] && !values['from-state'])
    cpSync(stateDir, values['save-state'], { recursive: true });
  routerIds = await stateRouters(stateDir, values.backend as BackendName, values.prefix);
  removePins();
  const prof = values['prof-dir']
    ? ['--cpu-prof', `--cpu-prof-dir=${values['prof-dir']}`, '--cpu-prof-name=churn.cpuprofile']
    : [];
  prof.push(...(values['daemon-node-args']?.split(' ').filter(Boolean) ?? []));
  if (values['loop-probe']) {
    // The daemon inherits this process's environment: the probe finds its file there.
    process.env.SFIP_LOOP_PROBE_FILE = values['loop-probe'];
    prof.push('--import', new URL('./loop-probe.mjs', import.meta.url).href);
  }
  server = new ServerProcess(stateDir, port, prof, values.root, [
    '--resync-interval',
    values['resync-interval'],
  ]);
  const converge = await server.whenReady(url, 600_000);
  console.log(`converge ${converge.toFixed(0)} ms (load ${load()})`);
  process.env.SFIP_TOKEN = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
  const api = new ApiClient(url);
  await new Promise((res) => setTimeout(res, 5000));
  const window = Number(values['scrape-window-ms']);
  if (window > 0) {
    const page = await api.get<{ floatingips: { id: string }[] }>('/v2.0/floatingips?limit=1&fields=id');
    const c0 = server.cpuSeconds();
    const scrape = await scrapeDuringShows(url, page.floatingips[0]!.id, window);
    const c1 = server.cpuSeconds();
    console.log(
      `scrape ${JSON.stringify(scrape)} daemon CPU ${(c1.daemon - c0.daemon).toFixed(2)} s (load ${load()})`,
    );
    // The same shows while curl scrapes, in a process of its own: the measure above reads each 60 MB body in the
    // process that times the shows, so its own event loop stalls (decoding the body) count in their latency.
    const during = await showsWhile(page.floatingips[0]!.id, window, async () => {
      const token = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
      await run('curl', ['-sf', '-o', '/dev/null', '-H', `x-auth-token: ${token}`, `${url}/metrics`]);
    });
    console.log(`shows while curl scrapes: ${JSON.stringify(during)} (load ${load()})`);
  }
  const c0 = server.cpuSeconds();
  const n0 = await namespaceCpu();
  const churn = await churnAssociations(api, url, server.child.pid!, '', {
    perSecond: Number(values['per-second']),
    seconds: Number(values.seconds),
    ...(values.transport === 'http' && { transport: httpTransport(MAX_IN_FLIGHT) }),
  });
  const c1 = server.cpuSeconds();
  const n1 = await namespaceCpu();
  // Per program: with 100 routers, one line per process would be 200 of them.
  const byProgram = new Map<string, { processes: number; seconds: number }>();
  for (const [p, s] of n1) {
    const program = p.slice(0, p.lastIndexOf(' '));
    const sum = byProgram.get(program) ?? { processes: 0, seconds: 0 };
    byProgram.set(program, { processes: sum.processes + 1, seconds: sum.seconds + s - (n0.get(p) ?? 0) });
  }
  const channels = [...byProgram]
    .map(([p, { processes, seconds }]) => `${p} (${processes}): ${seconds.toFixed(1)} s`)
    .join(', ');
  console.log(`CPU during the churn of the processes in the routers' namespaces: ${channels}`);
  console.log(
    `churn ${JSON.stringify(churn)} CPU daemon ${(c1.daemon - c0.daemon).toFixed(1)} s, exited children ${(c1.children - c0.children).toFixed(1)} s (load ${load()})`,
  );
} finally {
  await server?.stop();
  await t.destroy();
  removePins();
  rmSync(stateDir, { recursive: true, force: true });
}
