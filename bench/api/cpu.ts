/**
 * CPU per API request, in process: the API (from dist/, as deployed) on a SQLite store in a temporary directory,
 * token auth, request logging at info into /dev/null, driven by fastify.inject so that only the server's own
 * work is counted (no HTTP client, no socket). Prints the median of several runs per scenario, in µs of process
 * CPU (user + system) per request.
 *
 *   npm run build && node bench/api/cpu.ts   (through tsx: node --import tsx bench/api/cpu.ts [--runs 7])
 *
 * With --profile FILE, the measured runs are also profiled (a .cpuprofile for Chrome's DevTools or speedscope).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';

const { values: options } = parseArgs({
  options: {
    /** Write a V8 CPU profile of the measured runs (not the filling) to this file. */
    profile: { type: 'string' },
    /** The build to measure (default: this checkout's dist/), e.g. another commit's, to compare before and after. */
    dist: { type: 'string' },
    runs: { type: 'string', default: '7' },
    size: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '400' },
    /** Only the scenarios whose name contains this (to profile one). */
    only: { type: 'string', default: '' },
  },
});
const RUNS = Number(options.runs);
const SIZE = Number(options.size);
const REQUESTS = Number(options.requests);

type Json = Record<string, unknown>;
// dist/, not src/: tsx's transform adds calls in hot paths (see run.ts). Imported by path so tsc needs no build.
const distDir =
  options.dist === undefined ? new URL('../../dist/', import.meta.url) : pathToFileURL(`${options.dist}/`);
const dist = (path: string) => new URL(path, distDir).href;
const { buildApi } = (await import(dist('api/index.js'))) as typeof import('../../src/api/index.js');
const { SqliteStore } = (await import(dist('store/index.js'))) as typeof import('../../src/store/index.js');
const { issueToken } = (await import(dist('auth/index.js'))) as typeof import('../../src/auth/index.js');

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One request; the body is parsed only when asked for, so that the client's parsing is not counted. */
async function call(app: FastifyInstance, token: string, method: 'GET' | 'POST', url: string, body?: Json) {
  const response = await app.inject({
    method,
    url,
    headers: { 'x-auth-token': token },
    ...(body !== undefined && { payload: JSON.stringify(body) }),
    ...(body !== undefined && { headers: { 'x-auth-token': token, 'content-type': 'application/json' } }),
  });
  if (response.statusCode >= 300)
    throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response;
}
const json = async (reply: Promise<{ json: <T>() => T }>) => (await reply).json<Json>();

/** µs of CPU per request for `count` requests, `concurrency` in flight (creates batch in group commits). */
async function cpuPerRequest(send: () => Promise<unknown>, count: number, concurrency: number) {
  const before = process.cpuUsage();
  for (let done = 0; done < count; done += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, count - done) }, send));
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

