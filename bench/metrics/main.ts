/**
 * /metrics scrape time and API show latency with and without concurrent scrapes, at 1,000, 10,000 and 100,000
 * floating IPs: `node --import tsx bench/metrics/main.ts [--sizes 1000,10000,100000] [--rounds 5]
 * [--window 3000] [--before DIR] [--out docs]`, also `npm run bench -- --only metrics`. Needs root (a scratch
 * namespace) and dist/native (npm run build). `--before DIR` runs the same against another source tree (e.g.
 * `git archive` of an older commit with node_modules linked), side by side in the same run. Writes
 * OUT/benchmarks/metrics-scale.json and the `metrics-scale` section of OUT/benchmarks.md.
 */
import { parseArgs } from 'node:util';
import { runMetricsSuite } from './run-suite.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,100000' },
    rounds: { type: 'string', default: '5' },
    window: { type: 'string', default: '3000' },
    before: { type: 'string' },
    prefix: { type: 'string', default: 'sfipbm' },
    port: { type: 'string', default: '19750' },
    out: { type: 'string', default: 'docs' },
  },
});

await runMetricsSuite({
  sizes: values.sizes!.split(',').map(Number),
  rounds: Number(values.rounds),
  windowMs: Number(values.window),
  ...(values.before && { before: values.before }),
  prefix: values.prefix!,
  port: Number(values.port),
  out: values.out!,
  command: `node --import tsx bench/metrics/main.ts ${process.argv.slice(2).join(' ')}`.trim(),
  log: (line) => console.log(`[bench] ${line}`),
});
