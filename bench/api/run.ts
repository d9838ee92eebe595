/**
 * API benchmark: floating-IP create, list and show throughput and latency against `sfip serve --no-agent`,
 * measured with autocannon from a separate process. Writes its section of docs/benchmarks.md.
 *
 *   node --import tsx bench/api/run.ts [--duration 10] [--connections 32] [--api-workers 0] [--no-write]
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
    connections: { type: 'string', default: '32' },
    'list-size': { type: 'string', default: '10000' },
    // 0: the API in one process, as the figures in docs/benchmarks.md were measured; N: `serve --api-workers N`.
    'api-workers': { type: 'string', default: '0' },
    write: { type: 'boolean', default: true },
    'no-write': { type: 'boolean', default: false },
  },
});
const DURATION = Number(options.duration);
const CONNECTIONS = Number(options.connections);
const LIST_SIZE = Number(options['list-size']);

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

async function startServe(stateDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  // The compiled build, as deployed: tsx's on-the-fly transform keeps function names with extra calls that cost
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
      options['api-workers'],
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

async function measure(
  scenario: string,
  options: autocannon.Options,
  connections = CONNECTIONS,
): Promise<BenchRow> {
  const cpuBefore = cpuMsOf(serverPid);
  const result = await autocannon({ duration: DURATION, connections, ...options });
  const cpu = cpuMsOf(serverPid) - cpuBefore;
  const row = {
    scenario,
    connections,
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    failed: result.non2xx + result.errors + result.timeouts,
    cpuMs: Number((cpu / Math.max(1, result['2xx'] + result.non2xx)).toFixed(3)),
  };
  console.log(JSON.stringify(row));
  return row;
}

/** Creates or deletes floating IPs until exactly `size` exist. */
async function settleCount(url: string, token: string, networkId: string, size: number): Promise<string[]> {
  const ids = ((await call(url, token, 'GET', '/v2.0/floatingips?fields=id')).floatingips as Json[]).map(
    (f) => String(f.id),
  );
  while (ids.length < size) {
    const batch = Math.min(64, size - ids.length);
    const made = await Promise.all(
      Array.from({ length: batch }, () =>
        call(url, token, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: networkId } }),
      ),
    );
    ids.push(...made.map((m) => String((m.floatingip as Json).id)));
  }
  while (ids.length > size) {
    const extra = ids.splice(size, Math.min(64, ids.length - size));
    await Promise.all(extra.map((id) => call(url, token, 'DELETE', `/v2.0/floatingips/${id}`)));
  }
  return ids;
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const loadAtStart = loadavg()[0]!.toFixed(1);
  const stateDir = mkdtempSync(join(tmpdir(), 'ta-bench-'));
  const server = await startServe(stateDir);
  try {
    const admin = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    const { url } = server;
    const network = (
      await call(url, admin, 'POST', '/v2.0/networks', {
        network: { name: 'bench', 'router:external': true },
      })
    ).network as Json;
    // A /14 of private space for the records only: no agent runs, nothing reaches a kernel.
    await call(url, admin, 'POST', '/v2.0/subnets', {
      subnet: { network_id: network.id, cidr: '10.64.0.0/14' },
    });
    const headers = { 'x-auth-token': admin, 'content-type': 'application/json' };
    const rows: BenchRow[] = [];
    rows.push(
      await measure('create (POST /v2.0/floatingips)', {
        url: `${url}/v2.0/floatingips`,
        method: 'POST',
        headers,
        body: JSON.stringify({ floatingip: { floating_network_id: network.id } }),
      }),
    );
    const ids = await settleCount(url, admin, String(network.id), LIST_SIZE);
    const sorted = [...ids].sort();
    const listUrl = `${url}/v2.0/floatingips?limit=100`;
    for (const connections of [1, 8, CONNECTIONS]) {
      rows.push(
        await measure(`list ${LIST_SIZE}, limit=100, first page`, { url: listUrl, headers }, connections),
      );
    }
    rows.push(
      await measure(`list ${LIST_SIZE}, limit=100, marker mid-way`, {
        url: `${listUrl}&marker=${sorted[Math.floor(sorted.length / 2)]!}`,
        headers,
      }),
    );
    let next = 0;
    rows.push(
      await measure('show (GET /v2.0/floatingips/{id}), random ids', {
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
      }),
    );
    const command = `node --import tsx bench/api/run.ts --duration ${DURATION} --connections ${CONNECTIONS} --api-workers ${options['api-workers']}`;
    const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}, 1-minute load average ${loadAtStart} at the start and ${loadavg()[0]!.toFixed(1)} at the end (other work shares this machine)`;
    if (options.write && !options['no-write'])
      writeSection(rows, { command, machine, listSize: LIST_SIZE, duration: DURATION });
  } finally {
    await server.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
