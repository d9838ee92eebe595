/**
 * API benchmark: floating-IP create, list, show, move and delete throughput and latency against
 * `sfip serve --no-agent`, at 1, 8 and N connections, per API process count and stored size, measured with
 * autocannon in this process. Writes its section of docs/benchmarks.md.
 *
 *   node --import tsx bench/api/run.ts [--duration 10] [--connections 32] [--sizes 10000,100000]
 *     [--api-workers 0,2] [--no-write]
 *
 * Not a test: numbers depend on the machine and on whatever else it runs; the section records both.
 */
import { execFileSyncProgram as execFileSync, spawnProgram as spawn } from '../../src/exec/spawn.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { writeSection, type BenchRow } from './benchmarks-doc.js';

const { values: options } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    /** The largest connection count; every scenario also runs at 1 and 8. */
    connections: { type: 'string', default: '32' },
    /** Floating IPs stored while lists, shows, moves and deletes run: one pass per size. */
    sizes: { type: 'string', default: '10000' },
    'list-size': { type: 'string' },
    /** API processes, one pass each: 0 is `serve` alone, N is `serve --api-workers N`. */
    'api-workers': { type: 'string', default: '0' },
    write: { type: 'boolean', default: true },
    'no-write': { type: 'boolean', default: false },
  },
});
const DURATION = Number(options.duration);
const CONNECTIONS = Number(options.connections);
const CONNECTION_COUNTS = [...new Set([1, 8, CONNECTIONS])];
const SIZES = (options['list-size'] ?? options.sizes).split(',').map(Number);
const WORKERS = options['api-workers'].split(',').map(Number);
/** Floating IPs moved between two ports each by the update scenario; deleted per connection count by delete. */
const MOVED = 500;
const DELETED = 3000;
/** Creates per connection count: bounded, so a run at 100,000 stored does not grow the store by a third. */
const CREATED = 3000;

type Json = Record<string, unknown>;

/** utime + stime of a process in milliseconds, from /proc (clock ticks are 100 Hz on Linux). */
function ownCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The CPU of serve and of its API workers (its live children; a worker replaced mid-run loses its share). */
function cpuMsOf(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);
  return ownCpuMs(pid) + children.reduce((sum, child) => sum + ownCpuMs(Number(child)), 0);
}

let serverPid = 0;

