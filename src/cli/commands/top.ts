import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ApiClient } from '../../client/api-client.js';
import { RateTracker } from '../../dashboard/rates.js';
import type { DashboardState } from '../../dashboard/state-types.js';
import { TOKEN_FILE } from '../../dashboard/token.js';
import { renderTop } from '../top-view.js';
import { apiUrl, globals } from './common.js';
import { durationOption, parseDuration } from '../option-helpers.js';

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
    .addOption(durationOption('--interval <duration>', 'time between refreshes', 1000, parseInterval))
    .option('--router <router>', 'only this router (name or id)')
    .option('--once', 'print one screen (after two readings, so rates are known) and exit', false)
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const url = apiUrl(globals(cmd).url);
      const client = new ApiClient(
        url,
        resolveToken(o.dashboardToken as string | undefined, String(o.stateDir)),
      );
      const intervalMs = Number(o.interval);
      const routerId = o.router === undefined ? undefined : await routerIdOf(client, String(o.router));
      const query = `/dashboard/api/state?limit=500${routerId ? `&router=${encodeURIComponent(routerId)}` : ''}`;
      const tracker = new RateTracker(2);
      const read = async () => {
        const state = await client.get<DashboardState>(query);
        tracker.update(state);
        return state;
      };
      const tty = process.stdout.isTTY === true && !o.once;
      const screen = (state: DashboardState) =>
        renderTop(state, tracker, {
          url,
          intervalMs,
          color: tty,
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
      let wake = () => {};
      const quit = () => {
        stop = true;
        wake();
      };
      process.once('SIGINT', quit);
      // q (or Ctrl-C, which raw mode delivers as a byte rather than a signal) quits, like top(1).
      const keys = (data: Buffer) => {
        if (data.includes(0x71) || data.includes(0x51) || data.includes(0x03)) quit();
      };
      const stdin = process.stdin;
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        stdin.on('data', keys).resume();
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
        if (stdin.isTTY) {
          stdin.off('data', keys).setRawMode(false);
          stdin.pause();
        }
        process.off('SIGINT', quit);
        process.stdout.write('\x1b[?25h\n');
      }
    });
}

/** A router by name or id, from the dashboard's own view (top has the dashboard token, not an API token). */
async function routerIdOf(client: ApiClient, ref: string): Promise<string> {
  const { routers } = await client.get<DashboardState>('/dashboard/api/state?limit=1');
  const matches = routers.filter((r) => r.id === ref || r.name === ref);
  if (matches.length === 1) return matches[0]!.id;
  const names = routers.map((r) => r.name || r.id).join(', ') || 'none';
  if (matches.length > 1) {
    throw new Error(
      `More than one router is named '${ref}': use an id (${matches.map((r) => r.id).join(', ')})`,
    );
  }
  throw new Error(`No router '${ref}'; routers: ${names}`);
}

function parseInterval(text: string): number {
  const ms = parseDuration(text);
  if (ms < 200) throw new InvalidArgumentError(`'${text}' is too short an interval: use at least 200ms`);
  return ms;
}
