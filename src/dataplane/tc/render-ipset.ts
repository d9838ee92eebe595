/**
 * `ipset restore` input for the two address sets of a router. The sets make the NOTRACK rules one hash lookup
 * whatever the number of floating IPs, where one iptables rule per address would cost a rule walk per packet.
 */

const CREATE_OPTIONS = 'hash:ip family inet hashsize 1024 maxelem 1048576';

/** Builds the sets beside the live ones and swaps them in: a packet sees the old members or the new, never none. */
export function renderIpsetFull(sets: ReadonlyMap<string, readonly string[]>): string {
  const lines: string[] = [];
  for (const [name, members] of sets) {
    const next = `${name}-n`;
    lines.push(
      `create ${name} ${CREATE_OPTIONS} -exist`,
      `create ${next} ${CREATE_OPTIONS} -exist`,
      `flush ${next}`,
      ...members.map((m) => `add ${next} ${m}`),
      `swap ${name} ${next}`,
      `destroy ${next}`,
    );
  }
  return lines.join('\n') + '\n';
}

export interface IpsetDelta {
  readonly additions: string | null;
  readonly removals: string | null;
}

export function renderIpsetDelta(
  desired: ReadonlyMap<string, readonly string[]>,
  actual: ReadonlyMap<string, ReadonlySet<string>>,
): IpsetDelta {
  const add: string[] = [];
  const remove: string[] = [];
  for (const [name, members] of desired) {
    const have = actual.get(name) ?? new Set<string>();
    const want = new Set(members);
    add.push(...members.filter((m) => !have.has(m)).map((m) => `add ${name} ${m} -exist`));
    remove.push(...[...have].filter((m) => !want.has(m)).map((m) => `del ${name} ${m} -exist`));
  }
  const text = (lines: string[]) => (lines.length ? lines.join('\n') + '\n' : null);
  return { additions: text(add), removals: text(remove) };
}

export function renderIpsetDestroy(names: readonly string[]): string | null {
  return names.length ? names.map((n) => `destroy ${n}`).join('\n') + '\n' : null;
}
