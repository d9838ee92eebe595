import type { Runner } from '../../exec/run.js';

/**
 * The helpers the fast path calls from tc programs (bpf/sfip_nat.c). A kernel without one of them cannot load the
 * fast-path object at all, so the backend loads the object built without it (sfip_nat_tc.o) and every packet
 * takes the tc path through the stack. XDP is not needed: the fast path runs at tc ingress (docs/ebpf.md says why).
 */
export const FAST_PATH_HELPERS = ['bpf_fib_lookup', 'bpf_check_mtu', 'bpf_redirect'] as const;

export interface FastPathSupport {
  readonly available: boolean;
  /** What `sfip doctor` prints. */
  readonly detail: string;
}

interface FeatureProbe {
  helpers?: Record<string, string[] | undefined>;
}

/** Pure: reads `bpftool feature probe kernel -j` output. */
export function fastPathSupport(probeJson: string): FastPathSupport {
  let probe: FeatureProbe;
  try {
    probe = JSON.parse(probeJson) as FeatureProbe;
  } catch {
    return {
      available: false,
      detail: 'unavailable: bpftool printed no feature probe; packets take the tc path',
    };
  }
  const helpers = new Set(probe.helpers?.sched_cls_available_helpers ?? []);
  const missing = FAST_PATH_HELPERS.filter((h) => !helpers.has(h));
  return missing.length === 0
    ? {
        available: true,
        detail: `available (${FAST_PATH_HELPERS.join(', ')} for tc programs): on for every router that does not turn it off`,
      }
    : {
        available: false,
        detail: `unavailable: this kernel's tc programs lack ${missing.join(', ')}; every router's packets take the tc path`,
      };
}

export async function probeFastPath(run: Runner): Promise<FastPathSupport> {
  try {
    const { stdout } = await run('bpftool', ['feature', 'probe', 'kernel', '-j']);
    return fastPathSupport(stdout);
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0] ?? 'failed';
    return {
      available: false,
      detail: `unavailable: bpftool feature probe failed (${reason}); packets take the tc path`,
    };
  }
}
