import type { ChildProcess } from 'node:child_process';
import { spawnProgram } from '../../src/exec/spawn.js';

/**
 * A lowest-priority (SCHED_IDLE) busy loop pinned to the measured CPU. This kernel accounts CPU time by sampling
 * on timer ticks, and the tick stops while a CPU idles (NO_HZ): softirq work that runs between two stopped ticks
 * is then never sampled, and a quiet CPU under-reports its kernel time (12–20% of wall time went missing in
 * plain-routing samples). With a runnable task the tick keeps running, so every tick lands on the busy loop (user
 * time, never counted here) or on the kernel work being measured. SCHED_IDLE yields to any other task and never
 * delays softirq processing, which preempts every task.
 */
export interface TickKeeper {
  stop(): Promise<void>;
}

export async function keepTickRunning(cpu: number): Promise<TickKeeper> {
  const child: ChildProcess = spawnProgram(
    'chrt',
    ['--idle', '0', 'taskset', '-c', String(cpu), process.execPath, '-e', 'for (;;);'],
    { stdio: 'ignore' },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  // node needs a moment before it spins; samples taken earlier would see the tick still stopping.
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error(`The SCHED_IDLE busy loop exited (code ${child.exitCode})`);
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
