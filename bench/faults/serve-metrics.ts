/** A few numbers from serve's own /metrics: heap in use and how long reconcile passes take. */
export interface ServeMetrics {
  readonly heapUsedMiB: number;
  readonly reconciles: number;
  readonly reconcileMeanMs: number;
  /** Upper bound of the histogram bucket holding the 99th percentile pass. */
  readonly reconcileP99Ms: number;
}

const sample = (text: string, name: string): number[] =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].map((m) => Number(m[1]));

/** `token`: the dashboard token or an admin token (/metrics refuses anonymous scrapes). */
export async function scrapeServe(url: string, token: string): Promise<ServeMetrics> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET ${url}/metrics answered ${response.status}`);
  const text = await response.text();
  const count = sample(text, 'sfip_reconcile_duration_seconds_count').reduce((s, x) => s + x, 0);
  const sum = sample(text, 'sfip_reconcile_duration_seconds_sum').reduce((s, x) => s + x, 0);
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(
    /^sfip_reconcile_duration_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} ([0-9.e+-]+)$/gm,
  )) {
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
  }
  const p99 = [...buckets].sort((a, b) => a[0] - b[0]).find(([, n]) => n >= 0.99 * count)?.[0] ?? NaN;
  return {
    heapUsedMiB: (sample(text, 'sfip_nodejs_heap_size_used_bytes')[0] ?? NaN) / 2 ** 20,
    reconciles: count,
    reconcileMeanMs: count > 0 ? (sum / count) * 1000 : 0,
    reconcileP99Ms: p99 * 1000,
  };
}
