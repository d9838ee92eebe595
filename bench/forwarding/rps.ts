import { run } from '../../src/exec/run.js';

/**
 * Steers a device's receive processing to one CPU (RPS). Inside `ip netns exec`, /sys shows the namespace's own
 * devices, so this touches only the bench router's device; it disappears with the namespace.
 */
export async function steerReceiveTo(netns: string, device: string, cpu: number): Promise<void> {
  await run('tee', [`/sys/class/net/${device}/queues/rx-0/rps_cpus`], {
    netns,
    input: `${(1 << cpu).toString(16)}\n`,
  });
}

/**
 * Hands the router CPU its packets in bursts, the same way for every configuration (issue 17: batching must be
 * comparable). The generator writes one frame per send, about as fast as a fast configuration forwards; with plain
 * RPS every frame that finds the router CPU's queue empty costs it an interrupt and a softirq, so the faster a
 * configuration, the fewer packets per softirq and the more of that fixed cost per packet it was charged.
 *
 * With GRO on, the router's veth receives through NAPI on the generator's CPU (the generator's own veth must not
 * offer TSO, or veth skips NAPI), and with a GRO flush timeout and deferred completions that NAPI polls once per
 * `flushUs` instead of once per frame. RPS then queues the burst to the router CPU with one interrupt. UDP frames
 * are not merged (UDP GRO forwarding stays off), so the router CPU forwards the same packets as before, from the
 * same backlog, only in bursts.
 */
export async function burstReceive(
  netns: string,
  device: string,
  genNetns: string,
  genDevice: string,
  flushUs: number,
): Promise<void> {
  await run('ethtool', ['-K', genDevice, 'tso', 'off'], { netns: genNetns });
  await run('ethtool', ['-K', device, 'gro', 'on', 'rx-udp-gro-forwarding', 'off'], { netns });
  await run('tee', [`/sys/class/net/${device}/gro_flush_timeout`], { netns, input: `${flushUs * 1000}\n` });
  // Each poll that finds frames re-arms this many deferrals; a few cover the empty polls between bursts, and the
  // poll stops soon after the last frame instead of ticking on.
  await run('tee', [`/sys/class/net/${device}/napi_defer_hard_irqs`], { netns, input: '10\n' });
}
