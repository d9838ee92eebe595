/**
 * Associate → traffic samples alone, through the real daemon on a scale topology (issue 15's tail): no
 * converge-from-empty figures, restart, churn or fill, so a change to the agent is measured in minutes.
 * `node --import tsx bench/control/associate-tail.ts --routers 100 --per-router 1000 --backend ebpf --samples 200
 * --prefix hf --port 29730 [--resync-interval 10s] [--prof-dir DIR] [--template DIR]` (after `npm run build`).
 * `--template DIR` keeps the populated store there (and its ids) and reuses it on the next run of the same shape.
 * Prints p50/p99/max, the load average, and the samples over 100 ms with their wall time (to match against the
 * daemon's profile or a stall log).
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../../src/client/api-client.js';
import { parseBackendName } from '../../src/model/index.js';
import { quantile } from '../stats.js';
import { associateSamples } from './associate-samples.js';
import { populatedTemplate } from './populate-scale.js';
import { NamespaceHelper, ServerProcess } from './processes.js';
import { scaleTopology } from './scale-topology.js';
import { templateRun } from './template-run.js';

const { values } = parseArgs({
  options: {
    routers: { type: 'string', default: '1' },
    'per-router': { type: 'string', default: '100000' },
    backend: { type: 'string', default: 'ebpf' },
    samples: { type: 'string', default: '200' },
    prefix: { type: 'string', default: 'ast' },
    port: { type: 'string', default: '29730' },
    'resync-interval': { type: 'string' },
    'prof-dir': { type: 'string' },
    template: { type: 'string' },
    /** More node options for the daemon, space-separated (e.g. `--import ./stall-log.mjs`). */
    'node-args': { type: 'string', default: '' },
  },
});
const backend = parseBackendName(values.backend);
const samples = Number(values.samples);
const shape = { routers: Number(values.routers), perRouter: Number(values['per-router']) };
const t = scaleTopology(values.prefix, shape, { samples, fill: 0 });
const port = Number(values.port);
const url = `http://127.0.0.1:${port}`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const template = values.template ?? mkdtempSync(join(tmpdir(), 'sfip-assoc-tail-template-'));
const ids = await populatedTemplate(template, t, backend, samples);
const helpers: NamespaceHelper[] = [];
let server: ServerProcess | undefined;
const run = await templateRun({
  t,
  ids,
  template,
  keepTemplate: values.template !== undefined,
  backend,
  name: 'assoc-tail',
  stop: () => {
    for (const h of helpers) h.close();
    server?.child.kill('SIGKILL');
  },
});
try {
  const prof = values['prof-dir'];
  server = new ServerProcess(
    run.stateDir,
    port,
    [
      ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`, '--cpu-prof-name=daemon.cpuprofile'] : []),
      ...values['node-args'].split(' ').filter(Boolean),
    ],
    undefined,
    values['resync-interval'] ? ['--resync-interval', values['resync-interval']] : [],
  );
  // Generous: 100 routers converge in minutes on a loaded 2-core machine.
  const convergeMs = await server.whenReady(url, 1_200_000);
  console.log(`converged in ${(convergeMs / 1000).toFixed(1)} s (load ${load()})`);
  await new Promise((r) => setTimeout(r, 10_000));
  const echo = new NamespaceHelper(t.sink, ['--echo', '7']);
  const sender = new NamespaceHelper(t.gen, ['--rpc']);
  helpers.push(echo, sender);
  await Promise.all([echo.ready, sender.ready]);
  const before = load();
  const started = Date.now();
  const result = await associateSamples({
    t,
    ids,
    api: new ApiClient(url),
    sender,
    samples,
    budgetMs: Infinity,
    replyTimeoutMs: 10_000,
    log: (line) => console.log(line),
  });
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  console.log(
    `${backend} ${shape.routers} × ${shape.perRouter}: associate → traffic p50 ${quantile(sorted, 0.5).toFixed(1)} ms p99 ${quantile(sorted, 0.99).toFixed(1)} ms max ${sorted.at(-1)?.toFixed(1)} ms, ${sorted.length} of ${samples} (${result.latencyFailures} failed) in ${((Date.now() - started) / 1000).toFixed(1)} s; load ${before} before, ${load()} after`,
  );
  const slow = result.latenciesMs.flatMap((ms, k) => (ms > 100 ? [`#${k} ${ms.toFixed(0)} ms`] : []));
  console.log(
    `samples over 100 ms: ${slow.join(', ') || 'none'}; sampling ran from ${started} to ${Date.now()}`,
  );
  await server.stop();
} finally {
  await run.cleanup();
}
