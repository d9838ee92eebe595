import { readFileSync, writeFileSync } from 'node:fs';

const PATH = '/proc/sys/net/netfilter/nf_conntrack_max';

/**
 * Runs `fn` with nf_conntrack_max lowered. The setting is global (only the root namespace may write it), so it
 * is restored in a finally, whatever happens, and also on SIGINT/SIGTERM while lowered.
 */
export async function withConntrackMax<T>(max: number, fn: () => Promise<T>): Promise<T> {
  const original = readFileSync(PATH, 'utf8').trim();
  if (!/^\d+$/.test(original)) throw new Error(`Unexpected ${PATH} content '${original}'`);
  const restore = () => writeFileSync(PATH, `${original}\n`);
  const onSignal = (signal: NodeJS.Signals) => {
    restore();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  writeFileSync(PATH, `${max}\n`);
  try {
    return await fn();
  } finally {
    restore();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function conntrackMax(): number {
  return Number(readFileSync(PATH, 'utf8').trim());
}
