/**
 * Floating-IP QoS on the wire (issue 19), written once and run by every backend that enforces limits
 * (`*.qos-wire.test.ts`), as wire.ts is for translation. Real packets through the lab, counted by iperf3 at the
 * receiving end:
 *
 *   mid 203.0.113.1 -- router -- vm1 (fip1: 10 Mbit/s each way), vm2 (fip2: 2 kpps each way),
 *                                vm3 (fip3: no policy), vm4 (no floating IP: shared SNAT)
 *
 * Rates are measured, not timed: a fixed count of UDP datagrams is sent at 3x the limit, the receiver counts
 * what arrived, and a token bucket lets through exactly burst + rate x sending time, so the delivered rate is
 * (arrived - burst) / sending time. That is asserted within TOLERANCE of the limit: on this shared 2-core machine
 * ±5% held for the three backends (the figures are printed as `# ...` lines and docs/qos.md keeps them). TCP
 * through 10 Mbit/s gets a generous bound (TCP_BOUNDS), since its rate depends on how it backs off from drops;
 * the benchmark reports the exact figure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Json } from '../../src/client/api-client.js';
import type { BackendName } from '../../src/model/index.js';
import { conntrackLines, mentioning } from '../support/conntrack.js';
import { DataplaneFixture, UDP_PORT } from '../support/dataplane-fixture.js';
import { iperf, type IperfResult } from '../support/iperf.js';
import { labRouter } from '../../src/lab/index.js';
import { run } from '../../src/exec/run.js';

export interface QosWireOptions {
  readonly backend: BackendName;
  readonly prefix: string;
  /** Cases this backend cannot pass, with the reason: they still run, and must fail (so the reason stays true). */
  readonly knownFailures?: Readonly<Record<string, string>>;
  /**
   * Removes a floating IP's ingress limit behind the agent's back, the way an operator could by hand; the
   * drift case then checks that the next full pass restores it. Absent: the backend has no such case here.
   */
  readonly removeIngressLimitByHand?: (f: DataplaneFixture, floatingIp: string) => Promise<void>;
  /**
   * Seconds at the rate that a bandwidth bucket holds beyond the asked burst. nftables' byte limits hold one
   * `unit` (a second at least) more: the kernel sizes the bucket unit x (rate + burst) / rate (nft_limit.c).
   */
  readonly bandwidthBucketExtraSeconds?: number;
  /**
   * Scales every limit and stream (default 1: 10 Mbit/s and 2 kpps), for an emulated guest whose sender cannot
   * offer 3x the full rates. Packet rates stay whole kpps, as the API takes them.
   */
  readonly rateScale?: number;
  /**
   * The least multiple of the limit the sender must manage for a measurement to count (default 2.5, for streams
   * sent at 3x). Any clear excess keeps the limit the bottleneck, so (arrived - burst) / time still measures it.
   */
  readonly minOfferedRatio?: number;
  /**
   * The sender may stall (an emulated guest on a loaded host: a 2 s stream once took 2.99 s). A policer cannot
   * make up for a stall (its bucket stops filling at the burst), so a run in which some half-second offered less
   * than `minOfferedRatio` x the limit does not count, and is repeated, up to `attempts` runs in all.
   */
  readonly unsteadySender?: { readonly attempts: number };
  /** Agent resync interval; an emulated guest needs far more than the fixture's 400 ms (see tc.conformance). */
  readonly resyncIntervalMs?: number;
  readonly suiteTimeoutMs?: number;
  /** The backend's count of packets its limits dropped for a floating IP, when it keeps one. */
  readonly drops?: (
    f: DataplaneFixture,
    floatingIp: string,
  ) => Promise<{ inbound: number; outbound: number }>;
}

const MID = '203.0.113.1';
const FULL_BW_KBPS = 10_000;
/**
 * The default burst (the rule says 0): 80% of a second at the rate, as Neutron's L3 agent uses. Subtracted from
 * what arrived, so it does not blur the delivered rate; a small one (100 ms was tried) leaves TCP at 43% of the
 * limit on eBPF, since GRO hands the router 64 KB packets that a small bucket drops whole.
 */
