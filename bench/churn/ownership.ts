/**
 * Who owned what, and when, as the API acknowledged it; and the verdict on every packet measured against that.
 *
 * A key is a floating address (its value: the fixed IP it forwards to, or null while it forwards nowhere) or a
 * fixed IP (its value: the floating address it leaves as, or null while it leaves through shared SNAT). Each
 * change is known only by the window [startUs, ackUs] of the API request that made it: the store committed it
 * somewhere inside. So a value may legitimately be seen from the start of the request that set it to the
 * acknowledgement of the request that replaced it. Anything seen later than that is "late" (the kernel had not
 * caught up yet: the in-flight window, measured); anything never held before the send time is wrong.
 */

export interface Transition {
  readonly startUs: number;
  readonly ackUs: number;
  readonly value: string | null;
  /** The key's generation after this change (1 for the first change). */
  readonly gen: number;
}

export type Verdict =
  | { readonly kind: 'ok' }
  | { readonly kind: 'late'; readonly lateUs: number }
  | { readonly kind: 'wrong'; readonly reason: string; readonly lateUs?: number };

export class Timeline {
  private readonly changes: Transition[] = [];

  constructor(readonly initial: string | null = null) {}

  /** Records an acknowledged change. Changes of one key never overlap: the churner serialises them per key. */
  add(change: Transition): void {
    const last = this.changes.at(-1);
    if (last && change.startUs < last.ackUs) {
      throw new Error(`overlapping changes of one key: ${change.startUs} starts before ${last.ackUs}`);
    }
    this.changes.push(change);
  }

  get transitions(): readonly Transition[] {
    return this.changes;
  }

  get generation(): number {
    return this.changes.at(-1)?.gen ?? 0;
  }

  get current(): string | null {
    return this.changes.at(-1)?.value ?? this.initial;
  }

  /** Value i (0 = initial) may be seen from its request's start until the next request's acknowledgement. */
  private window(i: number): { value: string | null; from: number; until: number } {
    const value = i === 0 ? this.initial : this.changes[i - 1]!.value;
    const from = i === 0 ? -Infinity : this.changes[i - 1]!.startUs;
    const until = i < this.changes.length ? this.changes[i]!.ackUs : Infinity;
    return { value, from, until };
  }

  /** Whether `observed` is what this key mapped to at `atUs`, late (within `boundUs`), or wrong. */
  classify(observed: string | null, atUs: number, boundUs: number): Verdict {
    let lastEnded = -Infinity;
    for (let i = 0; i <= this.changes.length; i++) {
      const w = this.window(i);
      if (w.value !== observed) continue;
      if (w.from <= atUs && atUs <= w.until) return { kind: 'ok' };
      if (w.until < atUs) lastEnded = Math.max(lastEnded, w.until);
    }
    if (lastEnded === -Infinity) {
      return { kind: 'wrong', reason: `never held ${String(observed)} before the send time` };
    }
    const lateUs = atUs - lastEnded;
    if (lateUs <= boundUs) return { kind: 'late', lateUs };
    return {
      kind: 'wrong',
      lateUs,
      reason: `held ${String(observed)} until ${(lateUs / 1000).toFixed(1)} ms before the send time (bound ${(boundUs / 1000).toFixed(0)} ms)`,
    };
  }

  /**
   * The value at `atUs` if it had been stable for at least `settleUs` since its change was acknowledged and no
   * other change had started; undefined while a change is in progress or settling.
   */
  settledAt(atUs: number, settleUs: number): string | null | undefined {
    for (let i = this.changes.length; i >= 0; i--) {
      const w = this.window(i);
      if (w.from > atUs) continue;
      const ackedAt = i === 0 ? -Infinity : this.changes[i - 1]!.ackUs;
      const nextStart = i < this.changes.length ? this.changes[i]!.startUs : Infinity;
      return atUs >= ackedAt + settleUs && atUs < nextStart ? w.value : undefined;
    }
    return undefined;
  }
}