async function startServe(
  stateDir: string,
  workers: number,
): Promise<{ url: string; stop: () => Promise<void> }> {
  // The build, as deployed (bin/sfip runs the bundle): tsx's on-the-fly transform keeps function names with extra calls that cost
  // measurably in hot paths.
  const child = spawn(
    process.execPath,
    // No rate limit: the benchmark measures how many requests the API itself can answer.
    [
      'bin/sfip',
      'serve',
      '--no-agent',
      '--port',
      '0',
      '--state-dir',
      stateDir,
      '--rate-limit',
      'off',
      '--refusal-limit',
      'off',
      '--api-workers',
      String(workers),
    ],
    {
      env: { ...process.env, SFIP_RUNTIME_DIR: join(stateDir, 'run') },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  serverPid = child.pid!;
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /"url":"(http:\/\/[^"]+)".*"msg":"sfip API listening"/.exec(line);
      if (match) {
        // Keep draining the request log so the server never blocks on a full pipe; the log is part of the cost.
        lines.removeAllListeners('line');
        lines.on('line', () => undefined);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`sfip serve exited with ${String(code)}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

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

interface Pass {
  readonly workers: number;
  readonly stored: number;
}

async function measure(
  pass: Pass,
  scenario: string,
  options: autocannon.Options,
  connections: number,
): Promise<BenchRow> {
  const cpuBefore = cpuMsOf(serverPid);
  const result = await autocannon({ duration: DURATION, connections, ...options });
  const cpu = cpuMsOf(serverPid) - cpuBefore;
  const row = {
    ...pass,
    scenario,
    connections,
    // Requests over the run's own length: autocannon's per-second average is coarse for runs bounded by count.
    requestsPerSecond: Math.round((result['2xx'] + result.non2xx) / Math.max(0.001, result.duration)),
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    failed: result.non2xx + result.errors + result.timeouts,
    cpuMs: Number((cpu / Math.max(1, result['2xx'] + result.non2xx)).toFixed(3)),
  };
  console.log(JSON.stringify(row));
  return row;
}

/** Bulk-creates `count` floating IPs (1,000 per request, the API's bulk limit); returns their ids. */
async function bulkCreate(url: string, token: string, networkId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let made = 0; made < count; made += 1000) {
    const items = Array.from({ length: Math.min(1000, count - made) }, () => ({
      floating_network_id: networkId,
    }));
    const answer = await call(url, token, 'POST', '/v2.0/floatingips', { floatingips: items });
    ids.push(...(answer.floatingips as Json[]).map((f) => String(f.id)));
  }
  return ids;
}

/** Creates or deletes unassociated floating IPs until exactly `size` of them exist; returns their ids. */
async function settleCount(url: string, token: string, networkId: string, size: number): Promise<string[]> {
  const ids: string[] = [];
  for (let marker = ''; ;) {
    const page = (
      await call(url, token, 'GET', `/v2.0/floatingips?fields=id&fields=port_id&limit=5000${marker}`)
    ).floatingips as Json[];
    ids.push(...page.filter((f) => f.port_id === null).map((f) => String(f.id)));
    if (page.length < 5000) break;
    marker = `&marker=${String(page.at(-1)!.id)}`;
  }
  if (ids.length < size) ids.push(...(await bulkCreate(url, token, networkId, size - ids.length)));
  while (ids.length > size) {
    const extra = ids.splice(size, Math.min(64, ids.length - size));
    await Promise.all(extra.map((id) => call(url, token, 'DELETE', `/v2.0/floatingips/${id}`)));
  }
  return ids;
}

/** An external network with a /14 of private space, and a router with MOVED pairs of ports behind it. */
async function topology(url: string, admin: string) {
  const network = (
    await call(url, admin, 'POST', '/v2.0/networks', { network: { name: 'bench', 'router:external': true } })
  ).network as Json;
  // Private space for the records only: no agent runs, nothing reaches a kernel.
  await call(url, admin, 'POST', '/v2.0/subnets', {
    subnet: { network_id: network.id, cidr: '10.64.0.0/14' },
  });
  const inside = (await call(url, admin, 'POST', '/v2.0/networks', { network: { name: 'vms' } }))
    .network as Json;
  const subnet = (
    await call(url, admin, 'POST', '/v2.0/subnets', {
      subnet: { network_id: inside.id, cidr: '10.200.0.0/16' },
    })
  ).subnet as Json;
  const router = (
    await call(url, admin, 'POST', '/v2.0/routers', {
      router: { name: 'bench', external_gateway_info: { network_id: network.id } },
    })
  ).router as Json;
  await call(url, admin, 'PUT', `/v2.0/routers/${String(router.id)}/add_router_interface`, {
    subnet_id: subnet.id,
  });
  const ports = (
    (
      await call(url, admin, 'POST', '/v2.0/ports', {
        ports: Array.from({ length: 2 * MOVED }, () => ({ network_id: inside.id })),
      })
    ).ports as Json[]
  ).map((p) => String(p.id));
  return { networkId: String(network.id), ports };
}

async function runPass(workers: number, rows: BenchRow[]): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'ta-bench-'));
  const server = await startServe(stateDir, workers);
  try {
    const admin = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    const { url } = server;
    const { networkId, ports } = await topology(url, admin);
    const headers = { 'x-auth-token': admin, 'content-type': 'application/json' };
    // The moved floating IPs start on the first port of their pair.
    const moved = (
      (
        await call(url, admin, 'POST', '/v2.0/floatingips', {
          floatingips: Array.from({ length: MOVED }, (_, i) => ({
            floating_network_id: networkId,
            port_id: ports[2 * i],
          })),
        })
      ).floatingips as Json[]
    ).map((f) => String(f.id));
    for (const stored of SIZES) {
      const pass = { workers, stored };
      const ids = await settleCount(url, admin, networkId, stored);
      for (const connections of CONNECTION_COUNTS) {
        rows.push(
          await measure(
            pass,
            'create (POST /v2.0/floatingips)',
            {
              url: `${url}/v2.0/floatingips`,
              method: 'POST',
              headers,
              body: JSON.stringify({ floatingip: { floating_network_id: networkId } }),
              amount: CREATED,
            },
            connections,
          ),
        );
      }
      await settleCount(url, admin, networkId, stored);
      const sorted = [...ids].sort();
      const listUrl = `${url}/v2.0/floatingips?limit=100`;
      for (const connections of CONNECTION_COUNTS)
        rows.push(await measure(pass, 'list, limit=100, first page', { url: listUrl, headers }, connections));
      for (const connections of CONNECTION_COUNTS)
        rows.push(
          await measure(
            pass,
            'list, limit=100, marker mid-way',
            { url: `${listUrl}&marker=${sorted[Math.floor(sorted.length / 2)]!}`, headers },
            connections,
          ),
        );
      for (const connections of CONNECTION_COUNTS) {
        let next = 0;
        rows.push(
          await measure(
            pass,
            'show (GET /v2.0/floatingips/{id}), random ids',
            {
              url,
              headers,
              requests: [
                {
                  setupRequest: (request) => ({
                    ...request,
                    path: `/v2.0/floatingips/${ids[(next = (next * 7919 + 1) % ids.length)]!}`,
                  }),
                },
              ],
            },
            connections,
          ),
        );
      }
      for (const connections of CONNECTION_COUNTS) {
        // Request k moves floating IP k mod MOVED to the other port of its pair; MOVED requests separate two moves
        // of one floating IP, so concurrent connections never race for the same one.
        let k = 0;
        rows.push(
          await measure(
            pass,
            'update: move a floating IP to another port (PUT)',
            {
              url,
              headers,
              method: 'PUT',
              requests: [
                {
                  setupRequest: (request) => {
                    const i = k % MOVED;
                    const round = Math.floor(k / MOVED);
                    k++;
                    return {
                      ...request,
                      method: 'PUT',
                      path: `/v2.0/floatingips/${moved[i]!}`,
                      body: JSON.stringify({ floatingip: { port_id: ports[2 * i + ((round + 1) % 2)] } }),
                    };
                  },
                },
              ],
            },
            connections,
          ),
        );
      }
      for (const connections of CONNECTION_COUNTS) {
        const doomed = await bulkCreate(url, admin, networkId, DELETED);
        let k = 0;
        rows.push(
          await measure(
            pass,
            'delete (DELETE /v2.0/floatingips/{id})',
            {
              url,
              headers,
              amount: DELETED,
              requests: [
                {
                  setupRequest: (request) => ({
                    ...request,
                    method: 'DELETE',
                    path: `/v2.0/floatingips/${doomed[k++ % DELETED]!}`,
                  }),
                },
              ],
            },
            connections,
          ),
        );
      }
    }
  } finally {
    await server.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const loadAtStart = loadavg()[0]!.toFixed(1);
  const rows: BenchRow[] = [];
  for (const workers of WORKERS) await runPass(workers, rows);
  const command = `node --import tsx bench/api/run.ts --duration ${DURATION} --connections ${CONNECTIONS} --sizes ${SIZES.join(',')} --api-workers ${WORKERS.join(',')}`;
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}, 1-minute load average ${loadAtStart} at the start and ${loadavg()[0]!.toFixed(1)} at the end (other work shares this machine)`;
  if (options.write && !options['no-write'])
    writeSection(rows, { command, machine, sizes: SIZES, duration: DURATION });
}

await main();