const BW_BURST_SECONDS = 0.8;
const FULL_PPS = 2_000;
/** The delivered rate of UDP sent at 3x the limit, relative to the limit. */
const TOLERANCE = 0.05;
const TCP_BOUNDS = { low: 0.5, high: 1.1 } as const;
export function runQosWire(options: QosWireOptions): void {
  const scale = options.rateScale ?? 1;
  const BW_KBPS = Math.round(FULL_BW_KBPS * scale);
  const PPS = Math.max(1, Math.round((FULL_PPS * scale) / 1000)) * 1000;
  /** The default burst for packet rates: a tenth of a second at the rate. */
  const PPS_BURST = PPS / 10;
  /** 1,000-byte datagrams (1,028-byte IP packets) at 3x the bandwidth limit, for two seconds. */
  const BW_STREAM = { bitsPerSecond: 3 * BW_KBPS * 1000, length: 1000, count: Math.round(7500 * scale) };
  /** 18-byte datagrams: 46-byte IP packets, the 64-byte minimum Ethernet frame; 3x the packet rate for 1.5 s. */
  const PPS_STREAM = { bitsPerSecond: 3 * PPS * 18 * 8, length: 18, count: (9000 * PPS) / FULL_PPS };
  const minOffered = options.minOfferedRatio ?? 2.5;
  describe(`QoS on the wire: ${options.backend}`, { timeout: options.suiteTimeoutMs ?? 240_000 }, () => {
    const { prefix } = options;
    const f = new DataplaneFixture(
      options.backend,
      {
        prefix,
        routers: [labRouter('r1', '203.0.113', 4)],
      },
      options.resyncIntervalMs === undefined ? {} : { resyncIntervalMs: options.resyncIntervalMs },
    );
    const ns = (host: string) => `${prefix}-r1-${host}`;
    const fips: Record<string, { id: string; address: string }> = {};
    let bwPolicy = '';

    const qosCase = (name: string, body: () => Promise<void>) =>
      it(name, async () => {
        const known = options.knownFailures?.[name];
        try {
          await body();
        } catch (error) {
          if (known) return;
          throw error;
        }
        if (known)
          assert.fail(`"${name}" is listed as a known failure (${known}) but passed: update the list`);
      });

    /** Sends a stream and returns the delivered rate (burst taken out) relative to `limit` (bit/s or packets/s). */
    const measure = async (
      label: string,
      from: string,
      to: string,
      host: string,
      stream: typeof BW_STREAM | typeof PPS_STREAM,
      limit?: { perSecond: number; burst: number; unit: 'bit' | 'packet' },
    ) => {
      // A bucket refills when idle: wait until it is full, so every measurement starts from the same state.
      if (limit) await sleep(((limit.burst / limit.perSecond) * 1000 + 200) | 0);
      const limitPps = stream.bitsPerSecond / (3 * 8 * stream.length);
      const attempts = options.unsteadySender?.attempts ?? 1;
      let r: IperfResult | undefined;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1 && limit) await sleep(((limit.burst / limit.perSecond) * 1000 + 200) | 0);
        const overflowsBefore = options.unsteadySender ? await receiveBufferErrors(ns(to)) : 0;
        r = await iperf({
          serverNs: ns(to),
          clientNs: ns(from),
          host,
          udp: stream,
          ...(options.unsteadySender && { intervalSeconds: 0.5 }),
        });
        // The last interval may be a sliver of the stream's end; it says nothing about the pace.
        const slowest = Math.min(
          ...r.sentIntervals.filter((i) => i.seconds >= 0.25).map((i) => i.packets / i.seconds),
        );
        // A receiver that fell behind dropped datagrams the limit let through, so what arrived undercounts them.
        const overflows = options.unsteadySender ? (await receiveBufferErrors(ns(to))) - overflowsBefore : 0;
        if (!options.unsteadySender || !limit || (slowest >= minOffered * limitPps && overflows === 0)) break;
        console.log(
          `# ${options.backend} ${label}: attempt ${attempt} not counted (slowest half-second ${slowest.toFixed(0)} packets/s, ${overflows} datagrams dropped by the receiver's full socket buffer)`,
        );
        if (attempt === attempts)
          assert.fail(
            `${label}: the sender or the receiver fell behind in each of ${attempts} runs, too unsteady to test a limit`,
          );
      }
      r = r!;
      const offered = r.packetsSent / r.seconds;
      assert.ok(
        offered >= minOffered * limitPps,
        `${label}: the sender managed only ${offered.toFixed(0)} packets/s, too slow to test a limit`,
      );
      const arrived = limit?.unit === 'packet' ? r.packetsReceived : r.bitsReceived;
      const ratio = limit ? (arrived - limit.burst) / r.seconds / limit.perSecond : NaN;
      console.log(
        `# ${options.backend} ${label}: ${describeRun(r)}${limit ? `, ${ratio.toFixed(3)} of the limit` : ''}`,
      );
      return { r, ratio };
    };
    const extra = options.bandwidthBucketExtraSeconds ?? 0;
    const bwLimit = (kbps = BW_KBPS) =>
      ({ perSecond: kbps * 1000, burst: (BW_BURST_SECONDS + extra) * kbps * 1000, unit: 'bit' }) as const;
    const ppsLimit = { perSecond: PPS, burst: PPS_BURST, unit: 'packet' } as const;
    const withinTolerance = (ratio: number, what: string) =>
      assert.ok(Math.abs(ratio - 1) <= TOLERANCE, `${what}: delivered ${ratio.toFixed(3)} of the limit`);
    /**
     * Unlimited: most of what was sent arrives (7,241-7,500 of 7,500 so far; the loaded machine loses a few to full
     * socket buffers). 80% is 49 Mbit in 2 s, well above what the 10 Mbit/s limit lets through (28 Mbit on eBPF, 38
     * on nftables with its extra second of bucket).
     */
    const unlimited = (r: IperfResult, what: string) =>
      assert.ok(
        r.packetsReceived >= 0.8 * r.packetsSent,
        `${what}: ${r.packetsReceived} of ${r.packetsSent} arrived without a limit`,
      );

    const policyWith = async (name: string, type: string, rule: Json) => {
      const policy = (await f.api.post<{ policy: Json }>('/v2.0/qos/policies', { policy: { name } })).policy;
      for (const direction of ['ingress', 'egress'])
        await f.api.post(`/v2.0/qos/policies/${String(policy.id)}/${type}_rules`, {
          [`${type}_rule`]: { ...rule, direction },
        });
      return String(policy.id);
    };

    before(async () => {
      await f.start();
      bwPolicy = await policyWith('ten-mbit', 'bandwidth_limit', {
        max_kbps: BW_KBPS,
      });
      const ppsPolicy = await policyWith('two-kpps', 'packet_rate_limit', { max_kpps: PPS / 1000 });
      for (const [vm, policy] of [
        ['vm1', bwPolicy],
        ['vm2', ppsPolicy],
        ['vm3', null],
      ] as const) {
        const fip = await f.createFloatingIp('r1', vm);
        fips[vm] = { id: String(fip.id), address: String(fip.floating_ip_address) };
        if (policy) await f.updateFloatingIp(fip.id, { qos_policy_id: policy });
      }
      await f.settle();
      for (const vm of ['vm1', 'vm2', 'vm3'])
        assert.equal((await f.showFloatingIp(fips[vm]!.id)).status, 'ACTIVE', `${vm}'s floating IP`);
    });
    after(() => f.stop());

    qosCase('ingress: UDP at 3x a bandwidth limit delivers the limit', async () => {
      const before = await options.drops?.(f, fips.vm1!.address);
      const { r, ratio } = await measure(
        'ingress bandwidth',
        'ext',
        'vm1',
        fips.vm1!.address,
        BW_STREAM,
        bwLimit(),
      );
      withinTolerance(ratio, 'ingress bandwidth');
      if (before) {
        // The datagrams that did not arrive were dropped by the limit, and counted: within 1% either way (a few
        // drops may be iperf3's own control packets, a datagram may be lost elsewhere, such as a full socket).
        const after = await options.drops!(f, fips.vm1!.address);
        const dropped = after.inbound - before.inbound;
        const lost = r.packetsSent - r.packetsReceived;
        console.log(
          `# ${options.backend} ingress bandwidth: ${dropped} drops counted, ${lost} datagrams lost`,
        );
        assert.ok(
          Math.abs(dropped - lost) <= Math.max(5, lost / 100),
          `${dropped} drops counted, ${lost} datagrams lost`,
        );
      }
    });

    qosCase('egress: UDP at 3x a bandwidth limit delivers the limit', async () => {
      const { ratio } = await measure('egress bandwidth', 'vm1', 'ext', MID, BW_STREAM, bwLimit());
      withinTolerance(ratio, 'egress bandwidth');
    });

    qosCase('the packet-rate limit holds for 64-byte packets, both directions', async () => {
      const inbound = await measure(
        'ingress packet rate',
        'ext',
        'vm2',
        fips.vm2!.address,
        PPS_STREAM,
        ppsLimit,
      );
      const outbound = await measure('egress packet rate', 'vm2', 'ext', MID, PPS_STREAM, ppsLimit);
      withinTolerance(inbound.ratio, 'ingress packet rate');
      withinTolerance(outbound.ratio, 'egress packet rate');
    });

    qosCase('another floating IP on the same router is unaffected', async () => {
      const inbound = await measure('ingress, no policy', 'ext', 'vm3', fips.vm3!.address, BW_STREAM);
      const outbound = await measure('egress, no policy', 'vm3', 'ext', MID, BW_STREAM);
      unlimited(inbound.r, 'ingress');
      unlimited(outbound.r, 'egress');
    });

    qosCase('TCP through a bandwidth limit gets most of it', async () => {
      const { burst, perSecond } = bwLimit();
      await sleep(((burst / perSecond) * 1000 + 200) | 0);
      const r = await iperf({
        serverNs: ns('vm1'),
        clientNs: ns('ext'),
        host: fips.vm1!.address,
        tcpSeconds: 3,
      });
      const ratio = (r.bitsReceived - burst) / r.seconds / perSecond;
      console.log(
        `# ${options.backend} TCP ingress through ${BW_KBPS / 1000} Mbit/s: ${describeRun(r)}, ${ratio.toFixed(3)} of the limit`,
      );
      assert.ok(
        ratio >= TCP_BOUNDS.low && ratio <= TCP_BOUNDS.high,
        `TCP got ${ratio.toFixed(3)} of the limit`,
      );
    });

    qosCase('no conntrack entry for floating-IP traffic, with shared SNAT active beside it', async () => {
      // vm4 has no floating IP: its reply comes back through shared SNAT, which conntrack must be tracking.
      await f.at('r1-vm4').call({ op: 'udp', host: MID, port: UDP_PORT, msg: 'snat' });
      const lines = await conntrackLines(f.routerNamespace('r1'));
      assert.ok(mentioning(lines, ['10.0.0.14']).length > 0, 'shared SNAT is tracked');
      const floating = ['vm1', 'vm2', 'vm3'].map((vm) => fips[vm]!.address);
      assert.deepEqual(mentioning(lines, [...floating, '10.0.0.11', '10.0.0.12', '10.0.0.13']), []);
    });

    if (options.removeIngressLimitByHand) {
      const removeByHand = options.removeIngressLimitByHand;
      qosCase('a limit removed by hand is restored by the next full pass', async () => {
        // Not measured while removed: the fixture's agent resyncs every 400 ms and would restore it mid-stream.
        await removeByHand(f, fips.vm1!.address);
        f.agent.resyncAll('resync');
        await f.settle();
        const { ratio } = await measure(
          'ingress, restored',
          'ext',
          'vm1',
          fips.vm1!.address,
          BW_STREAM,
          bwLimit(),
        );
        withinTolerance(ratio, 'restored');
      });
    }

    qosCase('the limit follows the floating IP to another port', async () => {
      await f.updateFloatingIp(fips.vm1!.id, { port_id: f.router('r1').ports.vm4 });
      await f.settle();
      const { ratio } = await measure(
        'ingress, moved to vm4',
        'ext',
        'vm4',
        fips.vm1!.address,
        BW_STREAM,
        bwLimit(),
      );
      withinTolerance(ratio, 'moved');
    });

    qosCase('a rule change reaches the kernel', async () => {
      const rules = (
        await f.api.get<{ bandwidth_limit_rules: Json[] }>(
          `/v2.0/qos/policies/${bwPolicy}/bandwidth_limit_rules`,
        )
      ).bandwidth_limit_rules;
      const ingress = rules.find((r) => r.direction === 'ingress')!;
      await f.api.put(`/v2.0/qos/policies/${bwPolicy}/bandwidth_limit_rules/${String(ingress.id)}`, {
        bandwidth_limit_rule: { max_kbps: BW_KBPS / 2 },
      });
      await f.settle();
      const half = bwLimit(BW_KBPS / 2);
      const { ratio } = await measure(
        'ingress, limit halved',
        'ext',
        'vm4',
        fips.vm1!.address,
        BW_STREAM,
        half,
      );
      withinTolerance(ratio, 'halved');
    });

    qosCase('removing the policy removes the limit', async () => {
      await f.updateFloatingIp(fips.vm1!.id, { qos_policy_id: null });
      await f.settle();
      const inbound = await measure('ingress, policy removed', 'ext', 'vm4', fips.vm1!.address, BW_STREAM);
      const outbound = await measure('egress, policy removed', 'vm4', 'ext', MID, BW_STREAM);
      unlimited(inbound.r, 'ingress');
      unlimited(outbound.r, 'egress');
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** UDP datagrams a namespace dropped because a socket's receive buffer was full (RcvbufErrors, per namespace). */
async function receiveBufferErrors(namespace: string): Promise<number> {
  const { stdout } = await run('cat', ['/proc/net/snmp'], { netns: namespace });
  const [names, values] = stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const index = (names ?? '').split(/\s+/).indexOf('RcvbufErrors');
  const value = Number((values ?? '').split(/\s+/)[index]);
  if (index < 0 || !Number.isFinite(value))
    throw new Error(`no Udp RcvbufErrors in ${namespace}'s /proc/net/snmp`);
  return value;
}

/** One run in words: packets only for UDP (iperf3 counts none for TCP). */
const describeRun = (r: IperfResult) =>
  `${r.packetsSent > 0 ? `${r.packetsReceived}/${r.packetsSent} packets, ` : ''}${(r.bitsReceived / 1e6).toFixed(2)} Mbit in ${r.seconds.toFixed(3)} s`;
