import type { Runner } from '../../exec/run.js';

/**
 * The helpers the fast path calls from tc programs (bpf/sfip_nat.c). A kernel without one of them cannot load the
 * fast-path object at all, so the backend loads the object built without it (sfip_nat_tc.o) and every packet
 * takes the tc path through the stack. XDP is not needed: the fast path runs at tc ingress (docs/ebpf.md says why).
 */
export const FAST_PATH_HELPERS = ['bpf_fib_lookup', 'bpf_check_mtu', 'bpf_redirect'] as const;

/**
 * Optional: hands a packet straight to a veth or netkit peer's ingress (peer-devices.ts). Without it (a kernel
 * before 5.10, which has no bpf_check_mtu either, or a backport that left it out) the fast path loads without
 * it (sfip_nat_nopeer.o) and every forwarded packet leaves through bpf_redirect.
 */
export const REDIRECT_PEER_HELPER = 'bpf_redirect_peer';

export interface FastPathSupport {
  readonly available: boolean;
  /** The fast path hands packets for a veth whose peer is in another namespace to the peer directly. */
  readonly redirectPeer: boolean;
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
      redirectPeer: false,
      detail: 'unavailable: bpftool printed no feature probe; packets take the tc path',
    };
  }
  const helpers = new Set(probe.helpers?.sched_cls_available_helpers ?? []);
  const missing = FAST_PATH_HELPERS.filter((h) => !helpers.has(h));
  if (missing.length > 0) {
    return {
      available: false,
      redirectPeer: false,
      detail: `unavailable: this kernel's tc programs lack ${missing.join(', ')}; every router's packets take the tc path`,
    };
  }
  const redirectPeer = helpers.has(REDIRECT_PEER_HELPER);
  return {
    available: true,
    redirectPeer,
    detail: redirectPeer
      ? `available (${FAST_PATH_HELPERS.join(', ')}, ${REDIRECT_PEER_HELPER} for tc programs): on for every router that does not turn it off`
      : `available (${FAST_PATH_HELPERS.join(', ')} for tc programs; no ${REDIRECT_PEER_HELPER}, so packets to veth peers leave through bpf_redirect): on for every router that does not turn it off`,
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
      redirectPeer: false,
      detail: `unavailable: bpftool feature probe failed (${reason}); packets take the tc path`,
    };
  }
}
