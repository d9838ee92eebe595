import { run } from '../../src/exec/run.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import { listGenerations } from '../../src/dataplane/ebpf/read.js';

/**
 * The kernel's own accounting of a BPF program's run time (kernel.bpf_stats_enabled: run_time_ns and run_cnt per
 * program). Unlike a CPU's kernel time it counts only the program, so other work on a shared machine does not
 * blur it: the eBPF rows of the per-packet table get this figure beside the CPU-time one.
 */
export async function withBpfStats<T>(work: () => Promise<T>): Promise<T> {
  const { stdout } = await run('sysctl', ['-n', 'kernel.bpf_stats_enabled']);
  const previous = stdout.trim();
  await run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  try {
    return await work();
  } finally {
    await run('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${previous}`]);
  }
}

export interface ProgramRuns {
  readonly runTimeNs: number;
  readonly runs: number;
}

/** gw_ingress of a router's (one) generation: what runs for every inbound packet. */
export async function gatewayIngressRuns(routerId: string): Promise<ProgramRuns> {
  const routerDir = `${PIN_ROOT}/${routerId}`;
  const [generation] = await listGenerations(routerDir);
  if (!generation) throw new Error(`no eBPF generation under ${routerDir}`);
  const { stdout } = await run('bpftool', [
    '-j',
    'prog',
    'show',
    'pinned',
    `${routerDir}/${generation}/progs/gw_ingress`,
  ]);
  const prog = JSON.parse(stdout) as { run_time_ns?: number; run_cnt?: number };
  return { runTimeNs: prog.run_time_ns ?? 0, runs: prog.run_cnt ?? 0 };
}
