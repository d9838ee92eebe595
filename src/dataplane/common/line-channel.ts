import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { parseNamespaceName } from '../../model/names.js';
import { commandLine } from '../../exec/run.js';
import { setRef, spawnDyingWithParent } from '../../exec/spawn.js';

/**
 * A long-lived tool process (`nft -i`, `ip -force -batch -`) inside a namespace, fed requests over a pipe, so that
 * a change costs a write instead of a process start (measured here: 0.2 ms per nft transaction through the pipe,
 * 16 ms for `setpriv … ip netns exec … nft -f -` on an idle machine, more under load).
 *
 * Neither tool says when a request is done, and both print nothing on success. So each request is followed by a
 * marker: a command that always fails, naming a token that no request contains. Both tools write errors to an
 * unbuffered stderr in order, so whatever stderr holds before the marker's error belongs to the request, and an
 * empty text means it succeeded. Requests are serialised. A process that exits fails its pending request and is
 * started again by the next one; the caller resynchronises from a fresh read, since it cannot know how much of
 * the failed request the kernel took.
 *
 * A tool that prints each command's answer on stdout and flushes it before running the next command (`ip -j`
 * does, one JSON document per command and line) can also answer reads: the answer is what stdout holds when the
 * marker's error has arrived, and it is complete once it ends its line (see `read`).
 */
export interface ChannelSpec {
  readonly file: string;
  readonly args: readonly string[];
  /** A command that fails and names `token` in its error. */
  readonly marker: (token: string) => string;
  /** Lines the marker's error prints before and after the line naming the token. */
  readonly markerLines: { readonly before: number; readonly after: number };
  /** What errors call the tool (default: `file`): sfip's nft applier answers for nft. */
  readonly label?: string;
  /** Environment variables set for the tool, over the agent's own. */
  readonly env?: Readonly<Record<string, string>>;
}

/** How long one request may take before its process is ended (a 100,000-element change takes about a second). */
const REQUEST_TIMEOUT_MS = 60_000;

export class ChannelError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}

interface Pending {
  readonly token: string;
  /** A read: its answer is one line on stdout. */
  readonly read: boolean;
  readonly stdout: Buffer[];
  /** The marker came back without errors; a read still waits for the end of its line. */
  succeeded: boolean;
  readonly resolve: (stdout: string) => void;
  readonly reject: (error: Error) => void;
}

export class LineChannel {
  private child: ChildProcess | undefined;
  private stderr = '';
  private pending: Pending | undefined;
  private queue: Promise<void> = Promise.resolve();
  private sequence = 0;
  /** The namespace the running process entered (device and inode of its bind mount). */
  private identity = '';
  private answered = false;
  /** Processes started so far (tests check that requests share one). */
  starts = 0;

  constructor(
    private readonly spec: ChannelSpec,
    private readonly namespace: string | null,
  ) {}

  private get label(): string {
    return this.spec.label ?? this.spec.file;
  }

  /** Sends one request (lines of the tool's own language, each a complete command) and waits for it. */
  request(text: string): Promise<void> {
    return this.enqueue(() => this.send(text, false)).then(() => undefined);
  }

  /**
   * Runs one command that prints its answer as one line on stdout (`ip -j ... show`), and returns that line. Fails
   * as a request does when the command fails (its error on stderr).
   */
  read(command: string): Promise<string> {
    if (command.includes('\n'))
      return Promise.reject(new Error(`a ${this.label} channel read is one command: ${command}`));
    return this.enqueue(() => this.send(command, true));
  }

