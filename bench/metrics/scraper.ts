/**
 * Scrapes /metrics back to back with curl until stdin closes, printing one JSON line per scrape: {"ms": curl's
 * total time, "lagMs": the daemon's event-loop lag max since its previous scrape}, or {"error": why} for a scrape
 * that failed (then it waits 100 ms and goes on). curl stands in for Prometheus
 * (a lean client: the time is the daemon's and the transfer's, not a JavaScript client's), and this runs in its
 * own process so it does not slow the benchmark's API client. `node --import tsx bench/metrics/scraper.ts URL`
 * (SFIP_SCRAPE_TOKEN: a token to send, for a daemon that asks for one).
 */
import { openSync, readSync, closeSync, rmSync } from 'node:fs';
import { run } from '../../src/exec/run.js';

const url = process.argv[2];
if (!url) throw new Error('usage: scraper.ts URL');
const token = process.env.SFIP_SCRAPE_TOKEN;
const auth = token ? ['-H', `x-auth-token: ${token}`] : [];
// In memory (tmpfs): the 61 MB body is written once and only its head is read back.
const file = `/dev/shm/sfip-scrape-${process.pid}`;
let stop = false;
process.stdin.on('end', () => (stop = true));
process.stdin.resume();
try {
  while (!stop) {
    const scraped = await run('curl', [
      '-sf',
      '--max-time',
      '120',
      ...auth,
      '-o',
      file,
      '-w',
      '%{time_total}',
      `${url}/metrics`,
    ]).catch((error: unknown) => error as Error);
    if (scraped instanceof Error) {
      process.stdout.write(JSON.stringify({ error: scraped.message.slice(0, 200) }) + '\n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    const head = Buffer.alloc(200_000);
    const fd = openSync(file, 'r');
    const n = readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    const lag = /^sfip_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(head.subarray(0, n).toString())?.[1];
    process.stdout.write(
      JSON.stringify({
        ms: Number(scraped.stdout) * 1000,
        lagMs: lag === undefined ? null : Number(lag) * 1000,
      }) + '\n',
    );
  }
} finally {
  rmSync(file, { force: true });
}
