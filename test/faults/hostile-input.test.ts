/**
 * Every HTTP route `sfip serve` has (walked from the router itself, so a new route cannot be missed) and every
 * CLI command, fed shell metacharacters, path traversal, overlong and Unicode input in every parameter, query and
 * body field. Each must be refused with a clear error or be harmless: no 5xx, no crash, nothing executed, no file
 * read outside the dashboard, nothing hostile stored where a kernel tool would see it, and — the end-to-end
 * check — an agent run over the resulting store hands not one hostile byte to any kernel tool.
 */
import assert from 'node:assert/strict';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { serve, type RunningServer } from '../../src/daemon/serve.js';
import { createDataplane, IMPLEMENTED_BACKENDS } from '../../src/dataplane/index.js';
import type { Runner } from '../../src/exec/run.js';
import { run } from '../../src/exec/run.js';
import {
  formatCidr,
  isDeviceName,
  isIPv4,
  isMacAddress,
  isNamespaceName,
  isUuid,
  parseCidr,
} from '../../src/model/index.js';
import { HOSTILE, PWNED } from '../support/hostile-values.js';

type Json = Record<string, unknown>;

/** Routes as `METHOD /path/:param`, read from Fastify's own route tree. */
function routesOf(tree: string): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const at = line.indexOf('── ');
    if (at < 0) continue;
    const depth = Math.floor(at / 4);
    const m = /^(.*?) \(([A-Z, ]+)\)$/.exec(line.slice(at + 3));
    if (!m) continue;
    const parent = stack[depth - 1] ?? '';
    const seg = m[1]! === '*' ? '/*' : m[1]!;
    const path = parent.endsWith('/') || seg.startsWith('/') ? parent + seg : `${parent}/${seg}`;
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of m[2]!.split(', ')) if (method !== 'HEAD') out.push({ method, path });
  }
  return out;
}

/** Every leaf of a JSON body, as a path and a function returning a copy with that leaf replaced. */
function leaves(body: unknown, path: string[] = []): { path: string; with: (v: unknown) => unknown }[] {
  if (body === null || typeof body !== 'object') {
    return [{ path: path.join('.'), with: (v) => v }];
  }
  const entries = Array.isArray(body) ? body.map((v, i) => [String(i), v] as const) : Object.entries(body);
  return entries.flatMap(([k, v]) =>
    leaves(v, [...path, k]).map((leaf) => ({
      path: leaf.path,
      with: (x: unknown) => {
        const copy = (Array.isArray(body) ? [...body] : { ...body }) as Record<string, unknown>;
        copy[k] = leaf.with(x);
        return copy;
      },
    })),
  );
}

