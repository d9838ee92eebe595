import { Probe } from '../../src/lab/index.js';
import type { TaggedRecord, TaggedSendLog } from '../../src/lab/tagged-traffic.js';
import type { ChurnLab, ChurnPort } from '../churn/churn-lab.js';

const IN_PORT = 7200;
const OUT_PORT = 7201;

export interface TaggedStreamsOptions {
  /** Floating addresses the external host sends to. */
  readonly inbound: readonly string[];
  /** VM ports that receive inbound packets (whichever floating address reaches them). */
  readonly receivers: readonly ChurnPort[];
  /** VM ports that send out to the external host, each from its own fixed IP. */
  readonly senders: readonly ChurnPort[];
  readonly intervalMs: number;
}

/** Everything one run of streams produced, for the verdicts (bench/churn/verdicts.ts). */
export interface StreamResults {
  readonly inboundLogs: TaggedSendLog[];
  readonly inboundRecords: TaggedRecord[];
  readonly outboundLogs: TaggedSendLog[];
  readonly outboundRecords: TaggedRecord[];
}

/**
 * Tagged UDP both ways through a churn lab: the external host sends to floating addresses, VM ports send out
 * to the external host; a netprobe in the external namespace and one in each VM namespace involved record what
 * arrives. `collect()` moves the records into this process as a run goes, so no probe holds minutes of them.
 */
export class TaggedStreams {
  private readonly ext: Probe;
  /** One probe per VM namespace that has a receiver or a sender. */
  private readonly vmProbes = new Map<string, Probe>();
  private readonly inboundRecords: TaggedRecord[] = [];
  private readonly outboundRecords: TaggedRecord[] = [];

  private constructor(
    private readonly lab: ChurnLab,
    private readonly o: TaggedStreamsOptions,
  ) {
    this.ext = new Probe(lab.externalNamespace, 'ext');
    for (const p of [...o.receivers, ...o.senders])
      if (!this.vmProbes.has(p.vmNamespace))
        this.vmProbes.set(p.vmNamespace, new Probe(p.vmNamespace, p.vmNamespace));
  }

  /** Starts the probes and their listeners; `send()` starts the senders. */
  static async listen(lab: ChurnLab, o: TaggedStreamsOptions): Promise<TaggedStreams> {
    const s = new TaggedStreams(lab, o);
    try {
      if (o.senders.length > 0) await s.ext.call({ op: 'tagListen', port: OUT_PORT, addresses: ['0.0.0.0'] });
      for (const [ns, addresses] of s.fixedIpsByNamespace(o.receivers))
        await s.vmProbes.get(ns)!.call({ op: 'tagListen', port: IN_PORT, addresses });
    } catch (error) {
      s.close();
      throw error;
    }
    return s;
  }

  private fixedIpsByNamespace(ports: readonly ChurnPort[]): Map<string, string[]> {
    const byNamespace = new Map<string, string[]>();
    for (const p of ports)
      byNamespace.set(p.vmNamespace, [...(byNamespace.get(p.vmNamespace) ?? []), p.fixedIp]);
    return byNamespace;
  }

  async send(): Promise<void> {
    if (this.o.inbound.length > 0) {
      await this.ext.call({
        op: 'tagSend',
        id: 'in',
        port: IN_PORT,
        targets: this.o.inbound.map((a) => ({ key: a, host: a })),
        intervalMs: this.o.intervalMs,
      });
    }
    for (const [ns, fixedIps] of this.fixedIpsByNamespace(this.o.senders)) {
      await this.vmProbes.get(ns)!.call({
        op: 'tagSend',
        id: 'out',
        port: OUT_PORT,
        targets: fixedIps.map((ip) => ({ key: ip, host: this.lab.upstreamIp, bind: ip })),
        intervalMs: this.o.intervalMs,
      });
    }
  }

  /**
   * Tells the sender of a key its new generation, so that later packets carry it: the external host for a
   * floating address (inbound), the VM of a sending fixed IP (outbound).
   */
  async setGeneration(direction: 'inbound' | 'outbound', key: string, gen: number): Promise<void> {
    if (direction === 'inbound') {
      await this.ext.call({ op: 'tagGen', id: 'in', key, gen });
      return;
    }
    const sender = this.o.senders.find((p) => p.fixedIp === key);
    if (!sender) throw new Error(`${key} is not a sending port`);
    await this.vmProbes.get(sender.vmNamespace)!.call({ op: 'tagGen', id: 'out', key, gen });
  }

  /** Moves what the listeners received so far into this process. */
  async collect(): Promise<void> {
    for (const ns of this.fixedIpsByNamespace(this.o.receivers).keys()) {
      const r = await this.vmProbes
        .get(ns)!
        .call<{ records: TaggedRecord[] }>({ op: 'tagCollect', port: IN_PORT });
      for (const x of r.records) this.inboundRecords.push(x);
    }
    if (this.o.senders.length > 0) {
      const r = await this.ext.call<{ records: TaggedRecord[] }>({ op: 'tagCollect', port: OUT_PORT });
      for (const x of r.records) this.outboundRecords.push(x);
    }
  }

  /**
   * Stops the senders, waits for the last packets, collects, and returns everything sent and received. The
   * record arrays are the live ones: a `collect()` still in flight adds to them.
   */
  async stop(): Promise<StreamResults> {
    const inboundLogs: TaggedSendLog[] = [];
    const outboundLogs: TaggedSendLog[] = [];
    if (this.o.inbound.length > 0)
      inboundLogs.push(await this.ext.call<TaggedSendLog>({ op: 'tagStop', id: 'in' }));
    for (const ns of this.fixedIpsByNamespace(this.o.senders).keys())
      outboundLogs.push(await this.vmProbes.get(ns)!.call<TaggedSendLog>({ op: 'tagStop', id: 'out' }));
    await new Promise((r) => setTimeout(r, 200));
    await this.collect();
    return {
      inboundLogs,
      inboundRecords: this.inboundRecords,
      outboundLogs,
      outboundRecords: this.outboundRecords,
    };
  }

  close(): void {
    this.ext.close();
    for (const p of this.vmProbes.values()) p.close();
  }
}
