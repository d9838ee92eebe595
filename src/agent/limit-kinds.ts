import type { FloatingMapping } from '../dataplane/types.js';

/**
 * How many applied floating IPs have a rate limit of each kind (direction and unit). A backend may evaluate a kind
 * of limit only while some floating IP has one (nftables renders a limit set's lookup rule only then: every rule is
 * a hash lookup for every packet), so the first limit of a kind, or the removal of the last, changes the router's
 * structure. The delta pass plans element changes only, so such a change goes to a full pass instead.
 */
export class LimitKinds {
  private readonly counts = new Map<string, number>();

  add(m: FloatingMapping): void {
    for (const kind of kindsOf(m)) this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  drop(m: FloatingMapping): void {
    for (const kind of kindsOf(m)) this.counts.set(kind, (this.counts.get(kind) ?? 0) - 1);
  }

  /** Whether removing `removed` and adding `added` would make some kind appear or disappear. */
  wouldChange(added: readonly FloatingMapping[], removed: readonly FloatingMapping[]): boolean {
    const after = new Map<string, number>();
    const count = (kind: string) => after.get(kind) ?? this.counts.get(kind) ?? 0;
    for (const m of removed) for (const kind of kindsOf(m)) after.set(kind, count(kind) - 1);
    for (const m of added) for (const kind of kindsOf(m)) after.set(kind, count(kind) + 1);
    return [...after].some(([kind, n]) => n > 0 !== (this.counts.get(kind) ?? 0) > 0);
  }
}

const kindsOf = (m: FloatingMapping): Set<string> =>
  new Set((m.limits ?? []).map((l) => `${l.direction} ${l.unit}`));