/** Percent-encodes every byte of the UTF-8 text (a lone surrogate becomes U+FFFD, as any HTTP client would send it). */
const pct = (text: string) =>
  [...Buffer.from(text)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** Fields that are free text for Neutron too: stored verbatim, shown back, never interpreted. */
/** Collections with native bulk create (`{"ports": [...]}`). */
const BULK = new Set(['networks', 'subnets', 'ports', 'floatingips']);

const FREE_TEXT = /(^|\.)(name|description|device_id|device_owner|tags\.\d+)$/;

describe('hostile input at every entry point', { timeout: 180_000 }, () => {
  let server: RunningServer;
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-hostile-'));
  const ids: Record<string, string> = {};
  const accepted: string[] = [];

  const inject = async (
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await server.app.inject({
      method: method as 'GET',
      url,
      ...(body !== undefined && { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
      headers: { 'content-type': 'application/json', 'x-auth-token': server.adminToken!, ...headers },
    });
    return { status: res.statusCode, text: res.body };
  };

  /** Refused with a NeutronError (the dashboard's static files may answer in their own way), or accepted; never a server error. */
  const judge = (what: string, res: { status: number; text: string }) => {
    assert.ok(res.status < 500, `${what}: ${res.status} ${res.text.slice(0, 300)}`);
    if (res.status >= 400 && !what.includes(' /dashboard/*')) {
      let body: { NeutronError?: { type?: string; message?: string } } = {};
      try {
        body = JSON.parse(res.text) as typeof body;
      } catch {
        /* reported below */
      }
      assert.ok(
        body.NeutronError?.type && body.NeutronError.message,
        `${what}: not a NeutronError: ${res.text.slice(0, 200)}`,
      );
    }
  };

  before(async () => {
    server = await serve({
      host: '127.0.0.1',
      port: 0,
      stateDir,
      backend: 'fake',
      resyncIntervalMs: 60_000,
      garp: false,
      agent: false,
      log: pino({ level: 'silent' }),
      // Thousands of requests from one token: a rate limit would answer most of them with 429 before the
      // validation this test is about ever saw them (the limit has its own test in hostile-clients).
      rateLimit: null,
      // Most of those requests are refused (4xx) on purpose: the refusal limit has its own test too.
      refusalLimit: null,
    });
    const post = async (path: string, body: Json) => {
      const res = await inject('POST', path, body);
      assert.equal(res.status, 201, res.text);
      return Object.values(JSON.parse(res.text) as Record<string, Json>)[0]!;
    };
    ids.ext = String(
      (await post('/v2.0/networks', { network: { name: 'public', 'router:external': true } })).id,
    );
    await post('/v2.0/subnets', {
      subnet: {
        network_id: ids.ext,
        cidr: '203.0.113.0/24',
        allocation_pools: [{ start: '203.0.113.10', end: '203.0.113.200' }],
      },
    });
    ids.net = String((await post('/v2.0/networks', { network: { name: 'private' } })).id);
    ids.subnet = String(
      (await post('/v2.0/subnets', { subnet: { network_id: ids.net, cidr: '10.0.0.0/24', name: 'private' } }))
        .id,
    );
    ids.router = String(
      (
        await post('/v2.0/routers', {
          router: {
            name: 'r1',
            namespace: 'qrouter-h',
            gateway_device: 'qg-h',
            external_gateway_info: { network_id: ids.ext },
          },
        })
      ).id,
    );
    await inject('PUT', `/v2.0/routers/${ids.router}/add_router_interface`, { subnet_id: ids.subnet });
    ids.port = String((await post('/v2.0/ports', { port: { network_id: ids.net, name: 'vm1' } })).id);
    ids.fip = String(
      (await post('/v2.0/floatingips', { floatingip: { floating_network_id: ids.ext, port_id: ids.port } }))
        .id,
    );
    ids.tag = 'keep';
    ids.qos = String((await post('/v2.0/qos/policies', { policy: { name: 'q' } })).id);
    ids.bandwidth_limit_rules = String(
      (
        await post(`/v2.0/qos/policies/${ids.qos}/bandwidth_limit_rules`, {
          bandwidth_limit_rule: { max_kbps: 1000, direction: 'egress' },
        })
      ).id,
    );
    ids.packet_rate_limit_rules = String(
      (
        await post(`/v2.0/qos/policies/${ids.qos}/packet_rate_limit_rules`, {
          packet_rate_limit_rule: { max_kpps: 10, direction: 'egress' },
        })
      ).id,
    );
  });

  after(async () => {
    await server.close();
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(PWNED, { force: true });
  });

  it('covers every route of the server', () => {
    const routes = routesOf(server.app.printRoutes({ commonPrefix: false }));
    assert.ok(routes.length >= 60, `only ${routes.length} routes found`);
    assert.ok(routes.some((r) => r.path === '/dashboard/*') && routes.some((r) => r.path === '/metrics'));
  });

  it('refuses or harmlessly stores hostile path parameters, queries and body fields on every route', async () => {
    const routes = routesOf(server.app.printRoutes({ commonPrefix: false }));
    const bodies: Record<string, { create: Json; update: Json }> = {
      networks: {
        create: {
          network: {
            name: 'n',
            description: 'd',
            'router:external': false,
            admin_state_up: true,
            tags: ['a'],
          },
        },
        update: { network: { name: 'n2', description: 'd2' } },
      },
      subnets: {
        create: {
          subnet: {
            network_id: ids.net,
            cidr: '10.9.0.0/24',
            name: 's',
            gateway_ip: '10.9.0.1',
            allocation_pools: [{ start: '10.9.0.10', end: '10.9.0.20' }],
            description: 'd',
          },
        },
        update: { subnet: { name: 's2', description: 'd2' } },
      },
      ports: {
        create: {
          port: {
            network_id: ids.net,
            name: 'p',
            fixed_ips: [{ subnet_id: ids.subnet, ip_address: '10.0.0.50' }],
            device_id: 'dev',
            device_owner: 'compute:x',
            mac_address: 'fa:16:3e:00:00:50',
          },
        },
        update: { port: { name: 'p2', description: 'd2', device_id: 'dev2' } },
      },
      routers: {
        create: {
          router: {
            name: 'r',
            namespace: 'qrouter-x',
            gateway_device: 'qg-x',
            backend: 'nftables',
            description: 'd',
            external_gateway_info: {
              network_id: ids.ext,
              external_fixed_ips: [{ ip_address: '203.0.113.250' }],
            },
          },
        },
        update: { router: { name: 'r2', namespace: 'qrouter-y', gateway_device: 'qg-y', description: 'd2' } },
      },
      floatingips: {
        create: {
          floatingip: { floating_network_id: ids.ext, floating_ip_address: '203.0.113.99', description: 'd' },
        },
        update: { floatingip: { port_id: ids.port, fixed_ip_address: '10.0.0.2', description: 'd2' } },
      },
      'qos/policies': {
        create: { policy: { name: 'q2', description: 'd', shared: false, tags: ['a'] } },
        update: { policy: { name: 'q3', description: 'd2' } },
      },
      // Ingress: the policy's egress rules exist, so a create that got through would conflict rather than pass.
      bandwidth_limit_rules: {
        create: { bandwidth_limit_rule: { max_kbps: 2000, max_burst_kbps: 100, direction: 'ingress' } },
        update: { bandwidth_limit_rule: { max_kbps: 3000, max_burst_kbps: 200 } },
      },
      packet_rate_limit_rules: {
        create: { packet_rate_limit_rule: { max_kpps: 20, max_burst_kpps: 2, direction: 'ingress' } },
        update: { packet_rate_limit_rule: { max_kpps: 30 } },
      },
    };
    const idOf: Record<string, string> = {
      networks: ids.net!,
      subnets: ids.subnet!,
      ports: ids.port!,
      routers: ids.router!,
      floatingips: ids.fip!,
      'qos/policies': ids.qos!,
    };
    let requests = 0;
    for (const { method, path } of routes) {
      const collection = /^\/v2\.0\/(qos\/[a-z-]+|[a-z]+)/.exec(path)?.[1] ?? '';
      // QoS rules are sub-resources of a policy: their bodies and ids go by the rule collection.
      const ruleCollection = /(bandwidth_limit|packet_rate_limit)_rules/.exec(path)?.[0];
      const bodyKey = ruleCollection ?? collection;
      const params = [...path.matchAll(/:(\w+)|\*/g)].map((m) => m[1] ?? '*');
      const fill = (hostileParam: string | null, value: string) =>
        path.replace(/:(\w+)|\*/g, (_, name: string | undefined) => {
          const p = name ?? '*';
          if (p === hostileParam) return pct(value);
          if (p === 'rule') return ids[ruleCollection!]!;
          return p === 'id' ? idOf[collection]! : p === 'tag' ? ids.tag! : 'index.html';
        });
      for (const { kind, value } of HOSTILE) {
        for (const p of params) {
          const body = method === 'PUT' || method === 'POST' ? (bodies[bodyKey]?.update ?? {}) : undefined;
          judge(`${method} ${path} with ${kind} in :${p}`, await inject(method, fill(p, value), body));
          requests++;
        }
        if (method === 'GET') {
          for (const q of [
            'name',
            'fields',
            'sort_key',
            'sort_dir',
            'limit',
            'marker',
            'tags',
            'status',
            value,
          ]) {
            const url = `${fill(null, '')}?${pct(q)}=${pct(q === value ? '1' : value)}`;
            judge(`GET ${url.slice(0, 80)} (${kind})`, await inject('GET', url));
            requests++;
          }
        }
        // Bodies matter on create, update, the tags list and the router interface calls; elsewhere they are ignored.
        const takesBody =
          /^\/v2\.0\/[a-z]+(\/:id(\/tags|\/add_router_interface|\/remove_router_interface)?)?$/.test(path) ||
          /^\/v2\.0\/qos\/policies(\/:id(\/tags|\/[a-z_]+_rules(\/:rule)?)?)?$/.test(path);
        if ((method === 'POST' || method === 'PUT') && takesBody) {
          const template = path.endsWith('_interface')
            ? { subnet_id: ids.subnet }
            : path.endsWith('/tags')
              ? { tags: ['a'] }
              : method === 'POST'
                ? bodies[bodyKey]?.create
                : bodies[bodyKey]?.update;
          if (!template) continue;
          // Native bulk create takes the same items as a list: every leaf of a one-item bulk is hostile too.
          const bulk =
            method === 'POST' && path === `/v2.0/${collection}` && BULK.has(collection)
              ? [{ [collection]: Object.values(template) }]
              : [];
          for (const leaf of [template, ...bulk].flatMap((t) => leaves(t))) {
            const res = await inject(method, fill(null, ''), leaf.with(value));
            judge(`${method} ${path} with ${kind} in ${leaf.path}`, res);
            if (res.status < 300) accepted.push(`${method} ${path} ${leaf.path}`);
            requests++;
          }
          judge(
            `${method} ${path} with ${kind} as a key`,
            await inject(method, fill(null, ''), { [value]: {} }),
          );
          judge(`${method} ${path} with ${kind} as the body`, await inject(method, fill(null, ''), value));
          judge(
            `${method} ${path} with ${kind} as content type`,
            await inject(method, fill(null, ''), '{}', {
              'content-type': value.replace(/[^\x20-\x7e]/g, '?'),
            }),
          );
          requests += 3;
        }
      }
    }
    assert.ok(requests > 3000, `only ${requests} requests`);
    for (const a of accepted) {
      assert.match(
        a.split(' ')[2]!,
        FREE_TEXT,
        `a hostile value was accepted in a field that is not free text: ${a}`,
      );
    }
  });

  it('refuses bodies over the size limit with a NeutronError', async () => {
    const res = await inject('POST', '/v2.0/networks', { network: { name: 'A'.repeat(300 * 1024) } });
    assert.equal(res.status, 413);
    judge('oversized body', res);
  });

  it('never serves a file outside the dashboard, however the path is spelled', async () => {
    for (const path of [
      '/dashboard/../../../../etc/passwd',
      '/dashboard/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/dashboard/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/dashboard/....//....//etc/passwd',
      '/dashboard/%252e%252e/%252e%252e/etc/passwd',
      '/dashboard/..\\..\\..\\etc\\passwd',
    ]) {
      const res = await inject('GET', path);
      assert.ok(res.status < 500, `${path}: ${res.status}`);
      assert.doesNotMatch(res.text, /root:.*:0:0:/, `${path} served /etc/passwd`);
    }
  });

  it('stored nothing hostile where a kernel tool reads it, and an agent over this store passes no hostile byte to one', async () => {
    const state = await server.store.read((v) => ({
      routers: v.list('router'),
      ports: v.list('port'),
      subnets: v.list('subnet'),
      fips: v.list('floatingip'),
    }));
    for (const r of state.routers) {
      assert.ok(isUuid(r.id));
      assert.ok(r.namespace === null || isNamespaceName(r.namespace), r.namespace ?? '');
      assert.ok(r.gatewayDevice === null || isDeviceName(r.gatewayDevice), r.gatewayDevice ?? '');
    }
    for (const p of state.ports) {
      assert.ok(isMacAddress(p.macAddress), p.macAddress);
      for (const ip of p.fixedIps) assert.ok(isIPv4(ip.ipAddress));
    }
    for (const s of state.subnets) assert.equal(formatCidr(parseCidr(s.cidr)), s.cidr);
    for (const f of state.fips) {
      assert.ok(isIPv4(f.floatingIpAddress));
      assert.ok(f.fixedIpAddress === null || isIPv4(f.fixedIpAddress));
    }
    const calls: string[] = [];
    const recording: Runner = async (file, args, options) => {
      calls.push([file, ...args, options?.netns ?? '', options?.input ?? ''].join(' '));
      throw new Error('Cannot open network namespace: No such file or directory');
    };
    for (const backend of IMPLEMENTED_BACKENDS) {
      const agent = new Agent({
        store: server.store,
        dataplaneFor: (name) => createDataplane(name, recording),
        defaultBackend: backend,
        log: pino({ level: 'silent' }),
        programmedRoutersPath: null,
        garp: false,
      });
      await agent.start();
      await agent.stop();
    }
    assert.ok(calls.length > 0, 'the agent ran kernel tools for the valid routers');
    for (const { kind, value } of HOSTILE) {
      assert.deepEqual(
        calls.filter((c) => c.includes(value)),
        [],
        `${kind} reached a kernel tool`,
      );
    }
  });

  it('runs every CLI command with hostile arguments and options: an error naming the problem, or harmless', async () => {
    const url = server.url;
    const placements: string[][] = [];
    const valid: Record<string, string> = {
      network: 'private',
      'floating-ip': ids.fip!,
      router: 'r1',
      subnet: 'private',
      port: 'vm1',
      name: 'hostile-test',
      project: 'admin',
    };
    // Commands with their positional arguments, and the options that take a value. Paths an operator gives to
    // serve and top (--state-dir, --store, --dashboard-token) are theirs to choose and never reach a shell or a
    // kernel tool; serve is also given a state directory it cannot create, so that a hostile value it wrongly
    // accepted would end in that error instead of a running daemon.
    const commands: [string[], string[], string[]][] = [
      [
        ['fip', 'create'],
        ['network'],
        ['--address', '--subnet', '--port', '--fixed-ip', '--description', '--tag'],
      ],
      [['fip', 'list'], [], ['--status', '--router', '--port', '--network']],
      [['fip', 'show'], ['floating-ip'], []],
      [['fip', 'set'], ['floating-ip'], ['--port', '--fixed-ip', '--description']],
      [['fip', 'unset'], ['floating-ip'], []],
      [['fip', 'delete'], ['floating-ip'], []],
      [
        ['router', 'create'],
        ['name'],
        [
          '--namespace',
          '--gateway-device',
          '--external-network',
          '--gateway-ip',
          '--backend',
          '--description',
        ],
      ],
      [
        ['router', 'set'],
        ['router'],
        [
          '--namespace',
          '--gateway-device',
          '--external-network',
          '--gateway-ip',
          '--backend',
          '--description',
        ],
      ],
      [['router', 'add-subnet'], ['router', 'subnet'], []],
      [['router', 'remove-subnet'], ['router', 'subnet'], []],
      [['router', 'show'], ['router'], []],
      [['router', 'delete'], ['router'], []],
      [['network', 'create'], ['name'], ['--description']],
      [['network', 'show'], ['network'], []],
      [['network', 'delete'], ['network'], []],
      [['subnet', 'create'], ['name'], ['--network', '--cidr', '--gateway', '--pool']],
      [['subnet', 'show'], ['subnet'], []],
      [['subnet', 'delete'], ['subnet'], []],
      [['port', 'create'], ['name'], ['--network', '--fixed-ip', '--device-id']],
      [['port', 'show'], ['port'], []],
      [['port', 'delete'], ['port'], []],
      [['quota', 'show'], ['project'], []],
      [['quota', 'set'], ['project'], ['--floating-ips', '--routers']],
      [['quota', 'reset'], ['project'], []],
      [['lab', 'up'], [], ['--prefix']],
      [['lab', 'down'], [], ['--prefix']],
      [['lab', 'status'], [], ['--prefix']],
      [
        ['serve'],
        [],
        [
          '--host',
          '--port',
          '--backend',
          '--resync-interval',
          '--log-level',
          '--counters-cache',
          '--metrics-listen',
          '--refusal-limit',
          '--audit-log-max-size',
          '--audit-log-files',
          '--api-workers',
        ],
      ],
    ];
    for (const { value } of HOSTILE) {
      for (const [verb, args, options] of commands) {
        const base = verb[0] === 'serve' ? ['--state-dir', '/proc/sfip-cannot-exist', '--no-agent'] : [];
        const positional = args.map((a) => valid[a]!);
        for (let i = 0; i < args.length; i++) {
          placements.push([...verb, ...positional.map((p, k) => (k === i ? value : p)), ...base]);
        }
        for (const o of options) placements.push([...verb, ...positional, ...base, o, value]);
      }
      placements.push(['--url', value, 'fip', 'list']);
    }
    const input = join(stateDir, 'cli-in.json');
    const output = join(stateDir, 'cli-out.json');
    writeFileSync(input, JSON.stringify(placements));
    const script = join(import.meta.dirname, '..', 'support', 'cli-barrage.ts');
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', script, url, input, output],
        {
          timeout: 120_000,
          env: { ...process.env, SFIP_TOKEN: server.adminToken!, SFIP_BARRAGE_TRACE: '1' },
        },
        // SFIP_BARRAGE_TRACE=1 makes the barrage name each command on stderr: the last one named is the one that hung.
        (error, _stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr.slice(-3000)}`)) : resolve(),
      ),
    );
    const results = JSON.parse(readFileSync(output, 'utf8')) as {
      argv: string[];
      code: number;
      output: string;
    }[];
    assert.equal(results.length, placements.length);
    for (const { argv, code, output: said } of results) {
      const what = JSON.stringify(argv).slice(0, 200);
      assert.ok(code === 0 || code === 1, `${what}: exit ${code}: ${said.slice(0, 300)}`);
      if (code === 1) assert.match(said, /error|Error/, `${what}: failed without saying why`);
      if (argv[0] === 'serve') {
        assert.equal(code, 1, `${what}: serve accepted it`);
        assert.doesNotMatch(said, /sfip-cannot-exist/, `${what}: serve accepted the hostile value`);
      }
    }
    assert.ok(placements.length > 1000, `only ${placements.length} CLI runs`);
  });

  it('executed nothing and created no namespace', async () => {
    assert.equal(existsSync(PWNED), false, `${PWNED} exists: a payload ran`);
    // Other work on this machine creates namespaces too: look only for ones a hostile lab prefix would make.
    const names = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!);
    for (const { kind, value } of HOSTILE) {
      assert.deepEqual(
        names.filter((n) => n.length > 0 && n.startsWith(value.slice(0, 20))),
        [],
        kind,
      );
    }
  });
});
