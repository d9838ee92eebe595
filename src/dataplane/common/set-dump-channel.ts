import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NATIVE_DIR } from '../../paths.js';
import { setRef, spawnDyingWithParent } from '../../exec/spawn.js';
import { isIPv4 } from '../../model/ipv4.js';
import { parseNamespaceName } from '../../model/names.js';
import type { ConntrackDeleter, ConntrackMatch } from './conntrack.js';
import type { ConntrackUsage } from './conntrack-usage.js';

/** How long one read may take before the helper is ended (100,000 elements take well under a second). */
const REQUEST_TIMEOUT_MS = 30_000;

/** Pairs per ctdel request: the helper reads at most 64 words a line (NETNS, ctdel, then FIELD ADDR pairs). */
const CTDEL_PAIRS = 31;

const FIELDS = new Set(['src', 'rsrc', 'dst']);

/** Longer than any status line (". CODE MESSAGE" names at most a table). */
const TAIL = 1024;

/** A read the helper answered with an error: `code` as its exit codes (2: no such table, set or namespace). */
export class SetDumpError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'SetDumpError';
  }
}

interface Pending {
  readonly resolve: (text: string) => void;
  readonly reject: (error: Error) => void;
}

/**
 * One long-lived `sfip-nft-set-dump --serve` for every namespace (it enters each with setns): reading the
 * counters of 100 routers then starts no process. Before, each read was `setpriv … ip netns exec NS
 * sfip-nft-set-dump`: two per router and scrape with conntrack, forked from a daemon of hundreds of MB on its event
 * loop, which held API requests for seconds per scrape (issue 15 item 4).
 *
 * Requests are serialised; the answer is the element lines up to a status line (". 0", or ". CODE MESSAGE").
 * A helper that exits fails the read in progress and is started again by the next one.
 */
export class SetDumpChannel implements ConntrackDeleter {
  private child: ChildProcess | undefined;
  private pending: Pending | undefined;
  private chunks: string[] = [];
  /** The current answer's length so far, and its last characters (where the status line ends up). */
  private length = 0;
  private tail = '';
  private queue: Promise<unknown> = Promise.resolve();
  /** Processes started so far (tests check that reads share one). */
  starts = 0;

  constructor(private readonly helper: string) {}

  /** The element lines of `sets` of table ip `table` in `namespace` (null: the helper's own namespace). */
  async dump(namespace: string | null, table: string, sets: readonly string[]): Promise<string> {
    const words = [namespace === null ? '-' : parseNamespaceName(namespace), table, ...sets];
    // The request is one line of words separated by spaces: a word holding either would be another request.
    if (words.some((w) => !/^[\w.:-]+$/.test(w)))
      throw new SetDumpError(`not a set dump request: ${words.join(' ')}`, 1);
    return this.request(`${words.join(' ')}\n`);
  }

  /**
   * The namespace's conntrack table use: /proc/sys/net read from inside it by the helper, where a scrape used to
   * start `ip netns exec NS cat` for each namespace.
   */
  async conntrack(namespace: string | null): Promise<ConntrackUsage> {
    const words = [namespace === null ? '-' : parseNamespaceName(namespace), 'conntrack'];
    const [count, max] = (await this.request(`${words.join(' ')}\n`))
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    if (count === undefined || max === undefined || !Number.isFinite(count) || !Number.isFinite(max))
      throw new Error(`Cannot read conntrack usage in ${namespace ?? 'the host namespace'}`);
    return { count, max };
  }