  private enqueue<T>(send: () => Promise<T>): Promise<T> {
    const result = this.queue.then(send);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Ends the process; a later request starts a new one. */
  close(): void {
    const child = this.child;
    this.child = undefined;
    child?.stdin?.end();
    child?.kill();
    const pending = this.pending;
    this.pending = undefined;
    this.stderr = '';
    pending?.reject(new ChannelError(`${this.label} channel closed (no answer, or shut down)`, ''));
  }

  get alive(): boolean {
    return this.child !== undefined;
  }

  /**
   * The process id of the tool, once it has answered a request (so it has entered the namespace: before that,
   * /proc/<pid>/net could still show the namespace it was started from). Undefined otherwise.
   */
  get settledPid(): number | undefined {
    return this.child && this.answered ? this.child.pid : undefined;
  }

  private send(text: string, read: boolean): Promise<string> {
    // A process inside a namespace keeps it alive after `ip netns del`: if the name now points elsewhere (or
    // nowhere), the old process would write into a namespace nobody sees. A stat per request tells.
    if (this.child && this.namespaceIdentity() !== this.identity) this.close();
    const child = this.child ?? this.start();
    const token = `sfipsync${(this.sequence = (this.sequence + 1) % 10_000_000)}`;
    return new Promise<string>((resolve, reject) => {
      // A tool that never answers (wedged, or an answer this parser does not recognise) must not hold the
      // router's passes forever: the process is ended and the request fails, so the agent resyncs.
      const timer = setTimeout(() => {
        if (this.pending?.token !== token) return;
        this.close();
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      this.pending = {
        token,
        read,
        stdout: [],
        succeeded: false,
        resolve: (stdout) => {
          clearTimeout(timer);
          resolve(stdout);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      setRef(child, true);
      const body = text.endsWith('\n') ? text : `${text}\n`;
      child.stdin?.write(`${body}${this.spec.marker(token)}\n`);
    });
  }

  private start(): ChildProcess {
    const argv = commandLine(this.spec.file, this.spec.args, this.namespace);
    const child = spawnDyingWithParent(argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', ...this.spec.env },
    });
    this.starts++;
    this.answered = false;
    this.child = child;
    this.identity = this.namespaceIdentity();
    this.stderr = '';
    // A write's commands print nothing there (nor does the marker): only a read's answer arrives.
    child.stdout?.on('data', (b: Buffer) => this.onStdout(b));
    child.stderr?.on('data', (b: Buffer) => this.onStderr(b.toString()));
    child.stdin?.on('error', () => undefined);
    child.on('error', (error) => this.onExit(child, error.message));
    child.on('close', (code, signal) => this.onExit(child, `exited (${signal ?? `code ${code}`})`));
    this.idle(child);
    return child;
  }

  private onStdout(chunk: Buffer): void {
    const pending = this.pending;
    if (!pending?.read) return;
    pending.stdout.push(chunk);
    if (pending.succeeded) this.finishRead(pending);
  }

  /**
   * A read whose marker came back clean ends with its line. The tool wrote that line before it ran the marker,
   * so most often it is already here; when the two pipes' data arrive in the other order, the rest follows.
   */
  private finishRead(pending: Pending): void {
    const last = pending.stdout.at(-1);
    if (last === undefined || last[last.length - 1] !== 0x0a) return;
    this.settle(pending);
    pending.resolve(Buffer.concat(pending.stdout).toString());
  }

  private settle(pending: Pending): void {
    if (this.pending !== pending) return;
    this.pending = undefined;
    this.answered = true;
    if (this.child) this.idle(this.child);
  }

  private onStderr(text: string): void {
    this.stderr += text;
    const pending = this.pending;
    if (!pending) return;
    // The marker's error names the token; what came before it is the request's own output.
    const lines = this.stderr.split('\n');
    const complete = lines.slice(0, -1); // the last piece is an unfinished line (or '')
    const at = complete.findIndex((l) => l.includes(pending.token));
    const { before, after } = this.spec.markerLines;
    if (at < 0 || complete.length < at + 1 + after) return;
    this.stderr = [...complete.slice(at + 1 + after), lines.at(-1)].join('\n');
    const errors = complete
      .slice(0, Math.max(0, at - before))
      .filter((l) => l.trim() !== '')
      .join('\n');
    if (errors === '' && pending.read) {
      pending.succeeded = true;
      this.finishRead(pending);
      return;
    }
    this.settle(pending);
    if (errors === '') pending.resolve('');
    else {
      // Part of a failed read's answer could still be on its way, and would be taken for the next one's: the
      // process goes, and the next request starts a clean one (reads rarely fail: a device or table is missing).
      if (pending.read) this.close();
      pending.reject(
        new ChannelError(
          `${this.label} ${pending.read ? 'could not read' : 'refused the change'}: ${errors}`,
          errors,
        ),
      );
    }
  }

  private onExit(child: ChildProcess, why: string): void {
    if (this.child !== child) return; // closed on purpose; close() settled its request
    this.child = undefined;
    const pending = this.pending;
    this.pending = undefined;
    const stderr = this.stderr.trim();
    this.stderr = '';
    pending?.reject(
      new ChannelError(
        `${this.label} in ${this.namespace ?? 'the host namespace'} ${why}${stderr ? `: ${stderr}` : ''}`,
        stderr,
      ),
    );
  }

  /** Whether the namespace's name still points at the namespace the process entered. */
  sameNamespace(): boolean {
    return this.child !== undefined && this.namespaceIdentity() === this.identity;
  }

  private namespaceIdentity(): string {
    if (this.namespace === null) return 'host';
    try {
      const st = statSync(`/run/netns/${parseNamespaceName(this.namespace)}`);
      return `${st.dev}:${st.ino}`;
    } catch {
      return 'missing';
    }
  }

  /** An idle channel must not keep the process alive on its own (tests, CLI). */
  private idle(child: ChildProcess): void {
    setRef(child, false);
  }
}
