/**
 * Scrapes /metrics back to back until stdin closes, printing one JSON line per scrape: {"ms": total time to the
 * last byte, "lagMs": the daemon's event-loop lag max since its previous scrape}. Its own process, so reading
 * 61 MB per scrape does not slow the benchmark's API client. `node --import tsx bench/metrics/scraper.ts URL`
 */
const url = process.argv[2];
if (!url) throw new Error('usage: scraper.ts URL');
let stop = false;
process.stdin.on('end', () => (stop = true));
process.stdin.resume();
while (!stop) {
  const started = performance.now();
  const r = await fetch(`${url}/metrics`);
  const body = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200) throw new Error(`/metrics: HTTP ${r.status}`);
  const head = body.subarray(0, 200_000).toString();
  const lag = /^sfip_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(head)?.[1];
  process.stdout.write(
    JSON.stringify({
      ms: performance.now() - started,
      lagMs: lag === undefined ? null : Number(lag) * 1000,
    }) + '\n',
  );
}
