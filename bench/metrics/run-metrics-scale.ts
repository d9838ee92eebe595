import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { COUNT_IN_SET, renderFull, tableName } from '../../src/dataplane/nftables/render.js';
import { run } from '../../src/exec/run.js';
import { spawnProgram } from '../../src/exec/spawn.js';
import { openStore } from '../../src/store/index.js';
import { populateStore } from '../control/populate.js';
import { benchDesired } from '../install.js';
import { quantile, summarize, type Summary } from '../stats.js';
import { benchTopology, floatingIpOf, type BenchTopology } from '../topology.js';

export interface MetricsScaleOptions {
  readonly sizes: readonly number[];
  /** Side-by-side rounds per size: each round measures show alone, then show during scrapes. */
  readonly rounds: number;
  /** Length of each show window, ms. */
  readonly windowMs: number;
  readonly prefix: string;
  readonly port: number;
  /** Source trees to run `sfip serve` from, by label (this checkout, and optionally an older one to compare). */
  readonly trees: readonly { readonly label: string; readonly root: string }[];
  readonly log: (line: string) => void;
  /** Called with every point so far after each one, so a run that fails later keeps what it measured. */
  readonly onPoint?: (points: readonly MetricsScalePoint[]) => void;
}

export interface MetricsScalePoint {
  readonly tree: string;
  readonly fips: number;
  /** Why this point has no numbers (the daemon died or a request failed); absent when it was measured. */
  readonly error?: string;
  /** The first scrape after start: store index, first kernel read and text. */
  readonly firstScrapeMs: number;
  /** Scrapes spaced beyond the counter cache (each triggers a new kernel read), one per round and more. */
  readonly scrapeMs: Summary;
  /** Scrapes made back to back during the "with scrapes" windows. */
  readonly busyScrapeMs: Summary;
  readonly bodyMB: number;
  /** Per-round p99 of API show, alone and while scrapes run; median and spread over the rounds. */
  readonly showP99Idle: Summary;
  readonly showP99Busy: Summary;
  readonly showP50Idle: Summary;
  readonly showP50Busy: Summary;
  readonly showSamples: number;
  /** The daemon's own longest event-loop stall between two back-to-back scrapes (prom-client's lag max), per round. */
  readonly loopLagMaxMs: Summary;
  readonly rssMiB: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * /metrics at scale through the real daemon (`sfip serve --no-agent`, its own process, from source): a store
 * holding N associated floating IPs and the router's nftables table with N counter elements in a scratch
 * namespace (loaded directly, as the agent would). Per size and per source tree, rounds alternate API show
 * latency alone and while a client scrapes /metrics back to back, so both are measured side by side.
 */
export async function runMetricsScale(o: MetricsScaleOptions): Promise<MetricsScalePoint[]> {
  const points: MetricsScalePoint[] = [];
  const t = benchTopology(o.prefix, ['m']);
  const ns = t.routers[0]!.namespace;
  for (const fips of o.sizes) {
    const stateDir = mkdtempSync(join(tmpdir(), 'sfip-metrics-bench-'));
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await run('ip', ['netns', 'add', ns]);
    try {
      o.log(`metrics: populating a store with ${fips} floating IPs`);
      // On a machine this loaded a populate has failed on a busy database once: retry it on a fresh one.
      const ids = await populateStore(stateDir, t, ns, 'nftables', fips, 0).catch(async (error: Error) => {
        o.log(`metrics: populating failed (${error.message}); retrying once`);
        rmSync(join(stateDir, 'sfip.db'), { force: true });
        rmSync(join(stateDir, 'sfip.db-wal'), { force: true });
        rmSync(join(stateDir, 'sfip.db-shm'), { force: true });
        return populateStore(stateDir, t, ns, 'nftables', fips, 0);
      });
      await run('nft', ['-f', '-'], {
        netns: ns,
        input: renderFull(benchDesired(t, t.routers[0]!, ids.routerId, fips)),
      });
      const showIds = await sampleFloatingIpIds(stateDir, 50);
      for (const tree of o.trees) {
        o.log(`metrics: ${tree.label} at ${fips} floating IPs`);
        const traffic = new CounterChurn(ns, ids.routerId, fips);
        try {
          points.push(await measure(o, tree, stateDir, fips, showIds));
          o.onPoint?.(points);
        } catch (error) {
          o.log(`metrics: ${tree.label} at ${fips} failed: ${(error as Error).message}`);
          points.push(failedPoint(tree.label, fips, (error as Error).message));
          o.onPoint?.(points);
        } finally {
          await traffic.stop();
        }
      }
    } finally {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
  return points;
}

/**
 * Stands in for live traffic: every second, 1,000 of the router's counter elements (a rotating window) get new
 * counter values, so every read finds changed counters and the daemon cannot reuse the previous text. nft cannot
 * set an existing element's counter, so each tick deletes and re-adds those elements in one transaction.
 */
class CounterChurn {
  private tick = 0;
  private readonly timer: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;

  constructor(
    private readonly ns: string,
    private readonly routerId: string,
    private readonly fips: number,
  ) {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.step()).catch((error: Error) => (this.failure ??= error));
    }, 1000);
  }

