import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  hostRoutesOfRouter,
  routersOfNodeKey,
  type IPv4,
  type Router,
  type View,
} from '../../model/index.js';
import type { Store } from '../../store/index.js';
import { makeDirectories } from '../../fs/make-directories.js';
import { renderBirdConfig, sessionName, type BgpSession } from './bird-config.js';
import { BirdProcess, type ProtocolState } from './bird-process.js';
import { HostRouteTable, type HostRoute } from './host-route-table.js';
import { BgpFence } from './bgp-fence.js';

export interface BgpAgentOptions {
  /** The namespace BIRD runs in and the host-route table lives in; null: the host's own. */
  readonly namespace: string | null;
  /** BGP router id (a dotted-quad address of this node). */
  readonly routerId: IPv4;
  /**
   * The next hop announced: `gateway` (the router's gateway IP, neutron-dynamic-routing's choice) or an address
   * of this node, for nodes where the router's gateway address is not configured.
   */
  readonly nextHop: 'gateway' | IPv4;
  /** Kernel table for the host routes. Default 4242. */
  readonly kernelTable?: number;
  /** Where BIRD's configuration, control socket, status.json and bgp.prom live. */
  readonly runDir: string;
  /** BFD with every peer (they must run it too). Default false. */
  readonly bfd?: boolean;
  /**
   * Routed hot standby: this node also holds the translation of routers scheduled to other nodes and announces
   * their floating IPs with a longer AS path, which peers use only once the owner's route is gone (its BGP
   * session down: BFD, ~300 ms), before its lease even expires. Default false.
   */
  readonly standby?: boolean;
}

export interface BgpSessionStatus {
  readonly peerId: string;
  readonly peerIp: IPv4;
  readonly established: boolean;
  /** BIRD's own words: Established, or why not (Active, Connect, Idle, with its last error). */
  readonly state: string;
}

export interface BgpStatus {
  /** Whether this node may announce now (it holds its lease). */
  readonly announcing: boolean;
  readonly routes: number;
  /** Of those, the standby routes (routers of other nodes, announced with a longer AS path). */
  readonly standbyRoutes: number;
  readonly sessions: readonly BgpSessionStatus[];
  readonly speakerRestarts: number;
  /** Whether BIRD was left running by a previous agent and adopted by this one (graceful agent restart). */
  readonly speakerAdopted: boolean;
  /** The last failure writing routes or configuring BIRD; absent when the last attempt worked. */
  readonly error?: string;
}

interface Desired {
  readonly routes: Map<string, HostRoute>;
  readonly sessions: BgpSession[];
}

/**
 * Announces by BGP the floating IPs of the routers this node owns. It follows the store (as the agent does) and
 * keeps two things equal to it: the kernel table of host routes (a /32 per ACTIVE floating IP with a fixed port,
 * of every owned router whose gateway network a speaker covers) and BIRD's sessions (every peer of every speaker,
 * kept up whether or not this node owns routers, so that a takeover needs no new session). While `mayAnnounce`
 * is false (the lease could have expired) the table is emptied: BIRD withdraws every route. The dataplane does
 * not depend on it: a failed session leaves floating IPs ACTIVE, and the status says the advertisement failed.
 */
export class BgpAnnouncer {
  private readonly bird: BirdProcess;
  private readonly table: HostRouteTable;
  private readonly fence: BgpFence;
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | undefined;
  private syncing: Promise<void> | undefined;
  private again = false;
  private lastSeq = 0;
  private announcing = false;
  private routes = 0;
  private standbyRoutes = 0;
  private sessions: BgpSession[] = [];
  private states: ProtocolState[] = [];
  private error: string | undefined;
  private lastEstablished = new Map<string, boolean>();

  constructor(
    private readonly options: BgpAgentOptions & {
      readonly store: Store;
      readonly host: string;
      readonly log: Logger;
      readonly mayAnnounce: () => boolean;
      /** performance.now() time before which the lease cannot have expired (the lease fence's deadline). */
      readonly fenceDeadline: () => number;
      readonly ttlSeconds: number;
      /**
       * Whether this node's dataplane carries the router now. A router that just moved here keeps the ACTIVE
       * status its old node wrote: it is announced only once this node has programmed it.
       */
      readonly programmedHere: (routerId: string) => boolean;
      /** Whether this node holds the translation of another node's router now (options.standby). */
      readonly standingBy: (routerId: string) => boolean;
    },
  ) {
    this.bird = new BirdProcess({
      namespace: options.namespace,
      runDir: options.runDir,
      log: options.log,
      survivesParent: true,
    });
    this.table = new HostRouteTable(options.namespace, options.kernelTable ?? 4242);
    // With BFD the peer notices silence within 300 ms: close that (and a margin) before the deadline. Rewritten
    // at every renewal (they come every TTL/6): the fence then stays open as long as the lease allows after the
    // agent dies, which is the time a restarting agent has to come back without its routes being withdrawn.
    this.fence = new BgpFence(options.namespace, options.bfd ? 400 : 0, (options.ttlSeconds * 1000) / 12);
  }

