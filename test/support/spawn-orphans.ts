/**
 * Starts three long-running children and then waits to be SIGKILLed: one through src/exec/run.ts, one through a
 * spawn server (as the daemon does), one with a plain spawn. Prints their pids (each child writes its own) and the
 * spawn server's as one JSON line once all run.
 */
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { readFileSync } from 'node:fs';
import { run } from '../../src/exec/run.js';
import { startSpawnServer } from '../../src/exec/spawn-client.js';

const [viaRunFile, plainFile, viaServerFile] = process.argv.slice(2) as [string, string, string];
const server = startSpawnServer();
void run('sh', ['-c', `echo $$ > ${viaRunFile}; exec sleep 60`]).catch(() => undefined);
void server.run('sh', ['-c', `echo $$ > ${viaServerFile}; exec sleep 60`]).catch(() => undefined);
spawn('sh', ['-c', `echo $$ > ${plainFile}; exec sleep 60`], { stdio: 'ignore' });
const deadline = Date.now() + 10_000;
const timer = setInterval(() => {
  try {
    const pids = [viaRunFile, plainFile, viaServerFile].map((f) => Number(readFileSync(f, 'utf8')));
    if (pids.every((p) => p > 0)) {
      clearInterval(timer);
      console.log(
        JSON.stringify({ viaRun: pids[0], plain: pids[1], viaServer: pids[2], server: server.pid }),
      );
    }
  } catch {
    if (Date.now() > deadline) process.exit(1);
  }
}, 20);
setInterval(() => undefined, 1000);
