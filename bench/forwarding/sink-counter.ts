import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/exec/run.js';
import type { BenchTopology } from '../topology.js';

/**
 * Counts delivered packets in the sink: an nft counter per router link, dropping at the earliest hook so the sink
 * sends no ICMP or socket work back through the router. The table belongs to the benchmark.
 *
 * One rule picks the counter from a map keyed by the input device, so that every router's packets cost the sink the
 * same. (Until 2026-12-06 it was one rule per router, walked in order: plain routing's rule came first, and the
 * eBPF configurations' packets were compared against three or four other routers' rules before their own.)
 */
const TABLE = 'sfipbench';
const counterName = (sinkDevice: string) => `c_${sinkDevice.replace(/[^A-Za-z0-9]/g, '_')}`;

export async function installSinkCounters(t: BenchTopology): Promise<void> {
  const lines = [
    `add table ip ${TABLE}`,
    `delete table ip ${TABLE}`,
    `table ip ${TABLE} {`,
    ...t.routers.map((r) => `  counter ${counterName(r.sinkDevice)} { }`),
    `  chain prerouting {`,
    `    type filter hook prerouting priority raw - 10; policy accept;`,
    `    ip daddr ${t.fixedCidr} counter name iifname map { ` +
      t.routers.map((r) => `"${r.sinkDevice}" : "${counterName(r.sinkDevice)}"`).join(', ') +
      ` } drop`,
    `  }`,
    `}`,
  ];
  await run('nft', ['-f', '-'], { netns: t.sink, input: lines.join('\n') + '\n' });
}

export async function removeSinkCounters(t: BenchTopology): Promise<void> {
  await run('nft', ['-f', '-'], {
    netns: t.sink,
    input: `add table ip ${TABLE}\ndelete table ip ${TABLE}\n`,
  });
}

/** Packets counted so far for one router's link. */
export async function readSinkCounter(t: BenchTopology, sinkDevice: string): Promise<number> {
  const { stdout } = await run('nft', ['-j', 'list', 'counter', 'ip', TABLE, counterName(sinkDevice)], {
    netns: t.sink,
  });
  const objects = (JSON.parse(stdout) as { nftables: { counter?: { packets: number } }[] }).nftables;
  const counter = objects.find((o) => o.counter)?.counter;
  if (!counter) throw new Error(`nft printed no counter ${counterName(sinkDevice)}`);
  return counter.packets;
}

/**
 * Waits until the sink's counter stops moving (the router may still be draining its backlog) and returns it.
 * Every forwarding suite reads its delivered count this way, so all of them wait by the same rule.
 */
export async function settledCount(t: BenchTopology, sinkDevice: string): Promise<number> {
  let last = await readSinkCounter(t, sinkDevice);
  for (;;) {
    await sleep(100);
    const now = await readSinkCounter(t, sinkDevice);
    if (now === last) return now;
    last = now;
  }
}
