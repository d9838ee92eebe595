import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Dataplane } from '../dataplane/index.js';
import { SfipError, type BackendName, type Router } from '../model/index.js';
import type { AgentRegistration, AgentRegistry, Store } from '../store/index.js';
import { Agent } from './agent.js';
import { LeaseFence, type LeaseFenceOptions } from './lease-fence.js';
import { Scheduler } from './scheduler.js';
import { BgpAnnouncer, type BgpAgentOptions } from './bgp/bgp-announcer.js';
import { makeDirectories } from '../fs/make-directories.js';
import { PRIVATE_MODE, restrictIfPresent } from '../fs/private-file.js';

export interface NodeAgentOptions {
  readonly store: Store & AgentRegistry;
  /** This node's name; one live agent per name. */
  readonly host: string;
  /** Lease TTL: a dead agent's routers move this long (plus etcd's expiry check, ≤ 0.5 s) after its last renewal. */
  readonly ttlSeconds: number;
  readonly dataplaneFor: (name: BackendName) => Dataplane;
  readonly defaultBackend?: BackendName;
  readonly log: Logger;
  readonly resyncIntervalMs?: number;
  readonly garp?: boolean;
  /** Delete conntrack entries a mapping change made stale (default true; off for tests without namespaces). */
  readonly conntrackCleanup?: boolean;
  /** Where the lease id and the record of programmed routers are kept across restarts; null: memory only. */
  readonly stateDir: string | null;
  /** Prepended to every router namespace on this node, so several lab "nodes" can share one host. */
  readonly netnsPrefix?: string;
  readonly fenceMarginMs?: number;
  /** How fences are written (tests on the fake dataplane have no namespaces to write them into). */
  readonly fenceWriter?: Pick<LeaseFenceOptions, 'arm' | 'remove'>;
  /** Announce the floating IPs of this node's routers by BGP (routed mode); absent: L2 (ARP) only. */
  readonly bgp?: BgpAgentOptions;
}

/**
 * An agent on one network node: registers the node with a lease, reconciles only the routers scheduled to it,
 * fences their announcements to the lease, and takes part in rescheduling routers of dead nodes.
 * Stopping it does not revoke the lease: a restart within the TTL adopts it, and nothing moves or flaps.
 */
export class NodeAgent {
  readonly agent: Agent;
  private readonly fence: LeaseFence;
  private readonly scheduler: Scheduler;
  /** Present in routed mode. */
  readonly bgp: BgpAnnouncer | undefined;
  private registration: AgentRegistration | undefined;
  private stopped = false;
  private lastUnreachableLog = 0;

  constructor(private readonly options: NodeAgentOptions) {
    const { host, log } = options;
    this.fence = new LeaseFence({
      log,
      ttlSeconds: options.ttlSeconds,
      ...(options.fenceMarginMs !== undefined && { marginMs: options.fenceMarginMs }),
      ...options.fenceWriter,
      // Reconciles refused while the fence was closed are redone as soon as it opens, not at the next resync.
      onReopen: () => this.agent.resyncAll('lease-renewed'),
    });
    const prefix = options.netnsPrefix;
    this.agent = new Agent({
      store: options.store,
      dataplaneFor: options.dataplaneFor,
      ...(options.defaultBackend && { defaultBackend: options.defaultBackend }),
      log,
      ...(options.resyncIntervalMs !== undefined && { resyncIntervalMs: options.resyncIntervalMs }),
      ...(options.garp !== undefined && { garp: options.garp }),
      ...(options.conntrackCleanup !== undefined && { conntrackCleanup: options.conntrackCleanup }),
      programmedRoutersPath: options.stateDir ? join(options.stateDir, 'agent-routers.json') : null,
      ownsRouter: (router) => router.node === host,
      // Routed hot standby: every router scheduled to another node (any of them may fail over to this one).
      ...(options.bgp?.standby && {
        standsBy: (router: Router) => !!router.node && router.node !== host,
      }),
      ...(prefix && { localNamespace: (ns: string | null) => (ns === null ? null : `${prefix}${ns}`) }),
      guard: this.fence,
    });
    this.scheduler = new Scheduler({ store: options.store, host, ctx: this.agent.ctx, log });
    // A router programmed (or failing) here changes what is announced.
    this.agent.on('reconciled', () => void this.bgp?.sync());
    // Routes follow the same fence as ARP: announced only while this node can prove it holds its lease.
    this.bgp = options.bgp
      ? new BgpAnnouncer({
          ...options.bgp,
          store: options.store,
          host,
          log: log.child({ component: 'bgp' }),
          mayAnnounce: () => this.fence.deadline() > performance.now(),
          fenceDeadline: () => this.fence.deadline(),
          ttlSeconds: options.ttlSeconds,
          programmedHere: (routerId) => this.agent.programmedHere(routerId),
          standingBy: (routerId) => this.agent.standingBy(routerId),
        })
      : undefined;
  }

