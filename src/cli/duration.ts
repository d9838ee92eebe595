// One duration syntax for every option and field that takes a time: a number and a unit, ms, s, m, h or d.
// A bare number is refused: help once showed milliseconds (30000) while the parser read seconds, so a copied
// default meant an 8-hour resync. Pure functions without commander, so the API's rate-limit spec can use them.

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNITS;

export const DURATION_SYNTAX = 'a number and a unit: ms, s, m, h or d (e.g. 500ms, 30s, 5m, 1h, 30d)';

/** Milliseconds of `500ms`, `30s`, `1.5m`, `1h`, `30d`; throws an Error naming the text and the syntax. */
export function parseDurationMs(text: string): number {
  const m = /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m|h|d)$/.exec(text);
  if (!m) {
    const hint = /^\d+(?:\.\d+)?$/.test(text) ? ' (a bare number has no unit)' : '';
    throw new Error(`'${text}' is not a duration${hint}: expected ${DURATION_SYNTAX}`);
  }
  const ms = Math.round(Number(m[1]) * UNITS[m[2] as Unit]);
  if (!Number.isSafeInteger(ms)) throw new Error(`'${text}' is too long a duration`);
  return ms;
}

/** The shortest exact spelling of a duration, as help shows defaults: 30000 -> `30s`, 1500 -> `1500ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNITS[unit] && ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
