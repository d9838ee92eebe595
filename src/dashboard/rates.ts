import type { DashboardFloatingIp, DashboardState } from './state-types.js';

/** Traffic per second through one floating IP between two readings. */
export interface FloatingIpRate {
  readonly packetsInPerSec: number;
  readonly packetsOutPerSec: number;
  readonly bytesInPerSec: number;
  readonly bytesOutPerSec: number;
}

/** Recent rates of one floating IP, oldest first, for a small chart. */
export interface RateSeries {
  readonly times: number[];
  readonly packetsIn: number[];
  readonly packetsOut: number[];
}

interface Reading {
  readonly at: number;
  readonly ip: DashboardFloatingIp;
}

export const rateKey = (routerId: string, address: string) => `${routerId}/${address}`;

/**
 * Turns successive cumulative counter readings into rates. Pure bookkeeping, shared by the web dashboard and
 * `sfip top`. A counter that went backwards was reset (the dataplane rebuilt its objects): no rate for that
 * interval rather than a negative or a huge one.
 */
export class RateTracker {
  private readonly last = new Map<string, Reading>();
  private readonly series = new Map<string, RateSeries>();
  private readonly current = new Map<string, FloatingIpRate>();

  constructor(private readonly keep = 60) {}

  update(state: DashboardState): void {
    const at = Date.parse(state.readAt);
    const seen = new Set<string>();
    for (const router of state.routers) {
      for (const ip of router.floatingIps) {
        const key = rateKey(router.id, ip.address);
        seen.add(key);
        const before = this.last.get(key);
        if (before && at === before.at) continue; // the same cached reading: nothing new
        this.last.set(key, { at, ip });
        const rate = before ? rateBetween(before, { at, ip }) : null;
        if (!rate) {
          this.current.delete(key);
          continue;
        }
        this.current.set(key, rate);
        const s = this.series.get(key) ?? { times: [], packetsIn: [], packetsOut: [] };
        s.times.push(at / 1000);
        s.packetsIn.push(rate.packetsInPerSec);
        s.packetsOut.push(rate.packetsOutPerSec);
        if (s.times.length > this.keep) {
          s.times.shift();
          s.packetsIn.shift();
          s.packetsOut.shift();
        }
        this.series.set(key, s);
      }
    }
    for (const key of [...this.last.keys()].filter((k) => !seen.has(k))) {
      this.last.delete(key);
      this.series.delete(key);
      this.current.delete(key);
    }
  }

  rate(routerId: string, address: string): FloatingIpRate | undefined {
    return this.current.get(rateKey(routerId, address));
  }

  seriesOf(routerId: string, address: string): RateSeries | undefined {
    return this.series.get(rateKey(routerId, address));
  }
}

function rateBetween(a: Reading, b: Reading): FloatingIpRate | null {
  const seconds = (b.at - a.at) / 1000;
  if (seconds <= 0) return null;
  const per = (x: number | null, y: number | null) =>
    x === null || y === null || y < x ? null : (y - x) / seconds;
  const pIn = per(a.ip.packetsIn, b.ip.packetsIn);
  const pOut = per(a.ip.packetsOut, b.ip.packetsOut);
  const bIn = per(a.ip.bytesIn, b.ip.bytesIn);
  const bOut = per(a.ip.bytesOut, b.ip.bytesOut);
  if (pIn === null || pOut === null || bIn === null || bOut === null) return null;
  return { packetsInPerSec: pIn, packetsOutPerSec: pOut, bytesInPerSec: bIn, bytesOutPerSec: bOut };
}
