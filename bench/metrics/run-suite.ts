import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeMarkedSection } from '../report/write-section.js';
import { renderMetricsScaleSection, type MetricsScaleReport } from './report.js';
import { runMetricsScale } from './run-metrics-scale.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface MetricsSuiteOptions {
  readonly sizes: readonly number[];
  readonly rounds: number;
  readonly windowMs: number;
  /** Another source tree to measure side by side (the code before a change). */
  readonly before?: string;
  readonly prefix: string;
  readonly port: number;
  readonly out: string;
  readonly command: string;
  readonly log: (line: string) => void;
}

/** Runs the /metrics scale benchmark and writes its JSON and its marked section of OUT/benchmarks.md. */
export async function runMetricsSuite(o: MetricsSuiteOptions): Promise<MetricsScaleReport> {
  const startedAt = new Date().toISOString();
  const loadAverage = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  const write = (points: MetricsScaleReport['points']) => {
    const report: MetricsScaleReport = {
      startedAt,
      command: o.command,
      rounds: o.rounds,
      windowMs: o.windowMs,
      loadAverage,
      points,
    };
    mkdirSync(join(o.out, 'benchmarks'), { recursive: true });
    writeFileSync(join(o.out, 'benchmarks', 'metrics-scale.json'), JSON.stringify(report, null, 2) + '\n');
    writeMarkedSection(join(o.out, 'benchmarks.md'), 'metrics-scale', renderMetricsScaleSection(report));
    return report;
  };
  const points = await runMetricsScale({
    sizes: o.sizes,
    rounds: o.rounds,
    windowMs: o.windowMs,
    prefix: o.prefix,
    port: o.port,
    trees: [...(o.before ? [{ label: 'before', root: o.before }] : []), { label: 'this tree', root: ROOT }],
    log: o.log,
    onPoint: (so) => void write([...so]),
  });
  const report = write(points);
  return report;
}
