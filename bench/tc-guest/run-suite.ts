/**
 * `npm run bench -- --only tc-guest`: the tc backend's per-packet cost against plain routing, both measured in the
 * same act_nat guest (bench/tc-guest/main.ts with TC_BENCH_SET=ratio, under `scripts/guest/run.sh --icount`).
 * Writes OUT/tc-guest.json and the marked `tc-guest` section of benchmarks.md. The host kernel has no act_nat, so
 * this is the only place tc's cost can be set beside plain routing; the guest's figures are instructions, not host
 * nanoseconds, and only their ratio compares with the host's forwarding table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { writeMarkedSection } from '../report/write-section.js';
import { tcGuestSection, type TcBenchResult } from './ratio-section.js';

export interface TcGuestSuiteOptions {
  readonly reps: number;
  /** Folder of tc-guest.json (docs/benchmarks). */
  readonly out: string;
  /** benchmarks.md */
  readonly document: string;
  readonly command: string;
  readonly log: (line: string) => void;
}

const root = join(import.meta.dirname, '..', '..');

function runGuest(reps: number, log: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      [
        'scripts/guest/run.sh',
        '--icount',
        '--timeout',
        '3600',
        '--',
        'env',
        'TC_BENCH_SET=ratio',
        `TC_BENCH_REPS=${reps}`,
        'node',
        '--import',
        'tsx',
        'bench/tc-guest/main.ts',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      for (const line of b.toString().split('\n')) if (line.trim()) log(`tc-guest: ${line.trim()}`);
    });
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('SFIP_TC_BENCH '));
      if (code === 0 && line) resolve(line.slice('SFIP_TC_BENCH '.length));
      else reject(new Error(`the tc guest bench failed (exit ${code}):\n${stderr.slice(-3000)}`));
    });
  });
}

export async function runTcGuestSuite(o: TcGuestSuiteOptions): Promise<void> {
  const started = Date.now();
  const result = JSON.parse(await runGuest(o.reps, o.log)) as TcBenchResult;
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'tc-guest.json'), JSON.stringify(result, null, 2) + '\n');
  writeMarkedSection(
    o.document,
    'tc-guest',
    tcGuestSection(result, o.command, new Date().toISOString(), (Date.now() - started) / 1000),
  );
  o.log(`wrote the tc-guest section of ${o.document}`);
}
