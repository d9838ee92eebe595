import { run } from '../../src/exec/run.js';

/**
 * Pins this process, all its threads and everything it starts from now on to one CPU, and returns how to undo it.
 * The forwarding suite keeps its own work (counter reads, bpftool, conntrack) off the router CPU this way: the
 * scheduler sees a CPU that runs only a SCHED_IDLE task as idle and would otherwise place new processes there,
 * where their time would be charged to the router.
 */
export async function pinProcessTo(cpu: number): Promise<() => Promise<void>> {
  const pid = String(process.pid);
  const { stdout } = await run('taskset', ['-p', pid]);
  // "pid 123's current affinity mask: 3"
  const mask = /mask:\s*([0-9a-f,]+)\s*$/i.exec(stdout.trim())?.[1];
  if (!mask) throw new Error(`taskset printed no affinity mask for pid ${pid}: ${stdout.trim()}`);
  await run('taskset', ['-a', '-p', '-c', String(cpu), pid]);
  return async () => {
    await run('taskset', ['-a', '-p', mask, pid]);
  };
}
