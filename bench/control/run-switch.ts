import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/client/api-client.js';
import { createDataplane } from '../../src/dataplane/index.js';
import { run } from '../../src/exec/run.js';
import type { BackendName } from '../../src/model/index.js';
import { benchTopology, buildTopology, destroyTopology, fixedIpOf, floatingIpOf } from '../topology.js';
import { populateStore } from './populate.js';
import { NamespaceHelper, ServerProcess } from './processes.js';

export interface SwitchOptions {
  readonly prefix: string;
  readonly fips: number;
  /** Backends to switch between, in order; the router starts on the first and visits each in turn. */
  readonly sequence: readonly BackendName[];
  readonly port: number;
  readonly log: (line: string) => void;
}

export interface SwitchStep {
  readonly from: BackendName;
  readonly to: BackendName;
  /** API call to the old backend's state gone and the new one's in place. */
  readonly switchMs: number;
  readonly sent: number;
  readonly lost: number;
  readonly longestGapMs: number;
  /** The old backend still lists the router afterwards (must be false). */
  readonly oldStateLeft: boolean;
  /** Conntrack entries for the streamed floating IP right after the switch: the stale ones must be gone. */
  readonly conntrackAfter: number;
}

export interface SwitchResult {
  readonly options: Omit<SwitchOptions, 'log'>;
  readonly steps: SwitchStep[];
}

const ECHO_PORT = 7;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fipEntries(netns: string, addresses: string[]): Promise<number> {
  const { stdout } = await run('conntrack', ['-L', '-f', 'ipv4'], { netns, okExitCodes: [1] });
  return stdout.split('\n').filter((l) => addresses.some((a) => l.includes(`=${a} `))).length;
}

/** Switches a live router between backends through the API while a UDP echo stream crosses a floating IP. */
export async function runSwitch(o: SwitchOptions): Promise<SwitchResult> {
  const t = benchTopology(o.prefix, ['sw']);
  const r = t.routers[0]!;
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-bench-switch-'));
  const steps: SwitchStep[] = [];
  let server: ServerProcess | undefined;
  const helpers: NamespaceHelper[] = [];
  try {
    await buildTopology(t);
    await run('ip', ['-n', t.gen, 'route', 'add', '100.65.0.0/16', 'via', t.gatewayIp]);
    const ids = await populateStore(stateDir, t, r.namespace, o.sequence[0]!, o.fips, 0);
    const url = `http://127.0.0.1:${o.port}`;
    server = new ServerProcess(stateDir, o.port);
    await server.whenReady(url, 300_000);
    const echo = new NamespaceHelper(t.sink, ['--echo', String(ECHO_PORT)]);
    const sender = new NamespaceHelper(t.gen, ['--rpc']);
    helpers.push(echo, sender);
    await Promise.all([echo.ready, sender.ready]);
    const api = new ApiClient(url);
    const target = { routerId: ids.routerId, namespace: r.namespace, gatewayDevice: t.gatewayDevice };
    for (let k = 1; k < o.sequence.length; k++) {
      const from = o.sequence[k - 1]!;
      const to = o.sequence[k]!;
      const intervalMs = 1;
      const stream = sender.call<{ sent: number; received: number; longestGapMs: number }>({
        op: 'stream',
        host: floatingIpOf(0),
        port: ECHO_PORT,
        count: 3000,
        intervalMs,
      });
      await sleep(1000);
      const started = performance.now();
      await api.put(`/v2.0/routers/${ids.routerId}`, { router: { backend: to } });
      const oldDp = createDataplane(from);
      const newDp = createDataplane(to);
      let switched = false;
      while (!switched && performance.now() - started < 60_000) {
        const oldOwned = await oldDp.owned(r.namespace);
        const newOwned = await newDp.owned(r.namespace);
        switched = !oldOwned.includes(ids.routerId) && newOwned.includes(ids.routerId);
        if (!switched) await sleep(5);
      }
      const switchMs = performance.now() - started;
      const streamed = await stream;
      const oldStateLeft = (await oldDp.owned(r.namespace)).includes(ids.routerId);
      const conntrackAfter = await fipEntries(r.namespace, [floatingIpOf(0), fixedIpOf(0)]);
      // The new backend must carry every floating IP.
      const desired = await newDp.read(target, undefined);
      if (desired.inbound.size !== o.fips)
        throw new Error(`${to} carries ${desired.inbound.size} of ${o.fips} floating IPs`);
      steps.push({
        from,
        to,
        switchMs,
        sent: streamed.sent,
        lost: streamed.sent - streamed.received,
        longestGapMs: streamed.longestGapMs,
        oldStateLeft,
        conntrackAfter,
      });
      o.log(
        `switch: ${from} -> ${to} in ${switchMs.toFixed(0)} ms, lost ${streamed.sent - streamed.received}/${streamed.sent} ` +
          `(longest gap ${streamed.longestGapMs} ms), old state left: ${oldStateLeft}, FIP conntrack entries: ${conntrackAfter}`,
      );
    }
  } finally {
    for (const h of helpers) h.close();
    await server?.stop();
    await destroyTopology(t);
    rmSync(stateDir, { recursive: true, force: true });
  }
  const { log: _log, ...options } = o;
  return { options, steps };
}