  private async step(): Promise<void> {
    this.tick++;
    const width = Math.min(1000, this.fips);
    const start = (this.tick * width) % this.fips;
    const addresses = Array.from({ length: width }, (_, i) => floatingIpOf((start + i) % this.fips));
    const table = tableName(this.routerId);
    const counted = addresses.map((a) => `${a} counter packets ${this.tick} bytes ${this.tick * 100}`);
    await run('nft', ['-f', '-'], {
      netns: this.ns,
      input: [
        `delete element ip ${table} ${COUNT_IN_SET} { ${addresses.join(', ')} }`,
        `add element ip ${table} ${COUNT_IN_SET} { ${counted.join(', ')} }`,
      ].join('\n'),
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (this.failure) throw new Error(`changing counters failed: ${this.failure.message}`);
    if (this.tick === 0) throw new Error('the counters never changed');
  }
}

async function sampleFloatingIpIds(stateDir: string, n: number): Promise<string[]> {
  const store = openStore(undefined, stateDir);
  try {
    const all = await store.read((view) => view.range('floatingip', { limit: 100_000_000 }).map((f) => f.id));
    return Array.from({ length: Math.min(n, all.length) }, (_, i) => all[Math.floor((i * all.length) / n)]!);
  } finally {
    await store.close();
  }
}

async function measure(
  o: MetricsScaleOptions,
  tree: { label: string; root: string },
  stateDir: string,
  fips: number,
  showIds: readonly string[],
): Promise<MetricsScalePoint> {
  const server = startServe(tree.root, stateDir, o.port);
  const url = `http://127.0.0.1:${o.port}`;
  let exit = '';
  server.once('exit', (code, signal) => (exit = `sfip serve exited (code ${code}, signal ${signal})`));
  try {
    await waitHealthy(url, server);
    const token = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    const first = await curlScrape(url);
    const firstScrapeMs = first.ms;
    o.log(
      `metrics: ${tree.label} ${fips}: first scrape ${firstScrapeMs.toFixed(0)} ms, ${first.bytes} bytes`,
    );
    let bodyBytes = first.bytes;
    const spaced: number[] = [];
    const busy: number[] = [];
    const p99Idle: number[] = [];
    const p99Busy: number[] = [];
    const p50Idle: number[] = [];
    const p50Busy: number[] = [];
    const lagMax: number[] = [];
    let showSamples = 0;
    for (let round = 0; round < o.rounds; round++) {
      // Spaced scrapes: beyond the 1 s counter cache, as Prometheus scrapes.
      for (let k = 0; k < 2; k++) {
        await sleep(1100);
        const spacedScrape = await curlScrape(url);
        bodyBytes = spacedScrape.bytes;
        spaced.push(spacedScrape.ms);
      }
      // A read the last scrape started (seconds at 100,000) finishes before the quiet window begins.
      await sleep(2500);
      const idle = await showWindow(url, token, showIds, o.windowMs);
      const scraper = startScraper(url);
      // The window starts once scrapes are running (the scraper's own start-up is not part of it).
      await scraper.first;
      const during = await showWindow(url, token, showIds, o.windowMs);
      const scrapes = scrapeTimes(await scraper.stop());
      if (exit) throw new Error(exit);
      const roundLag = Math.max(0, ...scrapes.map((x) => x.lagMs ?? 0));
      busy.push(...scrapes.map((x) => x.ms));
      lagMax.push(roundLag);
      for (const [window, p99s, p50s] of [
        [idle, p99Idle, p50Idle],
        [during, p99Busy, p50Busy],
      ] as const) {
        const sorted = [...window].sort((a, b) => a - b);
        p99s.push(quantile(sorted, 0.99));
        p50s.push(quantile(sorted, 0.5));
        showSamples += window.length;
      }
      o.log(
        `metrics: ${tree.label} ${fips} round ${round + 1}: show p99 ${p99Idle.at(-1)!.toFixed(1)} ms alone, ` +
          `${p99Busy.at(-1)!.toFixed(1)} ms during scrapes; scrape ${spaced.at(-1)!.toFixed(0)} ms`,
      );
    }
    return {
      tree: tree.label,
      fips,
      firstScrapeMs,
      scrapeMs: summarize(spaced),
      busyScrapeMs: summarize(busy),
      bodyMB: bodyBytes / 1e6,
      showP99Idle: summarize(p99Idle),
      showP99Busy: summarize(p99Busy),
      showP50Idle: summarize(p50Idle),
      showP50Busy: summarize(p50Busy),
      showSamples,
      loopLagMaxMs: summarize(lagMax),
      rssMiB: rssMiB(server),
    };
  } catch (error) {
    throw new Error(exit || (error as Error).message, { cause: error });
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
  }
}

function failedPoint(tree: string, fips: number, error: string): MetricsScalePoint {
  const none = summarize([]);
  return {
    tree,
    fips,
    error,
    firstScrapeMs: Number.NaN,
    scrapeMs: none,
    busyScrapeMs: none,
    bodyMB: Number.NaN,
    showP99Idle: none,
    showP99Busy: none,
    showP50Idle: none,
    showP50Busy: none,
    showSamples: 0,
    loopLagMaxMs: none,
    rssMiB: Number.NaN,
  };
}

/** API show requests, one every 10 ms (paced, not closed-loop), for `ms`; returns each latency. */
export async function showWindow(
  url: string,
  token: string,
  ids: readonly string[],
  ms: number,
  /** Given, a failed show is handed here and left out of the latencies instead of failing the window. */
  onError?: (error: Error) => void,
): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  const inflight: Promise<void>[] = [];
  for (let i = 0; performance.now() < end; i++) {
    const id = ids[i % ids.length]!;
    const s = performance.now();
    const show = fetch(`${url}/v2.0/floatingips/${id}`, { headers: { 'x-auth-token': token } }).then(
      async (r) => {
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`show ${id}: HTTP ${r.status}`);
        latencies.push(performance.now() - s);
      },
    );
    inflight.push(onError ? show.catch((error: unknown) => onError(error as Error)) : show);
    await sleep(10);
  }
  await Promise.all(inflight);
  return latencies;
}

