import { LineChannel, type ChannelSpec } from './line-channel.js';

/**
 * nft reads commands line by line in interactive mode; each line is one kernel transaction (a line holding
 * several commands separated by `;` commits all or nothing, checked here). The marker lists a table that cannot
 * exist: nft answers "Error: No such file or directory", the command, then a line of carets.
 */
export const NFT_CHANNEL: ChannelSpec = {
  file: 'nft',
  args: ['-i'],
  marker: (token) => `list table ip ${token}`,
  markerLines: { before: 1, after: 1 },
};

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
 * Above this size a change goes through a process of its own (`nft -f`), as full rebuilds always do. Why a limit:
 * nft executes a last line without its newline when its input ends, so a request cut short by a SIGKILLed agent
 * could commit a prefix of its statements. Requests are serialised, so the socket to the tool is empty when one is
 * written, and one this size fits its buffer (208 KiB by default) in one non-blocking write: it arrives whole or
 * not at all. (A restarted agent reads the kernel in full anyway, and would repair a prefix.)
 */
export const CHANNEL_MAX_BYTES = 64 * 1024;

/**
 * One nft and one ip channel per namespace, started on first use and kept for the agent's life. A channel
 * whose process died is started again by its next request.
 */
export class NetnsChannels {
  private readonly channels = new Map<string, LineChannel>();

  /** One nft transaction: the statements of `batch` (one per line) joined into one line. */
  nft(namespace: string | null, batch: string): Promise<void> {
    const statements = batch.split('\n').filter((l) => l.trim() !== '');
    return this.channel('nft', NFT_CHANNEL, namespace).request(statements.join('; '));
  }

  /** `ip -batch` lines, each applied as it arrives. */
  ip(namespace: string | null, batch: string): Promise<void> {
    return this.channel('ip', IP_CHANNEL, namespace).request(batch);
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
    return ['nft', 'ip'].reduce(
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
