import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ApiClient } from '../../client/api-client.js';
import { RateTracker } from '../../dashboard/rates.js';
import type { DashboardState } from '../../dashboard/state-types.js';
import { TOKEN_FILE } from '../../dashboard/token.js';
import { renderTop } from '../top-view.js';
import { globals } from './common.js';
import { parseDuration } from './serve.js';

/** The token: given, from the environment, or read from the daemon's state directory (same host, root). */
function resolveToken(given: string | undefined, stateDir: string): string {
  if (given) return given;
  const path = join(stateDir, TOKEN_FILE);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new Error(
      `No dashboard token: pass --dashboard-token or SFIP_DASHBOARD_TOKEN, or run where ${path} is readable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`,
      { cause: error },
    );
  }
}

export function topCommand(): Command {
  return new Command('top')
    .description(
      'Live view of routers, floating IPs, traffic rates, conntrack and reconciles (like the dashboard)',
    )
    .option('--dashboard-token <token>', 'the dashboard token', process.env.SFIP_DASHBOARD_TOKEN)
    .option(
      '--state-dir <dir>',
      'where to find dashboard-token when no token is given',
      process.env.SFIP_STATE_DIR ?? '/var/lib/sfip',
    )
    .option('--interval <duration>', 'time between refreshes', parseInterval, 1000)
    .option('--router <id>', 'only this router (id)')
    .option('--search <prefix>', 'only floating IPs whose floating or fixed address starts with this')
    .option(
      '--page <n>',
      'which page of floating IPs per router (pages of --page-size, by address)',
      parsePage,
      1,
    )
    .option(
      '--page-size <n>',
      'floating IPs per page (the busiest of them are shown first)',
      parsePageSize,
      500,
    )
    .option('--once', 'print one screen (after two readings, so rates are known) and exit', false)
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const { url } = globals(cmd);
      const client = new ApiClient(
        url,
        resolveToken(o.dashboardToken as string | undefined, String(o.stateDir)),
      );
      const intervalMs = Number(o.interval);
      const pageSize = Number(o.pageSize);
      let page = Number(o.page);
      const query = () => {
        const q = new URLSearchParams({ limit: String(pageSize), offset: String((page - 1) * pageSize) });
        if (o.router) q.set('router', String(o.router));
        if (o.search) q.set('search', String(o.search));
        return `/dashboard/api/state?${q}`;
      };
      const tracker = new RateTracker(2);
      const read = async () => {
        const state = await client.get<DashboardState>(query());
        tracker.update(state);
        return state;
      };
      const tty = process.stdout.isTTY === true && !o.once;
      const screen = (state: DashboardState) =>
        renderTop(state, tracker, {
          url,
          intervalMs,
          color: tty,
          keys: tty && process.stdin.isTTY === true,
          rowsPerRouter: tty ? Math.max(3, (process.stdout.rows ?? 40) - 12 - 4 * state.routers.length) : 50,
        });
      if (!tty) {
        // One screen for pipes and scripts: two readings an interval apart give the rates.
        await read();
        await new Promise((r) => setTimeout(r, intervalMs));
        process.stdout.write(screen(await read()));
        return;
      }
      let stop = false;
      let wake: () => void = () => undefined;
      process.once('SIGINT', () => (stop = true));
      // n and p page through the floating IPs (the server pages: 100,000 never come over at once); q quits.
      const keys = (data: Buffer) => {
        const key = data.toString();
        if (key === 'n') page++;
        else if (key === 'p') page = Math.max(1, page - 1);
        else if (key === 'q' || key === '\x03') stop = true;
        else return;
        wake();
      };
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        process.stdin.on('data', keys);
      }
      process.stdout.write('\x1b[?25l'); // hide the cursor while redrawing
      try {
        while (!stop) {
          const state = await read();
          // Home and clear, then draw: a plain redraw, no curses.
          process.stdout.write(`\x1b[H\x1b[2J${screen(state)}`);
          await new Promise<void>((r) => {
            const timer = setTimeout(r, intervalMs);
            wake = () => (clearTimeout(timer), r());
          });
        }
      } finally {
        if (process.stdin.isTTY) {
          process.stdin.off('data', keys);
          process.stdin.setRawMode(false);
          process.stdin.pause();
        }
        process.stdout.write('\x1b[?25h\n');
      }
    });
}

function parsePage(text: string): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1)
    throw new InvalidArgumentError(`'${text}' is not a page number: use 1, 2, ...`);
  return Number(text);
}

function parsePageSize(text: string): number {
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 5000)
    throw new InvalidArgumentError(`'${text}' is not a page size: use a whole number from 1 to 5000`);
  return Number(text);
}

function parseInterval(text: string): number {
  const ms = parseDuration(text);
  if (ms < 200) throw new InvalidArgumentError(`'${text}' is too short an interval: use at least 200ms`);
  return ms;
}
