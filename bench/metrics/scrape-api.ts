/**
 * Issue 15's "API p99 unaffected by a scrape" on the real daemon with a converged lab router, without the whole
 * scale suite: `node --import tsx bench/metrics/scrape-api.ts --from-state DIR [--prefix cvp] [--port 29751]
 * [--rounds 3] [--window 3000] [--prof-dir DIR]`, DIR a store saved by bench/control/converge-profile.ts
 * `--save-state` with the same prefix (after `npm run build`). Each round measures API show alone and while
 * /metrics is scraped back to back, twice: scraped by the benchmark's own fetch (the scale suite's figure,
 * bench/control/api-measures.ts) and by curl in its own process (bench/metrics/scraper.ts), whose figure also
 * carries the daemon's own event-loop lag max between two scrapes.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../../src/client/api-client.js';
import { quantile } from '../stats.js';
import { benchTopology, buildTopology, destroyTopology } from '../topology.js';
import { scrapeDuringShows } from '../control/api-measures.js';
import { ServerProcess } from '../control/processes.js';
import { showWindow, startScraper } from './run-metrics-scale.js';

const { values } = parseArgs({
  options: {
    'from-state': { type: 'string' },
    prefix: { type: 'string', default: 'cvp' },
    port: { type: 'string', default: '29751' },
    rounds: { type: 'string', default: '3' },
    window: { type: 'string', default: '3000' },
    'prof-dir': { type: 'string' },
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
  );
  try {
    console.log(`ready in ${(await server.whenReady(url, 600_000)).toFixed(0)} ms; load ${load()}`);
    const token = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    const page = await new ApiClient(url, token).get<{ floatingips: { id: string }[] }>(
      '/v2.0/floatingips?limit=1&fields=id',
    );
    const fipId = page.floatingips[0]!.id;
    for (let round = 1; round <= Number(values.rounds); round++) {
      const s = await scrapeDuringShows(url, fipId, windowMs);
      console.log(
        `round ${round} fetch scraper: first scrape ${f(s.firstScrapeMs)} ms, scrape p50 ${f(s.scrapeP50Ms)} max ` +
          `${f(s.scrapeMaxMs)} ms (${s.scrapes} scrapes); show p99 alone ${f(s.showP99AloneMs)} ms, during ` +
          `${f(s.showP99DuringMs)} ms; errors ${s.showErrors}/${s.scrapeErrors ?? 0}; load ${load()}`,
      );
      const alone = (await showWindow(url, token, [fipId], windowMs)).sort((a, b) => a - b);
      const scraper = startScraper(url, token);
      await scraper.first;
      const during = (await showWindow(url, token, [fipId], windowMs)).sort((a, b) => a - b);
      const scrapes = await scraper.stop();
      const ms = scrapes.map((x) => x.ms).sort((a, b) => a - b);
      console.log(
        `round ${round} curl scraper: scrape p50 ${f(quantile(ms, 0.5))} ms (${ms.length} scrapes); show p50/p99 ` +
          `alone ${f(quantile(alone, 0.5))}/${f(quantile(alone, 0.99))} ms, during ${f(quantile(during, 0.5))}/` +
          `${f(quantile(during, 0.99))} ms; daemon loop lag max ${f(Math.max(0, ...scrapes.map((x) => x.lagMs ?? 0)))} ms; load ${load()}`,
      );
    }
  } finally {
    await server.stop();
  }
} finally {
  await destroyTopology(t);
  rmSync(stateDir, { recursive: true, force: true });
}
