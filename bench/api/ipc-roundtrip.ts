/**
 * What one question from an API worker to the primary costs (a rate-limit grant with a chunk of one; /readyz):
 * node:cluster IPC round trips, one at a time and 32 in flight, through the same RateGrants the daemon uses.
 *
 *   node --import tsx bench/api/ipc-roundtrip.ts [--asks 20000]
 *
 * Not a test: numbers depend on the machine and on whatever else it runs.
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { RateGrants, type RateGrant } from '../../src/api/shared-rate-limit.js';

const ASKS = Number(parseArgs({ options: { asks: { type: 'string', default: '20000' } } }).values.asks);

if (cluster.isPrimary) {
  const grants = new RateGrants();
  const worker = cluster.fork();
  worker.on('message', (m: { id: number; key: string } | { done: Record<string, number> }) => {
    if ('done' in m) {
      console.log(JSON.stringify(m.done));
      worker.kill();
      return;
    }
    worker.send({ id: m.id, grant: grants.grant(m.key, 1e9, 60_000, 1) });
  });
} else {
  const pending = new Map<number, (grant: RateGrant) => void>();
  process.on('message', (m: { id: number; grant: RateGrant }) => {
    pending.get(m.id)?.(m.grant);
    pending.delete(m.id);
  });
  let next = 0;
  const ask = () =>
    new Promise<RateGrant>((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      process.send!({ id, key: `token:${id % 64}` });
    });
  const run = async (inFlight: number) => {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    let left = ASKS;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (left-- > 0) await ask();
      }),
    );
    const elapsed = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    return {
      usPerAsk: Number(((elapsed * 1000) / ASKS).toFixed(1)),
      workerCpuUsPerAsk: Number(((used.user + used.system) / ASKS).toFixed(1)),
    };
  };
  await run(1); // warm-up
  const serial = await run(1);
  const parallel = await run(32);
  process.send!({
    done: {
      asks: ASKS,
      serialUsPerAsk: serial.usPerAsk,
      serialWorkerCpuUs: serial.workerCpuUsPerAsk,
      in32UsPerAsk: parallel.usPerAsk,
      in32WorkerCpuUs: parallel.workerCpuUsPerAsk,
    },
  });
}
