import { limitsKey, parseLimitsKey, type RateLimit } from '../types.js';

/**
 * The `qos` map of bpf/sfip_nat.c: floating address -> struct qos_limits, four token buckets of 32 bytes
 * (struct qos_bucket: tat, tolerance, dropped as u64, then rate and burst as u32, host order). The agent writes
 * rate, burst and tolerance; tat and dropped are the programs' (a write zeroes them: the bucket starts full).
 * In text (for planning and read-back) a value is the floating IP's `limitsKey`, so plan() compares it with the
 * desired limits as the nftables backend does.
 */
export const QOS_VALUE_SIZE = 128;
const BUCKET_SIZE = 32;

/** enum qos_index: the bucket of each direction and unit. */
const BUCKETS: readonly Pick<RateLimit, 'direction' | 'unit'>[] = [
  { direction: 'ingress', unit: 'kbit' },
  { direction: 'ingress', unit: 'packets' },
  { direction: 'egress', unit: 'kbit' },
  { direction: 'egress', unit: 'packets' },
];

const NS_PER_SECOND = 1_000_000_000n;

/** The burst as time at the rate: what a packet may run ahead of the rate (GCRA's tolerance), in ns. */
export function toleranceNs(limit: Pick<RateLimit, 'rate' | 'burst'>): bigint {
  return (BigInt(limit.burst) * NS_PER_SECOND) / BigInt(limit.rate);
}

export function qosValueBytes(key: string, out: Buffer = Buffer.alloc(QOS_VALUE_SIZE), offset = 0): Buffer {
  out.fill(0, offset, offset + QOS_VALUE_SIZE);
  for (const limit of parseLimitsKey(key)) {
    const at = offset + BUCKET_SIZE * bucketIndex(limit);
    if (!Number.isInteger(limit.rate) || limit.rate < 1 || limit.rate > 0xffffffff)
      throw new Error(`rate ${limit.rate} ${limit.unit}/s of '${key}' does not fit the eBPF qos map`);
    if (!Number.isInteger(limit.burst) || limit.burst < 0 || limit.burst > 0xffffffff)
      throw new Error(`burst ${limit.burst} ${limit.unit} of '${key}' does not fit the eBPF qos map`);
    out.writeBigUInt64LE(toleranceNs(limit), at + 8);
    out.writeUInt32LE(limit.rate, at + 24);
    out.writeUInt32LE(limit.burst, at + 28);
  }
  return out;
}

/** Many values as views into one buffer (what the batch calls take). */
export function qosValues(keys: readonly string[]): Buffer[] {
  const all = Buffer.alloc(QOS_VALUE_SIZE * keys.length);
  return keys.map((k, i) =>
    qosValueBytes(k, all, QOS_VALUE_SIZE * i).subarray(QOS_VALUE_SIZE * i, QOS_VALUE_SIZE * (i + 1)),
  );
}

/**
 * A value back as its `limitsKey`, sorted as desired.ts sorts limits. A tolerance that is not the one this
 * rate and burst give (written by hand) reads as a burst no desired state has, so the next plan rewrites it.
 */
export function qosValueText(bytes: Buffer): string {
  const limits: RateLimit[] = [];
  BUCKETS.forEach((bucket, i) => {
    const at = BUCKET_SIZE * i;
    const rate = bytes.readUInt32LE(at + 24);
    if (rate === 0) return;
    const burst = bytes.readUInt32LE(at + 28);
    const tolerance = bytes.readBigUInt64LE(at + 8);
    limits.push({ ...bucket, rate, burst: tolerance === toleranceNs({ rate, burst }) ? burst : -1 });
  });
  limits.sort((a, b) => a.direction.localeCompare(b.direction) || a.unit.localeCompare(b.unit));
  return limitsKey(limits);
}

/** Packets each bucket dropped: inbound and outbound, summed over bandwidth and packet rate. */
export function qosDrops(bytes: Buffer): { readonly inbound: bigint; readonly outbound: bigint } {
  const dropped = (i: number) => bytes.readBigUInt64LE(BUCKET_SIZE * i + 16);
  return { inbound: dropped(0) + dropped(1), outbound: dropped(2) + dropped(3) };
}

function bucketIndex(limit: Pick<RateLimit, 'direction' | 'unit'>): number {
  return BUCKETS.findIndex((b) => b.direction === limit.direction && b.unit === limit.unit);
}
