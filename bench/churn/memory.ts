/** Resident memory of a process over time, and whether it stayed flat. */
export interface MemoryTrend {
  /** [seconds since the start, MiB] */
  readonly samples: [number, number][];
  readonly firstQuarterMiB: number;
  readonly lastQuarterMiB: number;
  readonly growthMiB: number;
  /** Least-squares slope over every sample after the warm-up. */
  readonly slopeMiBPerMin: number;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

export function memoryTrend(samples: [number, number][], warmupS: number): MemoryTrend {
  const steady = samples.filter(([t]) => t >= warmupS);
  const q = Math.max(1, Math.floor(steady.length / 4));
  const first = mean(steady.slice(0, q).map(([, m]) => m));
  const last = mean(steady.slice(-q).map(([, m]) => m));
  const mt = mean(steady.map(([t]) => t));
  const mm = mean(steady.map(([, m]) => m));
  const num = steady.reduce((s, [t, m]) => s + (t - mt) * (m - mm), 0);
  const den = steady.reduce((s, [t]) => s + (t - mt) ** 2, 0);
  return {
    samples,
    firstQuarterMiB: first,
    lastQuarterMiB: last,
    growthMiB: last - first,
    slopeMiBPerMin: den > 0 ? (num / den) * 60 : 0,
  };
}
