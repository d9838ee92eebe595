/**
 * Issue 15's "API p99 unaffected by a scrape" on the real daemon with a converged lab router, without the whole
 * scale suite: `node --import tsx bench/metrics/scrape-api.ts --from-state DIR [--prefix cvp] [--port 29751]
 * [--rounds 3] [--window 3000] [--prof-dir DIR] [--tree ROOT]`, DIR a store saved by bench/control/converge-profile.ts
 * `--save-state` with the same prefix (after `npm run build`). Each round measures API show alone and while
 * /metrics is scraped back to back, twice: scraped by this process's own fetch, reading each body whole (how the
 * scale suite measured before), and by curl in its own process (bench/metrics/scraper.ts, as the scale suite's
 * api-measures.ts does now), whose figure also carries the daemon's own event-loop lag max between two scrapes. Then checks that the dashboard's data still
 * pages and searches at this size (issue 15 item 4).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../../src/client/api-client.js';
import { quantile } from '../stats.js';
import { benchTopology, buildTopology, destroyTopology } from '../topology.js';
import { ServerProcess } from '../control/processes.js';
import { scrapeTimes, showWindow, startScraper } from './run-metrics-scale.js';

const { values } = parseArgs({
  options: {
    'from-state': { type: 'string' },
    prefix: { type: 'string', default: 'cvp' },
    port: { type: 'string', default: '29751' },
    rounds: { type: 'string', default: '3' },
    window: { type: 'string', default: '3000' },
    'prof-dir': { type: 'string' },
    /** Another source tree (built, node_modules linked) whose daemon to measure, e.g. `git archive` of main. */
    tree: { type: 'string' },
  },
});
if (!values['from-state'])
  throw new Error('--from-state DIR is required (see converge-profile.ts --save-state)');
const port = Number(values.port);
const windowMs = Number(values.window);
const t = benchTopology(values.prefix!, ['cp']);
const stateDir = mkdtempSync(join(tmpdir(), 'sfip-scrape-api-'));
const url = `http://127.0.0.1:${port}`;
const f = (ms: number) => ms.toFixed(1);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
try {
  await buildTopology(t);
  cpSync(values['from-state'], stateDir, { recursive: true });
  const server = new ServerProcess(
    stateDir,
    port,
    values['prof-dir']
      ? ['--cpu-prof', `--cpu-prof-dir=${values['prof-dir']}`, '--cpu-prof-name=scrape.cpuprofile']
      : [],
    values.tree ? (values.tree.endsWith('/') ? values.tree : `${values.tree}/`) : undefined,
    // The agent's periodic full pass of 100,000 holds the loop for seconds (2.9-8 s in the daemon's profile at load
    // 5-12): with the suite's 1 min it fell into some windows and not others. It is not the scrape's doing.
    ['--resync-interval', '1h'],
  );
  try {
    console.log(`ready in ${(await server.whenReady(url, 600_000)).toFixed(0)} ms; load ${load()}`);
    const token = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    const page = await new ApiClient(url, token).get<{ floatingips: { id: string }[] }>(
      '/v2.0/floatingips?limit=1&fields=id',
    );
    const fipId = page.floatingips[0]!.id;
    const times = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return `${f(quantile(sorted, 0.5))}/${f(quantile(sorted, 0.99))}`;
    };
    let showErrors = 0;
    const onError = () => void showErrors++;
    for (let round = 1; round <= Number(values.rounds); round++) {
      // Scraped from this process, reading each body whole (the scale suite's measure until it moved to curl).
      const alone = await showWindow(url, token, [fipId], windowMs, onError);
      let busy = true;
      const fetched: number[] = [];
      const fetcher = (async () => {
        while (busy) {
          const started = performance.now();
          try {
            const response = await fetch(`${url}/metrics`, { headers: { 'x-auth-token': token } });
            await response.text();
            fetched.push(performance.now() - started);
          } catch {
            showErrors++;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      })();
      const duringFetch = await showWindow(url, token, [fipId], windowMs, onError);
      busy = false;
      await fetcher;
      // Scraped by curl in its own process, as Prometheus does (the scale suite's measure, api-measures.ts).
      const scraper = startScraper(url, token);
      await scraper.first;
      const duringCurl = await showWindow(url, token, [fipId], windowMs, onError);
      const samples = await scraper.stop();
      const scrapes = scrapeTimes(samples);
      console.log(
        `round ${round}: show p50/p99 alone ${times(alone)} ms; scraped by this process: show ${times(duringFetch)} ms, ` +
          `scrape p50 ${f(
            quantile(
              [...fetched].sort((a, b) => a - b),
              0.5,
            ),
          )} ms (${fetched.length}); scraped by curl: ` +
          `show ${times(duringCurl)} ms, scrape p50 ${times(scrapes.map((x) => x.ms)).split('/')[0]} ms ` +
          `(${scrapes.length}, ${samples.length - scrapes.length} failed), daemon loop lag max ` +
          `${f(Math.max(0, ...scrapes.map((x) => x.lagMs ?? 0)))} ms; ${showErrors} shows or fetched scrapes failed so far; load ${load()}`,
      );
    }
    for (const query of [
      'limit=50&offset=50000',
      'limit=50&search=100.65.1',
      'limit=50&search=100.65.200.7',
    ]) {
      const started = performance.now();
      const response = await fetch(`${url}/dashboard/api/state?${query}`, {
        headers: { 'x-auth-token': token },
      });
      const state = (await response.json()) as {
        routers: { floatingIpCount: number; matched: number; offset: number; floatingIps: unknown[] }[];
      };
      const r = state.routers[0];
      console.log(
        `dashboard ${query}: HTTP ${response.status} in ${f(performance.now() - started)} ms; ` +
          (r
            ? `${r.floatingIps.length} of ${r.matched} matching (${r.floatingIpCount} in all) from ${r.offset}`
            : 'no router'),
      );
    }
  } finally {
    await server.stop();
  }
} finally {
  await destroyTopology(t);
  rmSync(stateDir, { recursive: true, force: true });
}
