import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NATIVE_DIR } from '../../paths.js';
import { LineChannel, type ChannelSpec } from './line-channel.js';

/**
 * The compiled applier (native/nft-apply.c), which `npm run build` puts in dist/native.
 */
export const NFT_APPLY_HELPER = join(NATIVE_DIR, 'sfip-nft-apply');

/**
 * Each line is one kernel transaction (a line holding several commands separated by `;` commits all or nothing,
 * checked here). The marker lists a table that cannot exist: libnftables answers "Error: No such file or
 * directory", the command, then a line of carets.
 *
 * The process is sfip's applier when it is built: libnftables fed by buffered reads. `nft -i` (the fallback) reads
 * through libedit, a read(2) per byte, and keeps every line in a history it walks on each new line: per
 * transaction, 1.1 ms of CPU growing with every line carried, against a flat 0.25 ms (docs/nftables.md).
 */
export function nftChannelSpec(
  helper: string | null = existsSync(NFT_APPLY_HELPER) ? NFT_APPLY_HELPER : null,
): ChannelSpec {
  const marker = (token: string) => `list table ip ${token}`;
  const markerLines = { before: 1, after: 1 };
  if (helper) return { file: helper, label: 'nft', args: [], marker, markerLines };
  // nft -i loads $HOME/.nft.history at start and saves it on exit: a HOME that does not exist keeps every
  // channel from reading (and growing) the history of all the channels before it.
  return { file: 'nft', args: ['-i'], marker, markerLines, env: { HOME: '/nonexistent' } };
}

/**
 * `ip -force -batch -` runs each line as it arrives and goes on after a failure (without -force, ip would exit).
 * The marker shows a device that cannot exist: `Device "<token>" does not exist.` then "Command failed -:N".
 */
export const IP_CHANNEL: ChannelSpec = {
  file: 'ip',
  args: ['-force', '-batch', '-'],
  marker: (token) => `link show dev ${token}`,
  markerLines: { before: 0, after: 1 },
};

/**
 * The ip process that answers reads (NetnsChannels.ipRead). -j: a show command answers with one JSON document on
 * one line, flushed before the next command runs (LineChannel.read); -d adds the details that the eBPF backend's
 * device read needs. Neither changes what the marker prints (nothing on stdout). A command line of its own also
 * tells it apart from the channel that changes the kernel (the crash suite kills the agent while that one works).
 */
export const IP_READ_CHANNEL: ChannelSpec = { ...IP_CHANNEL, args: ['-j', '-d', '-force', '-batch', '-'] };

/**
 * Above this size a change goes through a process of its own (`nft -f`), as full rebuilds always do. Why a limit:
 * `nft -i` executes a last line without its newline when its input ends (sfip-nft-apply drops it), so a request
 * cut short by a SIGKILLed agent could commit a prefix of its statements. Requests are serialised, so the socket
 * to the tool is empty when one is written, and one this size fits its buffer (208 KiB by default) in one
 * non-blocking write: it arrives whole or not at all. (A restarted agent reads the kernel in full anyway, and
 * would repair a prefix.)
 */
export const CHANNEL_MAX_BYTES = 64 * 1024;

/**
 * One nft and one ip channel per namespace for changes, and one more ip process for reads, each started on first
 * use and kept for the agent's life. A channel whose process died is started again by its next request.
 */
export class NetnsChannels {
  private readonly channels = new Map<string, LineChannel>();

  constructor(private readonly nftSpec: ChannelSpec = nftChannelSpec()) {}

  /** One nft transaction: the statements of `batch` (one per line) joined into one line. */
  nft(namespace: string | null, batch: string): Promise<void> {
    const statements = batch.split('\n').filter((l) => l.trim() !== '');
    return this.channel('nft', this.nftSpec, namespace).request(statements.join('; '));
  }

  /** `ip -batch` lines, each applied as it arrives. */
  ip(namespace: string | null, batch: string): Promise<void> {
    return this.channel('ip', IP_CHANNEL, namespace).request(batch);
  }

  /**
   * The answer of one `ip -j -d` show command (`route show ...`, `address show`) in the namespace, through a
   * long-lived ip process of its own: a process start saved per read. Not the channel that writes: a resync's read
   * of a large router (100,000 local routes, about 10 MB of JSON) held every delta's route change queued behind it
   * for most of a second (churn at 1 × 100,000: a stall at each periodic resync). Fails as the command would
   * (ChannelError, with its stderr).
   */
  ipRead(namespace: string | null, command: string): Promise<string> {
    return this.channel('ip-read', IP_READ_CHANNEL, namespace).read(command);
  }

  /**
   * Starts the namespace's ip channel ahead of need (a marker alone, no command), so that the first change that
   * uses it neither waits for a process to start nor, before it has settled, lacks its /proc/<pid>/net (see
   * procNet). A running channel is left as it is. Never fails: a later request reports what is wrong.
   */
  warm(namespace: string | null): void {
    const channel = this.channel('ip', IP_CHANNEL, namespace);
    if (!channel.alive) channel.request('').catch(() => undefined);
  }

  /**
   * The namespace's /proc/<pid>/net, through a channel process that lives in it, or null when none has settled
   * there. Lets the agent read the namespace's conntrack table without starting a process.
   */
  procNet(namespace: string | null): string | null {
    if (namespace === null) return '/proc/self/net';
    for (const tool of ['nft', 'ip']) {
      const channel = this.channels.get(`${tool} ${namespace}`);
      const pid = channel?.settledPid;
      if (channel && pid !== undefined && channel.sameNamespace()) return `/proc/${pid}/net`;
    }
    return null;
  }

  /** How many processes the channels of a namespace have started (tests: changes share one). */
  starts(namespace: string | null): number {
    return ['nft', 'ip', 'ip-read'].reduce(
      (n, tool) => n + (this.channels.get(`${tool} ${namespace ?? ''}`)?.starts ?? 0),
      0,
    );
  }

  /**
   * Ends the channels whose namespace was deleted (or replaced under its name): their processes would otherwise
   * keep the dead namespace, and whatever is in it, alive.
   */
  sweep(): void {
    for (const [key, channel] of this.channels) {
      if (!channel.alive || !channel.sameNamespace()) {
        channel.close();
        this.channels.delete(key);
      }
    }
  }

  /** Ends the channels of a namespace (its router went away), or all of them. */
  close(namespace?: string | null): void {
    for (const [key, channel] of this.channels) {
      if (namespace === undefined || key.endsWith(` ${namespace ?? ''}`)) {
        channel.close();
        this.channels.delete(key);
      }
    }
  }

  private channel(tool: string, spec: ChannelSpec, namespace: string | null): LineChannel {
    const key = `${tool} ${namespace ?? ''}`;
    let channel = this.channels.get(key);
    if (!channel) {
      channel = new LineChannel(spec, namespace);
      this.channels.set(key, channel);
    }
    return channel;
  }
}

/** The agent's channels: one set per process, shared by every backend that talks to the kernel. */
export const sharedChannels = new NetnsChannels();
