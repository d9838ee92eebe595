/**
 * Filling a cloud with the agent running (issue 16): 16 clients each create a port and a floating IP on it, over
 * and over, against the default `sfip serve` (agent on, fake dataplane), with the API in one process or in N
 * workers. Prints pairs per second, the latency of a pair, and when the agent had every floating IP ACTIVE.
 *
 *   node --import tsx bench/api/fill-with-agent.ts [--pairs 3000] [--clients 16] [--api-workers 0]
 *
 * Not a test: numbers depend on the machine and on whatever else it runs. Uses the build (bin/sfip).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';

const { values: options } = parseArgs({
  options: {
    pairs: { type: 'string', default: '3000' },
    clients: { type: 'string', default: '16' },
    'api-workers': { type: 'string', default: '0' },
  },
});
const PAIRS = Number(options.pairs);
const CLIENTS = Number(options.clients);

type Json = Record<string, unknown>;

async function call(url: string, token: string, method: string, path: string, body?: unknown): Promise<Json> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'x-auth-token': token, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? (JSON.parse(text) as Json) : {};
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-fill-'));
  const child = spawn(
    process.execPath,
    [
      'bin/sfip',
      'serve',
      '--port',
      '0',
      '--state-dir',
      stateDir,
      '--backend',
      'fake',
      '--no-garp',
      '--rate-limit',
      'off',
      '--refusal-limit',
      'off',
      '--api-workers',
      options['api-workers'],
    ],
    {
      env: { ...process.env, SFIP_RUNTIME_DIR: join(stateDir, 'run') },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        const match = /"url":"(http:\/\/[^"]+)".*"msg":"sfip API listening"/.exec(line);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`sfip serve exited with ${String(code)}`)));
    });
    const admin = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    const ext = (
      await call(url, admin, 'POST', '/v2.0/networks', {
        network: { name: 'public', 'router:external': true },
      })
    ).network as Json;
    // Private space for the records only: the fake dataplane programs no kernel.
    await call(url, admin, 'POST', '/v2.0/subnets', { subnet: { network_id: ext.id, cidr: '10.64.0.0/14' } });
    const net = (await call(url, admin, 'POST', '/v2.0/networks', { network: { name: 'inside' } }))
      .network as Json;
    const subnet = (
      await call(url, admin, 'POST', '/v2.0/subnets', {
        subnet: { network_id: net.id, cidr: '10.128.0.0/14' },
      })
    ).subnet as Json;
    const router = (
      await call(url, admin, 'POST', '/v2.0/routers', {
        router: {
          name: 'r1',
          external_gateway_info: { network_id: ext.id },
          namespace: 'sfip-fill',
          gateway_device: 'qg-fill',
        },
      })
    ).router as Json;
    await call(url, admin, 'PUT', `/v2.0/routers/${String(router.id)}/add_router_interface`, {
      subnet_id: subnet.id,
    });
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < PAIRS) {
          next++;
          const t0 = performance.now();
          const port = (await call(url, admin, 'POST', '/v2.0/ports', { port: { network_id: net.id } }))
            .port as Json;
          await call(url, admin, 'POST', '/v2.0/floatingips', {
            floatingip: { floating_network_id: ext.id, port_id: port.id },
          });
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const apiSeconds = (performance.now() - started) / 1000;
    // The agent is done when no floating IP is DOWN any more.
    for (;;) {
      const down = (await call(url, admin, 'GET', '/v2.0/floatingips?status=DOWN&fields=id&limit=1'))
        .floatingips as Json[];
      if (down.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const activeSeconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        apiWorkers: Number(options['api-workers']),
        clients: CLIENTS,
        pairs: latencies.length,
        pairsPerSecond: Math.round(latencies.length / apiSeconds),
        pairP50Ms: Number(percentile(latencies, 50).toFixed(1)),
        pairP99Ms: Number(percentile(latencies, 99).toFixed(1)),
        allActiveAfterS: Number(activeSeconds.toFixed(1)),
        machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, load ${loadavg()[0]!.toFixed(1)}`,
      }),
    );
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
