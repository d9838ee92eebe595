import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECORD_PROGRAMS_ENV } from '../../src/exec/record-programs.js';

/**
 * Counts the processes a daemon started by this script starts, through the record every program writes when
 * SFIP_RECORD_PROGRAMS names a file (src/exec/record-programs.ts; the daemon inherits the environment). Call
 * before starting the daemon. Every tool starts through setpriv, so the setpriv lines are the processes started;
 * the others are the programs in each command line (`ip netns exec` counts as an ip line of its own).
 */
export function countPrograms(): { take(): string } {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-programs-'));
  const file = join(dir, 'programs');
  writeFileSync(file, '');
  process.env[RECORD_PROGRAMS_ENV] = file;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let seen = 0;
  return {
    /** The programs recorded since the last take: "N processes (ip 12, nft 3, …)". */
    take() {
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      const fresh = lines.slice(seen);
      seen = lines.length;
      const counts = new Map<string, number>();
      for (const line of fresh) {
        const program = line.slice(0, line.indexOf('\t'));
        counts.set(program, (counts.get(program) ?? 0) + 1);
      }
      const spawned = counts.get('setpriv') ?? 0;
      counts.delete('setpriv');
      const each = [...counts]
        .sort((a, b) => b[1] - a[1])
        .map(([p, n]) => `${p} ${n}`)
        .join(', ');
      return `${spawned} processes (${each})`;
    },
  };
}