  get leaseId(): string | undefined {
    return this.registration?.leaseId;
  }

  /** Registers (refused with AgentHostInUse while another live agent holds the node), then reconciles. */
  async start(): Promise<void> {
    const adoptLeaseId = this.readLeaseFile();
    this.follow(
      await this.options.store.registerAgent({
        host: this.options.host,
        ttlSeconds: this.options.ttlSeconds,
        now: new Date().toISOString(),
        ...(adoptLeaseId && { adoptLeaseId }),
      }),
    );
    this.options.log.info(
      {
        node: this.options.host,
        lease: this.registration!.leaseId,
        ttlSeconds: this.registration!.ttlSeconds,
        adopted: this.registration!.leaseId === adoptLeaseId,
      },
      'registered this node',
    );
    this.scheduler.start();
    await this.agent.start();
    await this.bgp?.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.bgp?.stop();
    await this.scheduler.stop();
    await this.agent.stop();
    this.registration?.stop();
  }

  private follow(registration: AgentRegistration): void {
    this.registration = registration;
    this.fence.follow(registration);
    this.writeLeaseFile(registration.leaseId);
    registration.on('unreachable', (error) => {
      // Renewals are tried every TTL/6; one line per few seconds says enough.
      if (Date.now() - this.lastUnreachableLog < 5000) return;
      this.lastUnreachableLog = Date.now();
      const left = Math.round(this.fence.deadline() - performance.now());
      this.options.log.warn(
        { err: error.message, fenceClosesInMs: Math.max(0, left) },
        left > 0
          ? 'cannot renew the lease; forwarding continues, ARP fences close if this lasts'
          : 'cannot renew the lease; ARP fences are closed until etcd answers again',
      );
    });
    registration.on('renewed', () => {
      this.bgp?.renewed();
      if (this.lastUnreachableLog > 0) {
        this.lastUnreachableLog = 0;
        this.options.log.info('lease renewed again');
      }
    });
    registration.on('lost', (reason) => void this.reregister(reason));
  }

  /** The lease expired (this node was cut off for longer than the TTL): register again, then catch up. */
  private async reregister(reason: string): Promise<void> {
    this.fence.follow(undefined);
    // The fence is closed now: the announcer empties its table on this pass, without waiting for its tick.
    void this.bgp?.sync();
    this.options.log.error(
      { reason },
      'lost the lease: this node no longer announces its routers; registering again',
    );
    let delay = 250;
    while (!this.stopped) {
      try {
        const registration = await this.options.store.registerAgent({
          host: this.options.host,
          ttlSeconds: this.options.ttlSeconds,
          now: new Date().toISOString(),
        });
        // Stopped meanwhile: do not start renewing a lease nobody will stop.
        if (this.stopped) return registration.stop();
        this.follow(registration);
        this.options.log.info({ lease: this.registration!.leaseId }, 'registered again');
        this.agent.resyncAll('lease-regained');
        return;
      } catch (error) {
        const taken = error instanceof SfipError && error.type === 'AgentHostInUse';
        this.options.log.warn(
          { err: (error as Error).message },
          taken ? 'node name taken' : 'cannot register yet',
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(5000, delay * 2);
      }
    }
  }

  private leaseFile(): string | undefined {
    return this.options.stateDir ? join(this.options.stateDir, 'agent-lease.json') : undefined;
  }

  private readLeaseFile(): string | undefined {
    const path = this.leaseFile();
    if (!path) return undefined;
    try {
      const saved = JSON.parse(readFileSync(path, 'utf8')) as { host?: string; leaseId?: string };
      return saved.host === this.options.host ? saved.leaseId : undefined;
    } catch {
      return undefined;
    }
  }

  private writeLeaseFile(leaseId: string): void {
    const path = this.leaseFile();
    if (!path) return;
    try {
      makeDirectories(this.options.stateDir!);
      writeFileSync(`${path}.tmp`, JSON.stringify({ host: this.options.host, leaseId }), {
        mode: PRIVATE_MODE,
      });
      restrictIfPresent(`${path}.tmp`);
      renameSync(`${path}.tmp`, path);
    } catch (error) {
      this.options.log.warn({ err: (error as Error).message, path }, 'cannot record the lease id');
    }
  }
}
