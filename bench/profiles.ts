import type { BackendName } from '../src/model/index.js';
import type { ChurnProfile } from './churn/run-suite.js';
import type { ScaleProfile } from './control/run-scale-suite.js';

/** How big a run is. `full` reproduces the figures; `smoke` only proves the harness works (CI). */
export interface BenchProfile {
  readonly name: string;
  readonly forwarding: {
    fipCounts: number[];
    repetitions: number;
    packets: number;
    /** 0: saturation (see docs/benchmarks.md, Forwarding). */
    ratePps: number;
    /** IP packet lengths: 46 is a 64-byte frame, 1500 a full-MTU packet. */
    ipBytes: number[];
    /** Above this many floating IPs the stateful baseline is not measured (see run-forwarding.ts). */
    statefulMaxFips?: number;
    /** Deliver to the router CPU in bursts of this many µs (run-forwarding.ts burstUs); absent: frame by frame. */
    burstUs?: number;
  };
  readonly exhaustion: { conntrackMax: number; ratePps: number; seconds: number; intervalMs: number };
  readonly control: { fipCounts: number[]; latencySamples: number; restartStreamMs: number };
  readonly backendSwitch: { fips: number; sequence: BackendName[] };
  /** Opt-in suites (`--only churn`, `--only crash`): they prove correctness under faults, not speed. */
  readonly churn: ChurnProfile;
  readonly crash: { agentKills: number; writeKills: number };
  /** Opt-in (`--only scale`): issue 15's control plane at scale, per backend. */
  readonly scale: ScaleProfile;
}

const churnLab = { vms: 4, portsPerVm: 3, poolSize: 24, packetIntervalMs: 20, boundMs: 3000, settleMs: 1000 };

export const PROFILES: Record<string, BenchProfile> = {
  full: {
    name: 'full',
    // 250,000 new flows per sample stay below the default nf_conntrack_max (262,144). At saturation (about
    // 1 Mpps from the generator) a sample lasts about 0.25 s: 25 ticks of CPU accounting, so take the median of 5.
    forwarding: {
      fipCounts: [1, 1000, 10_000, 100_000],
      repetitions: 5,
      packets: 250_000,
      ratePps: 0,
      ipBytes: [46, 1500],
    },
    exhaustion: { conntrackMax: 20_000, ratePps: 5000, seconds: 8, intervalMs: 250 },
    control: { fipCounts: [1000, 10_000, 100_000], latencySamples: 100, restartStreamMs: 6000 },
    backendSwitch: { fips: 1000, sequence: ['nftables', 'iptables', 'nftables'] },
    churn: { ...churnLab, durationS: 300, opsPerSecond: 5, concurrency: 3 },
    crash: { agentKills: 150, writeKills: 50 },
    scale: {
      topologies: [
        { routers: 1, perRouter: 1000 },
        { routers: 1, perRouter: 10_000 },
        { routers: 1, perRouter: 100_000 },
        { routers: 100, perRouter: 1000 },
      ],
      latencySamples: 200,
      restartStreamMs: 6000,
      fillCount: 5000,
      fillApiWorkers: 'default',
      churn: { perSecond: 1000, seconds: 60 },
      scrapeWindowMs: 3000,
      iptablesSampleBudgetMs: 45_000,
    },
  },
  // The full forwarding matrix with fewer repetitions, and the control plane up to 10,000: about ten minutes.
  medium: {
    name: 'medium',
    forwarding: {
      fipCounts: [1, 1000, 10_000, 100_000],
      repetitions: 3,
      packets: 250_000,
      ratePps: 0,
      ipBytes: [46, 1500],
      // The stateful baseline at 100,000 FIPs takes about 7 minutes a sample (one rule per FIP for every new flow).
      statefulMaxFips: 10_000,
    },
    exhaustion: { conntrackMax: 20_000, ratePps: 5000, seconds: 8, intervalMs: 250 },
    control: { fipCounts: [1000, 10_000], latencySamples: 20, restartStreamMs: 6000 },
    backendSwitch: { fips: 1000, sequence: ['nftables', 'iptables', 'nftables'] },
    churn: { ...churnLab, durationS: 90, opsPerSecond: 5, concurrency: 3 },
    crash: { agentKills: 100, writeKills: 20 },
    scale: {
      topologies: [
        { routers: 1, perRouter: 1000 },
        { routers: 1, perRouter: 10_000 },
        { routers: 10, perRouter: 1000 },
      ],
      latencySamples: 50,
      restartStreamMs: 6000,
      fillCount: 2000,
      fillApiWorkers: 'default',
      churn: { perSecond: 1000, seconds: 20 },
      scrapeWindowMs: 2000,
      iptablesSampleBudgetMs: 30_000,
    },
  },
  smoke: {
    name: 'smoke',
    // Proves the harness only: 20,000 packets last a few ticks, far too few to measure a cost.
    forwarding: { fipCounts: [1, 100], repetitions: 2, packets: 20_000, ratePps: 0, ipBytes: [46] },
    exhaustion: { conntrackMax: 1000, ratePps: 2000, seconds: 2, intervalMs: 250 },
    control: { fipCounts: [100], latencySamples: 6, restartStreamMs: 2000 },
    backendSwitch: { fips: 10, sequence: ['nftables', 'iptables', 'nftables'] },
    churn: {
      ...churnLab,
      vms: 2,
      portsPerVm: 2,
      poolSize: 6,
      durationS: 10,
      opsPerSecond: 4,
      concurrency: 2,
    },
    crash: { agentKills: 5, writeKills: 2 },
    scale: {
      topologies: [
        { routers: 1, perRouter: 100 },
        { routers: 4, perRouter: 25 },
      ],
      latencySamples: 6,
      restartStreamMs: 2000,
      fillCount: 50,
      fillApiWorkers: 'default',
      churn: { perSecond: 100, seconds: 3 },
      scrapeWindowMs: 300,
      iptablesSampleBudgetMs: 10_000,
    },
  },
};

/**
 * `--profile small --only forwarding`: the forwarding matrix at its extremes (1 and 100,000 floating IPs, 64- and
 * 1,500-byte packets, every configuration) with 3 repetitions, in about five minutes: for a loaded machine, where
 * the full profile's numbers would not be worth its hour. The other suites are smoke-sized.
 */
PROFILES.small = {
  ...PROFILES.smoke!,
  name: 'small',
  forwarding: {
    fipCounts: [1, 100_000],
    repetitions: 3,
    packets: 250_000,
    ratePps: 0,
    ipBytes: [46, 1500],
    statefulMaxFips: 1,
  },
};