const dir = mkdtempSync(join(tmpdir(), 'sfip-cpu-'));
const store = new SqliteStore({ path: join(dir, 'state.db') });
const logger = pino({ level: 'info', base: { service: 'sfip' } }, pino.destination({ dest: '/dev/null' }));
const app = await buildApi({ store, logger, auth: 'token', docs: false });
try {
  const token = (await issueToken(store.tokens, { projectId: 'admin', isAdmin: true })).token;
  const external = (
    await json(
      call(app, token, 'POST', '/v2.0/networks', {
        network: { name: 'bench', 'router:external': true },
      }),
    )
  ).network as Json;
  await call(app, token, 'POST', '/v2.0/subnets', {
    subnet: { network_id: external.id, cidr: '10.64.0.0/14' },
  });
  const internal = (await json(call(app, token, 'POST', '/v2.0/networks', { network: { name: 'vms' } })))
    .network as Json;
  const subnet = (
    await json(
      call(app, token, 'POST', '/v2.0/subnets', {
        subnet: { network_id: internal.id, cidr: '10.128.0.0/12' },
      }),
    )
  ).subnet as Json;
  const router = (
    await json(
      call(app, token, 'POST', '/v2.0/routers', {
        router: { name: 'bench', external_gateway_info: { network_id: external.id } },
      }),
    )
  ).router as Json;
  await app.inject({
    method: 'PUT',
    url: `/v2.0/routers/${String(router.id)}/add_router_interface`,
    headers: { 'x-auth-token': token, 'content-type': 'application/json' },
    payload: JSON.stringify({ subnet_id: subnet.id }),
  });
  const createFip = () =>
    call(app, token, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: external.id } });
  const createPort = () => call(app, token, 'POST', '/v2.0/ports', { port: { network_id: internal.id } });
  // Fill both collections to SIZE, so the list pages read from 10,000 stored.
  await cpuPerRequest(createFip, SIZE, 64);
  await cpuPerRequest(createPort, SIZE, 64);
  const idsOf = async (collection: string) =>
    (
      (await json(call(app, token, 'GET', `/v2.0/${collection}?fields=id&fields=device_owner`)))[
        collection
      ] as Json[]
    )
      // VM ports only: a router's ports cannot have a floating IP.
      .filter((x) => !x.device_owner)
      .map((x) => String(x.id));
  const fipIds = (await idsOf('floatingips')).sort();
  const portIds = (await idsOf('ports')).sort();
  // The first page's floating IPs associated with ports, as in a cloud in use: each shows its port's details.
  for (let i = 0; i < 100; i++) {
    const associated = await app.inject({
      method: 'PUT',
      url: `/v2.0/floatingips/${fipIds[i]!}`,
      headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      payload: JSON.stringify({ floatingip: { port_id: portIds[i] } }),
    });
    if (associated.statusCode !== 200) throw new Error(`associate: ${associated.body}`);
  }
  let page = 0;
  const walk = () => fipIds[(page = (page + 100) % fipIds.length)]!;
  let next = 0;
  const randomId = () => fipIds[(next = (next * 7919 + 1) % fipIds.length)]!;
  const scenarios: [string, () => Promise<unknown>, number][] = [
    ['create floating IP (32 in flight)', createFip, 32],
    ['create port (32 in flight)', createPort, 32],
    [
      `list floating IPs, limit=100 of ${SIZE}, first page (associated)`,
      () => call(app, token, 'GET', '/v2.0/floatingips?limit=100'),
      1,
    ],
    [
      `list floating IPs, limit=100 of ${SIZE}, marker mid-way`,
      () => call(app, token, 'GET', `/v2.0/floatingips?limit=100&marker=${fipIds[fipIds.length >> 1]!}`),
      1,
    ],
    [
      // Every page in turn: with more stored than the rendered-document cache holds (--size 25000), all misses.
      `list floating IPs, limit=100 of ${SIZE}, walking every page`,
      () => call(app, token, 'GET', `/v2.0/floatingips?limit=100&marker=${walk()}`),
      1,
    ],
    [`list ports, limit=100 of ${SIZE}`, () => call(app, token, 'GET', '/v2.0/ports?limit=100'), 1],
    ['show floating IP, random ids', () => call(app, token, 'GET', `/v2.0/floatingips/${randomId()}`), 1],
    // The floor: what any request costs here (routing, hooks, the log line, inject) without a token or a store.
    ['GET /healthz', () => call(app, token, 'GET', '/healthz'), 1],
  ];
  const rows: Json[] = [];
  const profiler = options.profile === undefined ? undefined : new Session();
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  for (const [name, send, concurrency] of scenarios.filter(([n]) => n.includes(options.only))) {
    await cpuPerRequest(send, REQUESTS / 4, concurrency); // warm-up: JIT, statement cache
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await cpuPerRequest(send, REQUESTS, concurrency));
    rows.push({ scenario: name, medianUs: Math.round(median(runs)), runsUs: runs.map(Math.round) });
    console.log(JSON.stringify(rows.at(-1)));
  }
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(options.profile!, JSON.stringify(profile));
  }
  console.log(JSON.stringify({ node: process.version, load1: loadavg()[0]!.toFixed(1) }));
} finally {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
