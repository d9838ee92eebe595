/**
 * Filling through the API with the agent running, alone, through the real daemon on a scale topology (issue 15's
 * fill goal): the per-request fill and the bulk fill of the scale suite, each timed from the first request to
 * every floating IP ACTIVE, with the daemon's CPU and optionally its profile; no samples, churn or restart, so a
 * change to the create path is measured in minutes.
 * `node --import tsx bench/control/fill-profile.ts --routers 1 --per-router 100000 --backend nftables --fill 5000
 * --methods per-request,bulk[,onto-ports] --prefix hk --port 29900 [--template DIR] [--prof-dir DIR]` (after `npm run build`).
 * `onto-ports`: floating IPs for ports created (in bulk, untimed) just before, one request each.
 * `--template DIR` keeps the populated store there (and its ids) and reuses it on the next run of the same shape.
 * `--root DIR` runs the daemon from another tree's build (DIR/dist, DIR/node_modules), to compare two builds.
 * `--repeat N` runs the fills N times through the same daemon (the template's subnets hold a few fills more than
 * the two it is sized for). `--api-workers default|N`: the daemon's API workers, 0 unless given; `default` is what `sfip serve` runs (one per
 * core). The daemon's CPU is then its primary's plus its workers', each also shown apart (and per floating IP);
 * with --prof-dir each process writes its own profile (Node's names, CPU.….PID….cpuprofile; the primary's and the
 * workers' PIDs are printed). A profile spans its process's whole life, start and converge included, and the first
 * fill runs mostly unoptimised code (each worker warms its own JIT on half the requests): compare repeats, not one.
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseBackendName } from '../../src/model/index.js';
import {
  bulkFillThroughApi,
  fillOntoPortsThroughApi,
  fillThroughApi,
  type FillResult,
} from './api-measures.js';
import { populatedTemplate } from './populate-scale.js';
import { apiWorkersLabel, parseApiWorkers, ServerProcess } from './processes.js';
import { scaleTopology } from './scale-topology.js';
import { templateRun } from './template-run.js';

const { values } = parseArgs({
  options: {
    routers: { type: 'string', default: '1' },
    'per-router': { type: 'string', default: '100000' },
    backend: { type: 'string', default: 'nftables' },
    fill: { type: 'string', default: '5000' },
    methods: { type: 'string', default: 'per-request,bulk' },
    'bulk-size': { type: 'string', default: '100' },
    prefix: { type: 'string', default: 'fil' },
    port: { type: 'string', default: '29740' },
    'prof-dir': { type: 'string' },
    template: { type: 'string' },
    /** Another source tree whose build (ROOT/dist) runs the daemon, e.g. a checkout of main: before and after. */
    root: { type: 'string' },
    'api-workers': { type: 'string', default: '0' },
    /** The fills (every method) this many times through the same daemon: samples without a topology each. */
    repeat: { type: 'string', default: '1' },
  },
});
const apiWorkers = parseApiWorkers(values['api-workers']);
const backend = parseBackendName(values.backend);
const fill = Number(values.fill);
const bulkSize = Number(values['bulk-size']);
const methods = values.methods.split(',');
for (const m of methods)
  if (m !== 'per-request' && m !== 'bulk' && m !== 'onto-ports')
    throw new Error(`--methods: '${m}' is none of per-request, bulk, onto-ports`);
const shape = { routers: Number(values.routers), perRouter: Number(values['per-router']) };
// The template is sized for both fills whatever runs, so one template serves every --methods.
const t = scaleTopology(values.prefix, shape, { samples: 0, fill: 2 * fill });
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat '${values.repeat}': expected a count`);
const port = Number(values.port);
const url = `http://127.0.0.1:${port}`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const template = values.template ?? mkdtempSync(join(tmpdir(), 'sfip-fill-template-'));
const ids = await populatedTemplate(template, t, backend, 0);
let server: ServerProcess | undefined;
const run = await templateRun({
  t,
  ids,
  template,
  keepTemplate: values.template !== undefined,
  backend,
  name: 'fill',
  stop: () => server?.child.kill('SIGKILL'),
});
try {
  const prof = values['prof-dir'];
  server = new ServerProcess(
    run.stateDir,
    port,
    // The workers inherit the primary's flags: one name would have each process overwrite the others' profile, so
    // with workers Node's own names (CPU.date.time.PID...) tell them apart; the primary's PID is printed below.
    prof
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${prof}`,
          ...(apiWorkers === 0 ? ['--cpu-prof-name=fill.cpuprofile'] : []),
        ]
      : [],
    values.root === undefined ? undefined : `${values.root.replace(/\/$/, '')}/`,
    [],
    apiWorkers,
  );
  const convergeMs = await server.whenReady(url, 1_200_000);
  console.log(
    `converged in ${(convergeMs / 1000).toFixed(1)} s (load ${load()}), primary PID ${server.child.pid}` +
      (apiWorkers === 0 ? '' : `, API worker PIDs ${server.workerPids().join(' ')}`),
  );
  await new Promise((r) => setTimeout(r, 10_000));
  const networks = ids.routers.map((r) => r.internalNetworkId);
  for (const method of Array.from({ length: repeat }, () => methods).flat()) {
    const before = load();
    const c0 = server.cpuSeconds();
    // This process is the 16 clients: on a 2-core machine their CPU is taken from the daemon's.
    const client0 = process.cpuUsage();
    const result: FillResult =
      method === 'bulk'
        ? await bulkFillThroughApi(url, networks, ids.externalNetworkId, fill, undefined, bulkSize)
        : method === 'onto-ports'
          ? await fillOntoPortsThroughApi(url, networks, ids.externalNetworkId, fill)
          : await fillThroughApi(url, networks, ids.externalNetworkId, fill);
    const c1 = server.cpuSeconds();
    const client = process.cpuUsage(client0);
    const active = result.active ?? result.count;
    const primary = c1.daemon - c0.daemon;
    const workers = c1.workers - c0.workers;
    // Per floating IP as well: the figure to compare across fills of other sizes, and with and without workers.
    const perIp = (seconds: number) => `${((seconds * 1000) / Math.max(active, 1)).toFixed(2)} ms/IP`;
    const daemonCpu =
      apiWorkers === 0
        ? `daemon CPU ${primary.toFixed(1)} s (${perIp(primary)})`
        : `daemon CPU ${(primary + workers).toFixed(1)} s (${perIp(primary + workers)}; primary ${primary.toFixed(1)} s, ` +
          `${perIp(primary)}, workers ${workers.toFixed(1)} s, ${perIp(workers)})`;
    console.log(
      `${backend} ${shape.routers} × ${shape.perRouter} ${method}${method === 'bulk' ? ` of ${bulkSize}` : ''}, ` +
        `${apiWorkersLabel(apiWorkers)}: ` +
        `${active} ACTIVE of ${result.count} in ${result.ms.toFixed(0)} ms = ${Math.round(active / (result.ms / 1000))}/s, ` +
        `${daemonCpu}, children ${(c1.children - c0.children).toFixed(1)} s, ` +
        `clients ${((client.user + client.system) / 1e6).toFixed(1)} s; ` +
        `load ${before} before, ${load()} after`,
    );
    await new Promise((r) => setTimeout(r, 5000));
  }
  await server.stop();
} finally {
  await run.cleanup();
}
