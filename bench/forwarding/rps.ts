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
