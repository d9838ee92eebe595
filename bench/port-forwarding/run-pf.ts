/**
 * The port-forwarding benchmark on its own (run-suite.ts says what it measures); `npm run bench -- --only
 * port-forwarding` runs the same with the profile's sizes.
 *
 *   tsx bench/port-forwarding/run-pf.ts [--reps 5] [--packets 100000] [--rate 200000] [--counts 1,1000,10000]
 */
import { parseArgs } from 'node:util';
import { runPortForwardingSuite } from './run-suite.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    packets: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '200000' },
    counts: { type: 'string', default: '1,1000,10000' },
    prefix: { type: 'string', default: 'sfippf' },
    out: { type: 'string', default: 'docs/benchmarks' },
    'gen-cpu': { type: 'string', default: '0' },
    'router-cpu': { type: 'string', default: '1' },
  },
});

await runPortForwardingSuite({
  reps: Number(values.reps),
  packets: Number(values.packets),
  ratePps: Number(values.rate),
  counts: values.counts!.split(',').map(Number),
  prefix: values.prefix!,
  out: values.out!,
  genCpu: Number(values['gen-cpu']),
  routerCpu: Number(values['router-cpu']),
  command: `tsx bench/port-forwarding/run-pf.ts ${process.argv.slice(2).join(' ')}`.trimEnd(),
  log: (line) => console.log(`[pf-bench] ${line}`),
});