/** One scrape with curl (a lean client, as Prometheus is): its size and curl's total time. */
export async function curlScrape(url: string, token?: string): Promise<{ bytes: number; ms: number }> {
  const { stdout } = await run('curl', [
    '-sf',
    '--max-time',
    '120',
    ...(token ? ['-H', `x-auth-token: ${token}`] : []),
    '-o',
    '/dev/null',
    '-w',
    '%{size_download} %{time_total}',
    `${url}/metrics`,
  ]);
  const [bytes, seconds] = stdout.trim().split(' ').map(Number);
  return { bytes: bytes!, ms: seconds! * 1000 };
}

export interface ScrapeTime {
  readonly ms: number;
  readonly lagMs: number | null;
}

/** One scrape of scraper.ts: its time, or why it failed. */
export type ScrapeSample = ScrapeTime | { readonly error: string };

export const scrapeTimes = (samples: readonly ScrapeSample[]): ScrapeTime[] =>
  samples.filter((s): s is ScrapeTime => !('error' in s));

/** bench/metrics/scraper.ts in its own process, scraping back to back until stopped (with `token`, if any). */
export function startScraper(
  url: string,
  token?: string,
): { first: Promise<void>; stop(): Promise<ScrapeSample[]> } {
  const script = fileURLToPath(new URL('./scraper.ts', import.meta.url));
  const child = spawnProgram(process.execPath, ['--import', 'tsx', script, url], {
    stdio: ['pipe', 'pipe', 'inherit'],
    ...(token !== undefined && { env: { ...process.env, SFIP_SCRAPE_TOKEN: token } }),
  });
  const samples: ScrapeSample[] = [];
  let firstDone: () => void = () => undefined;
  const first = new Promise<void>((r) => (firstDone = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    samples.push(JSON.parse(line) as ScrapeSample);
    firstDone();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  void exited.then(firstDone);
  return {
    first,
    async stop() {
      child.stdin!.end();
      const code = await exited;
      if (code !== 0) throw new Error(`the scraper exited with ${code}`);
      return samples;
    },
  };
}

function startServe(root: string, stateDir: string, port: number): ChildProcess {
  return spawnProgram(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'src/cli.ts'),
      'serve',
      '--state-dir',
      stateDir,
      '--port',
      String(port),
      '--no-agent',
      '--log-level',
      'warn',
      '--rate-limit',
      'off',
      '--counters-cache',
      '1s',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], cwd: root },
  );
}

async function waitHealthy(url: string, server: ChildProcess): Promise<void> {
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`sfip serve exited with ${server.exitCode}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await sleep(50);
  }
  throw new Error('sfip serve did not answer /healthz within 120 s');
}

function rssMiB(server: ChildProcess): number {
  try {
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

export type { BenchTopology };
