/**
 * What starting a short program costs the daemon's event loop: `node --import tsx bench/control/spawn-cost.ts
 * [--mib 400] [--starts 720] [--width 8] [--rounds 3]`. A process holding MIB of touched memory (a daemon's heap:
 * fork copies its page tables) starts STARTS `setpriv … true`, WIDTH at a time (a converge's shape), directly and
 * through the spawn server (src/exec/spawn-client.ts), alternating. Prints wall time, the time spent inside run()
 * before it returned (the loop held), this process's CPU, and the spawn server's CPU with its reaped programs'.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runDirect, type Runner } from '../../src/exec/run.js';
import { startSpawnServer } from '../../src/exec/spawn-client.js';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '400' },
    starts: { type: 'string', default: '720' },
    width: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
  },
});
const ballast = Array.from({ length: Number(values.mib) }, () => Buffer.alloc(1 << 20, 1));
const server = startSpawnServer();
if (!(await server.ready)) throw new Error('the spawn server did not start');

/** CPU ms of a process and of its children it has reaped. */
const cpuOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number);
  return (f[11]! + f[12]! + f[13]! + f[14]!) * 10;
};

async function measure(name: string, run: Runner): Promise<string> {
  const starts = Number(values.starts);
  let held = 0;
  let next = 0;
  const c0 = process.cpuUsage();
  const s0 = cpuOf(server.pid!);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Number(values.width) }, async () => {
      while (next++ < starts) {
        const t = performance.now();
        const started = run('true', []);
        held += performance.now() - t;
        await started;
      }
    }),
  );
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return `${name}: wall ${wall.toFixed(0)} ms, loop held ${held.toFixed(0)} ms, CPU ${((c.user + c.system) / 1000).toFixed(0)} ms, spawn server CPU ${cpuOf(server.pid!) - s0} ms`;
}

for (let r = 0; r < Number(values.rounds); r++) {
  console.log(await measure('direct      ', runDirect));
  console.log(await measure('spawn server', server.run));
}
console.log(`RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (ballast ${ballast.length} MiB)`);
server.close();
