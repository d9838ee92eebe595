import { run as defaultRun, type Runner } from '../../exec/run.js';

/**
 * The lease side of split-brain safety for BGP, kept by the kernel as the ARP fence is (arp-fence.ts): in the
 * speaker's namespace, BGP (TCP 179) and BFD (UDP 3784, 4784) packets leave only while their ports are in a set
 * whose elements time out. The agent rewrites the elements after each lease renewal, to expire `detection`
 * before its fence deadline. If the agent hangs, dies without BIRD dying with it, or loses etcd, the set empties:
 * BIRD's keepalives and BFD packets stop, the peer declares the session down within its detection time (BFD:
 * 3 × 100 ms; without BFD, the 3 s hold time), and drops this node's routes before the lease can expire and
 * another node announce them. One table, named after sfip, in a namespace sfip owns for its speaker.
 */
export const BGP_FENCE_TABLE = 'sfip_bgp_fence';
const PORTS = [179, 3784, 4784];

/** The whole table in one transaction; `timeoutMs` ≤ 0 writes it closed (no element). */
export function renderBgpFence(timeoutMs: number): string {
  const ms = Math.floor(timeoutMs);
  const elements = ms > 0 ? `    elements = { ${PORTS.map((p) => `${p} timeout ${ms}ms`).join(', ')} }` : '';
  return [
    `add table inet ${BGP_FENCE_TABLE}`,
    `delete table inet ${BGP_FENCE_TABLE}`,
    `table inet ${BGP_FENCE_TABLE} {`,
    '  set live {',
    '    type inet_service',
    '    flags timeout',
    ...(elements ? [elements] : []),
    '  }',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    '    tcp dport 179 tcp dport != @live drop',
    '    tcp sport 179 tcp sport != @live drop',
    '    udp dport { 3784, 4784 } udp dport != @live drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

export class BgpFence {
  /** performance.now() time at which the elements last written expire. */
  private closesAt = 0;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly namespace: string | null,
    /** How long the peer takes to notice silence: the fence closes this long before the lease deadline. */
    private readonly detectionMs: number,
    /** Rewrite only once the deadline moved this far past what was written (renewals are frequent). */
    private readonly stepMs: number,
    private readonly run: Runner = defaultRun,
  ) {}

  /** Whether BGP packets may leave now. */
  open(): boolean {
    return this.closesAt > performance.now();
  }

  /** Pushes the fence to `deadline` (performance.now() time) minus the detection time. One write at a time. */
  async extend(deadline: number): Promise<void> {
    await this.writing;
    const target = deadline - this.detectionMs;
    if (target - this.closesAt < this.stepMs && this.closesAt > performance.now()) return;
    this.writing = (async () => {
      const remaining = target - performance.now();
      await this.run('nft', ['-f', '-'], { netns: this.namespace, input: renderBgpFence(remaining) });
      this.closesAt = remaining > 0 ? target : 0;
    })().finally(() => (this.writing = undefined));
    await this.writing;
  }
}
