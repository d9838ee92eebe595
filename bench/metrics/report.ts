import type { Summary } from '../stats.js';
import type { MetricsScalePoint } from './run-metrics-scale.js';

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
const spread = (s: Summary) => `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})`;

export interface MetricsScaleReport {
  readonly startedAt: string;
  readonly command: string;
  readonly rounds: number;
  readonly windowMs: number;
  readonly loadAverage: string;
  readonly points: readonly MetricsScalePoint[];
}

/** The `metrics-scale` section of docs/benchmarks.md. */
export function renderMetricsScaleSection(r: MetricsScaleReport): string {
  const rows = r.points.map((p) => {
    if (p.error) return `| ${p.tree} | ${p.fips.toLocaleString('en')} | failed: ${p.error} |||||||||||`;
    const ratio = p.scrapeMs.median / 1000;
    const p99Ratio = p.showP99Busy.median / p.showP99Idle.median;
    return (
      `| ${p.tree} | ${p.fips.toLocaleString('en')} | ${ms(p.firstScrapeMs)} | ${spread(p.scrapeMs)} | ` +
      `${ratio.toFixed(2)} | ${spread(p.busyScrapeMs)} | ${p.bodyMB.toFixed(1)} MB | ${spread(p.showP50Idle)} | ` +
      `${spread(p.showP99Idle)} | ${spread(p.showP99Busy)} | ${p99Ratio.toFixed(1)}× | ${spread(p.loopLagMaxMs)} | ${p.rssMiB.toFixed(0)} MiB |`
    );
  });
  return [
    '## /metrics at scale (issue 15 item 4)',
    '',
    `Run ${r.startedAt} with \`${r.command}\`; load average at the start: ${r.loadAverage} (2 shared cores).`,
    '',
    '`sfip serve --no-agent --counters-cache 1s` in its own process; the store holds N associated floating IPs of',
    'one router and its nftables table in a scratch namespace holds the N counter elements. Per size and tree,',
    'Every second 1,000 counter elements (a rotating window) get new values, standing in for live traffic, so a',
    "read always finds changed counters and the router's text is rendered again.",
    'Scrapes are made with curl (a lean client, as Prometheus is), timed by curl to the last byte.',
    `${r.rounds} rounds, each: two scrapes spaced 1.1 s apart (each finds the counter cache expired), then API show`,
    `(\`GET /v2.0/floatingips/ID\`, one every 10 ms) for ${r.windowMs / 1000} s alone and ${r.windowMs / 1000} s while a client`,
    'scrapes /metrics back to back. Values are median (min–max) over the rounds; show p99 is computed per round.',
    '"Longest loop stall" is the daemon\'s own event-loop lag max (prom-client) between two back-to-back scrapes,',
    "the worst per round: how long a request could wait behind the daemon's work rather than behind the CPU.",
    'The goal (issue 15): scrape ≤ 1 s ("ratio" = median / 1 s) and API show p99 unaffected by scrapes.',
    '',
    '| tree | floating IPs | first scrape | scrape | ratio to 1 s | scrape, back to back | body | show p50 alone | show p99 alone | show p99 during scrapes | p99 during / alone | longest loop stall during scrapes | RSS |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}
