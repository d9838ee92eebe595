/**
 * Starts two long-running children and then waits to be SIGKILLed: one through src/exec/run.ts, one with a plain
 * spawn. Prints their pids (each child writes its own) as one JSON line once both run.
 */
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { readFileSync } from 'node:fs';
import { run } from '../../src/exec/run.js';

const [viaRunFile, plainFile] = process.argv.slice(2) as [string, string];
void run('sh', ['-c', `echo $$ > ${viaRunFile}; exec sleep 60`]).catch(() => undefined);
spawn('sh', ['-c', `echo $$ > ${plainFile}; exec sleep 60`], { stdio: 'ignore' });
const deadline = Date.now() + 10_000;
const timer = setInterval(() => {
  try {
    const pids = [viaRunFile, plainFile].map((f) => Number(readFileSync(f, 'utf8')));
    if (pids.every((p) => p > 0)) {
      clearInterval(timer);
      console.log(JSON.stringify({ viaRun: pids[0], plain: pids[1] }));
    }
  } catch {
    if (Date.now() > deadline) process.exit(1);
  }
}, 20);
setInterval(() => undefined, 1000);
