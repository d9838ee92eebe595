/**
 * Loaded into every test file's process by scripts/test.sh (`--import`), so that no file can hang the test
 * command:
 *
 * - a file whose process is still alive some time after its tests and after-hooks finished fails, naming what
 *   kept it alive (a socket to a stopped etcd, a child process, a timer...), instead of waiting for ever;
 * - a file that runs longer than its time limit fails the same way, whatever it is stuck in.
 *
 * Node's own `--test-timeout` bounds each test; this bounds what no test owns: module top level, hooks, and the
 * wait for the event loop to drain.
 */
import { after } from 'node:test';

/** How long a finished file may take to exit (its own after-hooks run in this time too). */
const EXIT_GRACE_MS = Number(process.env.SFIP_TEST_EXIT_GRACE_MS ?? 30_000);
/** A whole file's limit unless it asks for more with `allowFileTime`. */
const DEFAULT_FILE_LIMIT_MS = Number(process.env.SFIP_TEST_FILE_LIMIT_MS ?? 30 * 60_000);

interface Watchdog {
  timer: NodeJS.Timeout | undefined;
  arm(ms: number, why: string): void;
}

const KEY = Symbol.for('sfip.test.exit-watchdog');
const holder = globalThis as { [KEY]?: Watchdog };

/** What keeps the event loop alive, with the peer of every socket (the usual culprit). */
export function describeOpenResources(): string {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  const summary = [...counts].map(([r, n]) => (n > 1 ? `${r} x${n}` : r)).join(', ');
  // _getActiveHandles is undocumented but says which socket or child it is; the summary above is the stable part.
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  const details = handles.flatMap((h) => {
    const socket = h as { remoteAddress?: string; remotePort?: number; localPort?: number };
    const child = h as { pid?: number; spawnfile?: string; spawnargs?: string[] };
    if (socket.remoteAddress) return [`socket to ${socket.remoteAddress}:${socket.remotePort}`];
    if (child.spawnfile) return [`child process ${child.pid}: ${(child.spawnargs ?? []).join(' ')}`];
    if (socket.localPort !== undefined && socket.localPort !== null)
      return [`server on port ${socket.localPort}`];
    return [];
  });
  return [summary, ...details.map((d) => `  ${d}`)].join('\n');
}

function fail(why: string): void {
  process.stderr.write(`\n${why}\nStill open: ${describeOpenResources()}\n`);
  process.exit(1);
}

/** A file that legitimately runs longer (the qemu guest) raises its own limit. */
export function allowFileTime(ms: number): void {
  holder[KEY]?.arm(ms, `the test file ran longer than its limit of ${Math.round(ms / 1000)} s`);
}

// Only in a test file's process (node's runner marks it), not in the runner itself or in programs tests start.
if (process.env.NODE_TEST_CONTEXT?.startsWith('child') && !holder[KEY]) {
  const started = Date.now();
  const watchdog: Watchdog = {
    timer: undefined,
    arm(ms, why) {
      clearTimeout(this.timer);
      // unref: the watchdog itself must never be what keeps a finished file alive.
      this.timer = setTimeout(() => fail(why), Math.max(0, started + ms - Date.now())).unref();
    },
  };
  holder[KEY] = watchdog;
  watchdog.arm(
    DEFAULT_FILE_LIMIT_MS,
    `the test file ran longer than its limit of ${Math.round(DEFAULT_FILE_LIMIT_MS / 1000)} s`,
  );
  // Registered before the file's own root hooks, so it runs first: the grace covers them too.
  after(() => {
    clearTimeout(watchdog.timer);
    setTimeout(
      () =>
        fail(
          `the test file did not exit within ${EXIT_GRACE_MS / 1000} s after its tests finished: something it opened was not closed`,
        ),
      EXIT_GRACE_MS,
    ).unref();
  });
}
