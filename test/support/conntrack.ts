import { run } from '../../src/exec/run.js';

/** Every conntrack entry in a namespace, one line each (`conntrack -L`). */
export async function conntrackLines(namespace: string): Promise<string[]> {
  const { stdout } = await run('conntrack', ['-L', '-f', 'ipv4'], { netns: namespace, okExitCodes: [1] });
  return stdout.split('\n').filter((l) => l.includes('src='));
}

/** Entries that carry any of the addresses, as source or destination, in either direction. */
export function mentioning(lines: readonly string[], addresses: readonly string[]): string[] {
  return lines.filter((l) => addresses.some((a) => l.includes(`src=${a} `) || l.includes(`dst=${a} `)));
}