  /**
   * Deletes the namespace's IPv4 conntrack entries that match any of the pairs (the helper dumps the table over
   * ctnetlink and deletes each match by its tuple), answering how many went: where a cleanup used to start
   * `conntrack -D` per address and direction. A bad field or address is refused before anything is sent.
   */
  async deleteConntrack(namespace: string | null, matches: readonly ConntrackMatch[]): Promise<number> {
    const name = namespace === null ? '-' : parseNamespaceName(namespace);
    for (const { field, address } of matches) {
      if (!FIELDS.has(field)) throw new SetDumpError(`not a conntrack field (src, rsrc or dst): ${field}`, 1);
      // Canonical dotted quads only (no leading zeros, as inet_pton reads them): a bad one never reaches the helper.
      if (!isIPv4(address)) throw new SetDumpError(`not an IPv4 address: ${address}`, 1);
    }
    let deleted = 0;
    for (let i = 0; i < matches.length; i += CTDEL_PAIRS) {
      const words = matches.slice(i, i + CTDEL_PAIRS).flatMap((m) => [m.field, m.address]);
      const answer = (await this.request(`${name} ctdel ${words.join(' ')}\n`)).trim();
      const count = Number(answer);
      if (!/^\d+$/.test(answer) || !Number.isSafeInteger(count))
        throw new SetDumpError(`the set dump helper answered ctdel with '${answer}'`, 3);
      deleted += count;
    }
    return deleted;
  }

  /** The running helper's process id (tests end it to see it started again). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the helper; the next read starts another. */
  close(): void {
    const child = this.child;
    this.child = undefined;
    child?.stdin?.end();
    child?.kill();
    this.fail(new SetDumpError('the set dump helper was closed', 3));
  }

  private request(line: string): Promise<string> {
    const result = this.queue.then(() => this.send(line));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private send(line: string): Promise<string> {
    const child = this.child ?? this.start();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      this.pending = {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.reset();
      setRef(child, true);
      child.stdin?.write(line);
    });
  }

  private start(): ChildProcess {
    const child = spawnDyingWithParent([this.helper, '--serve'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.starts++;
    this.child = child;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => this.onData(text));
    // The helper also explains a failed dump on stderr; the status line carries what the caller needs.
    child.stderr?.on('data', () => undefined);
    child.stdin?.on('error', () => undefined);
    const exited = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.fail(new SetDumpError(`the set dump helper ${why}`, 3));
    };
    child.on('error', (error) => exited(`failed: ${error.message}`));
    child.on('close', (code, signal) => exited(`exited (${signal ?? `code ${code}`})`));
    setRef(child, false);
    return child;
  }

  private onData(text: string): void {
    if (!this.pending) return;
    this.chunks.push(text);
    this.length += text.length;
    this.tail = (this.tail + text).slice(-TAIL);
    // The status line is the answer's last line. Element lines start with a set name, never with ". ". Only the
    // tail is searched: joining 6 MB of chunks on each one that arrives would cost more than the read.
    if (!text.endsWith('\n')) return;
    const at = this.tail.lastIndexOf('\n', this.tail.length - 2) + 1;
    const whole = at > 0 || this.length === this.tail.length;
    if (!whole || !this.tail.startsWith('. ', at)) return;
    const status = this.tail.slice(at + 2, -1);
    const body = this.chunks.join('').slice(0, this.length - (this.tail.length - at));
    const pending = this.pending;
    this.pending = undefined;
    this.reset();
    if (this.child) setRef(this.child, false);
    const space = status.indexOf(' ');
    const code = Number(space < 0 ? status : status.slice(0, space));
    if (code === 0) pending.resolve(body);
    else pending.reject(new SetDumpError(status.slice(space + 1), Number.isFinite(code) ? code : 3));
  }

  private reset(): void {
    this.chunks = [];
    this.length = 0;
    this.tail = '';
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    this.reset();
    pending?.reject(error);
  }
}

/**
 * The compiled set dumper (native/nft-set-dump.c), which `npm run build` puts in dist/native.
 */
export const SET_DUMP_HELPER = join(NATIVE_DIR, 'sfip-nft-set-dump');

let shared: SetDumpChannel | null | undefined;

/**
 * The agent's one long-lived dumper, for the counters and the conntrack use of every namespace (see
 * SetDumpChannel); null when the helper is not built.
 */
export function sharedSetDump(): SetDumpChannel | null {
  shared ??= existsSync(SET_DUMP_HELPER) ? new SetDumpChannel(SET_DUMP_HELPER) : null;
  return shared;
}