  /** After each lease renewal: BGP and BFD packets may leave until the new deadline. */
  renewed(): void {
    this.fence.extend(this.options.fenceDeadline()).catch((error: Error) => {
      this.options.log.warn({ err: error.message }, 'cannot renew the BGP fence');
    });
  }

  async start(): Promise<void> {
    this.lastSeq = (await this.options.store.changesSince(Number.MAX_SAFE_INTEGER, 0)).latest;
    await this.sync();
    this.unsubscribe = this.options.store.onChange(() => void this.sync());
    // Writes by other processes (API servers, other nodes' schedulers) arrive through the change feed.
    this.timers.push(setInterval(() => void this.poll(), 250));
    // The lease can run out without any store change: check often, it is a comparison.
    this.timers.push(
      setInterval(() => {
        if (this.options.mayAnnounce() !== this.announcing) void this.sync();
      }, 100),
    );
    this.timers.push(
      setInterval(() => {
        void this.refreshStatus();
        // A failed pass (BIRD not starting, the namespace missing, the kernel refusing) is tried again.
        if (this.error !== undefined) void this.sync();
      }, 1000),
    );
    for (const t of this.timers) t.unref();
  }

  /**
   * Leaves BIRD running, its sessions up and the kernel table as it is, as the dataplane is: a restarted agent
   * adopts BIRD and corrects the table on its first pass, and the peers see nothing. If no agent comes back, the
   * BGP fence closes before the lease can expire and the peers drop the routes (see bgp-fence.ts).
   */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const t of this.timers) clearInterval(t);
    await this.syncing;
    await this.bird.release();
  }

  /** Reads the store and makes the kernel table and BIRD's sessions follow it. One pass at a time. */
  sync(): Promise<void> {
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    })().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  status(): BgpStatus {
    return {
      announcing: this.announcing,
      routes: this.routes,
      standbyRoutes: this.standbyRoutes,
      sessions: this.sessions.map((s) => {
        const state = this.states.find((p) => p.name === s.name);
        const established = state?.info.startsWith('Established') ?? false;
        return {
          peerId: s.peerId,
          peerIp: s.peerIp,
          established,
          state: state ? `${state.state} ${state.info}`.trim() : 'unknown (BIRD not answering)',
        };
      }),
      speakerRestarts: this.bird.restarts,
      speakerAdopted: this.bird.adopted,
      ...(this.error !== undefined && { error: this.error }),
    };
  }

  /** For tests: crash the speaker as a fault would. */
  killSpeaker(): void {
    this.bird.kill();
  }

  private async poll(): Promise<void> {
    const batch = await this.options.store.changesSince(this.lastSeq).catch(() => undefined);
    if (!batch || batch.latest === this.lastSeq) return;
    this.lastSeq = batch.latest;
    await this.sync();
  }

  private async pass(): Promise<void> {
    const mayAnnounce = this.options.mayAnnounce();
    let desired: Desired;
    try {
      desired = await this.options.store.read((view) => this.desired(view, mayAnnounce));
    } catch (error) {
      this.fail('cannot read the store', error);
      return;
    }
    try {
      // The table first: a BIRD left by a previous agent that lost its lease meanwhile still holds that agent's
      // routes, and must not announce them again when the fence below lets its sessions come back up.
      const { added, removed } = await this.table.apply(desired.routes);
      // The fence table exists before BIRD first starts, so that no session opens outside it.
      await this.fence.extend(this.options.fenceDeadline());
      if (desired.sessions.length > 0 || this.bird.running) {
        await this.bird.configure(
          renderBirdConfig({
            routerId: this.options.routerId,
            kernelTable: this.table.table,
            sessions: desired.sessions,
            bfd: this.options.bfd ?? false,
            nextHop: 'keep',
          }),
        );
      }
      this.sessions = desired.sessions;
      if (added + removed > 0 || mayAnnounce !== this.announcing) {
        this.options.log.info(
          { announced: desired.routes.size, added, removed, announcing: mayAnnounce },
          mayAnnounce
            ? 'BGP host routes updated'
            : 'BGP host routes withdrawn: this node cannot prove it holds its lease',
        );
      }
      this.announcing = mayAnnounce;
      this.routes = desired.routes.size;
      this.standbyRoutes = [...desired.routes.values()].filter((r) => r.standby).length;
      this.error = undefined;
    } catch (error) {
      this.fail('cannot update the BGP announcement', error);
    }
  }

  /**
   * The owner's routes: the routers scheduled to this node that it has programmed as owner. A standby's: routers
   * whose translation it holds as a standby (scheduled to another node, or to this one a moment ago). Both only
   * while the lease fence is open: a node that cannot prove it holds its lease may have a stale view of the
   * store, so it announces nothing, standby included.
   */
  private desired(view: View, mayAnnounce: boolean): Desired {
    const routes = new Map<string, HostRoute>();
    const { host, nextHop } = this.options;
    const add = (router: Router, standby: boolean) => {
      for (const r of hostRoutesOfRouter(view, router)) {
        routes.set(r.destination, { via: nextHop === 'gateway' ? r.nextHop : nextHop, standby });
      }
    };
    if (mayAnnounce) {
      for (const router of view.find('router', routersOfNodeKey(host))) {
        if (this.options.programmedHere(router.id)) add(router, false);
      }
      if (this.options.standby) {
        // Held as a standby (a router is either, never both): also one just scheduled here whose owner pass has
        // not finished, so that its standby route stays until the owner route replaces it in place (withdrawing
        // it in between cut traffic for the length of that pass: 50-80 ms measured).
        for (const router of view.list('router')) {
          if (router.node && this.options.standingBy(router.id)) add(router, true);
        }
      }
    }
    const sessions = new Map<string, BgpSession>();
    for (const speaker of view.list('bgpspeaker')) {
      if (speaker.networkIds.length === 0) continue;
      for (const peerId of speaker.peerIds) {
        const peer = view.get('bgppeer', peerId);
        if (!peer || sessions.has(peer.peerIp)) continue;
        sessions.set(peer.peerIp, {
          name: sessionName(peer.peerIp),
          peerId: peer.id,
          peerIp: peer.peerIp,
          remoteAs: peer.remoteAs,
          localAs: speaker.localAs,
          password: peer.authType === 'md5' ? peer.password : null,
        });
      }
    }
    return { routes, sessions: [...sessions.values()].sort((a, b) => a.name.localeCompare(b.name)) };
  }

  /** Asks BIRD for its sessions' states, logs changes and writes the status files (every second, and for tests). */
  async refreshStatus(): Promise<BgpStatus> {
    try {
      this.states = this.bird.running ? await this.bird.protocols() : [];
    } catch {
      this.states = [];
    }
    const status = this.status();
    for (const s of status.sessions) {
      if (this.lastEstablished.get(s.peerIp) === s.established) continue;
      this.lastEstablished.set(s.peerIp, s.established);
      if (s.established) this.options.log.info({ peer: s.peerIp }, 'BGP session established');
      else this.options.log.warn({ peer: s.peerIp, state: s.state }, 'BGP session not established');
    }
    this.writeStatus(status);
    return status;
  }

  /** status.json for `cat`, and bgp.prom in Prometheus' text format for node_exporter's textfile collector. */
  private writeStatus(status: BgpStatus): void {
    const dir = this.options.runDir;
    const metrics = [
      '# HELP sfip_bgp_session_established 1 when the BGP session with the peer is Established.',
      '# TYPE sfip_bgp_session_established gauge',
      ...status.sessions.map(
        (s) =>
          `sfip_bgp_session_established{peer="${s.peerIp}",peer_id="${s.peerId}"} ${s.established ? 1 : 0}`,
      ),
      '# HELP sfip_bgp_announced_routes Host routes this node announces.',
      '# TYPE sfip_bgp_announced_routes gauge',
      `sfip_bgp_announced_routes ${status.routes}`,
      "# HELP sfip_bgp_standby_routes Of those, standby routes (other nodes' routers, longer AS path).",
      '# TYPE sfip_bgp_standby_routes gauge',
      `sfip_bgp_standby_routes ${status.standbyRoutes}`,
      '# HELP sfip_bgp_speaker_restarts_total Times BIRD was started again after it exited.',
      '# TYPE sfip_bgp_speaker_restarts_total counter',
      `sfip_bgp_speaker_restarts_total ${status.speakerRestarts}`,
      '',
    ].join('\n');
    try {
      makeDirectories(dir);
      for (const [name, text] of [
        ['status.json', `${JSON.stringify(status, null, 2)}\n`],
        ['bgp.prom', metrics],
      ] as const) {
        writeFileSync(join(dir, `${name}.tmp`), text);
        renameSync(join(dir, `${name}.tmp`), join(dir, name));
      }
    } catch (error) {
      this.options.log.warn({ err: (error as Error).message, dir }, 'cannot write the BGP status');
    }
  }

  private fail(what: string, error: unknown): void {
    const message = `${what}: ${(error as Error).message}`;
    if (message !== this.error) this.options.log.error({ err: (error as Error).message }, what);
    this.error = message;
  }
}
