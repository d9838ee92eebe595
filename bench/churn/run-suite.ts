import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendName } from '../../src/model/index.js';
import { availableBackends, STATEFUL_BACKENDS } from '../faults/backends.js';
import { writeMarkedSection } from '../report/write-section.js';
import { renderChurnSection } from './churn-report.js';
import { runChurn, type ChurnOptions, type ChurnResult } from './run-churn.js';

/** The sizes of a churn run in one benchmark profile. */
export type ChurnProfile = Pick<
  ChurnOptions,
  | 'durationS'
  | 'opsPerSecond'
  | 'concurrency'
  | 'vms'
  | 'portsPerVm'
  | 'poolSize'
  | 'packetIntervalMs'
  | 'boundMs'
  | 'settleMs'
>;

export interface ChurnSuiteOptions {
  readonly profileName: string;
  readonly profile: ChurnProfile;
  /** Backends to run; default every one that passes its capability checks. */
  readonly backends?: readonly BackendName[];
  readonly prefix: string;
  readonly port: number;
  readonly out: string;
  readonly log: (line: string) => void;
}

/**
 * One churn run per backend, then the stateful backend again without conntrack cleanup (the leak it prevents),
 * written to OUT/benchmarks/churn.json and the `churn` section of OUT/benchmarks.md.
 */
export async function runChurnSuite(o: ChurnSuiteOptions): Promise<ChurnResult[]> {
  const { available, unavailable } = await availableBackends();
  for (const u of unavailable) o.log(`churn: skipping ${u.name}: ${u.reason}`);
  const backends = o.backends ? available.filter((b) => o.backends!.includes(b)) : available;
  const runs: { backend: BackendName; label: string; serveArgs: string[] }[] = backends.map((b) => ({
    backend: b,
    label: STATEFUL_BACKENDS.has(b) ? `${b} (stateful, conntrack cleanup on)` : b,
    serveArgs: [],
  }));
  for (const b of backends.filter((x) => STATEFUL_BACKENDS.has(x))) {
    runs.push({ backend: b, label: `${b} (stateful, cleanup off)`, serveArgs: ['--no-conntrack-cleanup'] });
  }
  const results: ChurnResult[] = [];
  for (const [k, run] of runs.entries()) {
    o.log(`churn: ${run.label} for ${o.profile.durationS} s`);
    const r = await runChurn({
      ...o.profile,
      ...run,
      prefix: o.prefix,
      port: o.port + k,
      seed: 1000 + k,
      log: o.log,
    });
    o.log(
      `churn: ${run.label}: wrong ${r.inbound.wrong} in / ${r.outbound.wrong} out, late max ` +
        `${r.inbound.lateMaxMs.toFixed(0)} / ${r.outbound.lateMaxMs.toFixed(0)} ms`,
    );
    results.push(r);
  }
  const at = new Date().toISOString();
  mkdirSync(join(o.out, 'benchmarks'), { recursive: true });
  writeFileSync(
    join(o.out, 'benchmarks', 'churn.json'),
    JSON.stringify({ profile: o.profileName, at, unavailable, runs: results }, null, 1) + '\n',
  );
  let section = renderChurnSection(results, { profile: o.profileName, at });
  if (unavailable.length > 0) {
    section += `\nNot run here: ${unavailable.map((u) => `${u.name} (${u.reason})`).join('; ')}.\n`;
  }
  writeMarkedSection(join(o.out, 'benchmarks.md'), 'churn', section);
  return results;
}
