import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Agent } from '../../src/agent/index.js';
import { FakeDataplane } from '../../src/dataplane/index.js';
import { apiFixture, type ApiFixture } from '../support/api-fixture.js';
import { CLI, runProgram as run, sfip as sfipAt } from '../support/sfip-cli.js';
import { dumpStore } from '../support/store-dump.js';
import { fakeAgent } from '../support/fake-agent.js';

type Json = Record<string, unknown>;

describe('CLI for people: names, reasons, --wait, --json shapes, verbs and flags', () => {
  let f: ApiFixture;
  let url: string;
  let agent: Agent;
  const dp = new FakeDataplane();
  const sfip = (...args: string[]) => sfipAt(url, ...args);
  const json = async (...args: string[]) => {
    const r = await sfip('--json', ...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Json;
  };

  before(async () => {
    f = await apiFixture();
    url = await f.app.listen({ host: '127.0.0.1', port: 0 });
    agent = fakeAgent(f.store, dp, {
      pollIntervalMs: 50,
    });
    await agent.start();
  });
  after(async () => {
    await agent.stop();
    await f.app.close();
  });

  it('--wait returns once ACTIVE; a missing namespace makes the router and the floating IP ERROR, shown with the reason', async () => {
    const created = await sfip('fip', 'create', 'public', '--port', 'vm1', '--wait');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /status\s.*ACTIVE/);

    // The namespace disappears; the next resync notices (the fake applies without looking, unlike the kernel).
    dp.missingNamespaces.add('qrouter-test');
    agent.resyncAll('resync');
    await agent.sync();
    const failed = await sfip('fip', 'create', 'public', '--port', 'vm2', '--wait', '--wait-timeout', '20s');
    assert.equal(failed.code, 1, failed.stdout);
    assert.match(failed.stderr, /is ERROR: network namespace qrouter-test does not exist/);
    const routers = await sfip('router', 'list');
    assert.match(routers.stdout, /r1\s.*ERROR\s.*network namespace qrouter-test does not exist/);
    const shown = (await json('router', 'show', 'r1')).router as Json;
    assert.deepEqual(
      [shown.status, shown.status_reason],
      ['ERROR', 'network namespace qrouter-test does not exist'],
    );
    const fips = await sfip('fip', 'list', '--status', 'error');
    assert.match(fips.stdout, /10\.0\.0\.12\s.*vm2\s.*r1\s.*ERROR\s.*network namespace qrouter-test/);

    dp.missingNamespaces.delete('qrouter-test');
    agent.resyncAll('resync');
    await agent.sync();
    assert.equal(((await json('router', 'show', 'r1')).router as Json).status, 'ACTIVE');
    for (const ip of ['10.0.0.11', '10.0.0.12']) {
      const list = (await json('fip', 'list')).floatingips as Json[];
      const fip = list.find((x) => x.fixed_ip_address === ip)!;
      assert.equal((await sfip('fip', 'delete', String(fip.id))).code, 0);
    }
  });

  it('--wait without a port, and a wait that times out, fail with a message', async () => {
    const lonely = await sfip('fip', 'create', 'public', '--wait');
    assert.equal(lonely.code, 1);
    assert.match(lonely.stderr, /--wait needs an associated port/);
    await agent.stop();
    try {
      const slow = await sfip(
        'fip',
        'create',
        'public',
        '--port',
        'vm1',
        '--wait',
        '--wait-timeout',
        '300ms',
      );
      assert.equal(slow.code, 1);
      assert.match(slow.stderr, /still DOWN after --wait-timeout/);
    } finally {
      await agent.start();
    }
    for (const fip of (await json('fip', 'list')).floatingips as Json[]) {
      assert.equal((await sfip('fip', 'delete', String(fip.id))).code, 0);
    }
  });

  it('router list is readable: gateway by network name and address, backend filled, no JSON in cells', async () => {
    const r = await sfip('router', 'list');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /public 203\.0\.113\.2/);
    assert.match(r.stdout, /\(agent default\)/);
    assert.doesNotMatch(r.stdout, /network_id=|external_fixed_ips|\{/);
  });

  it('--json prints Neutron shapes, and errors as NeutronError JSON', async () => {
    assert.ok(Array.isArray((await json('fip', 'list')).floatingips));
    assert.ok(Array.isArray((await json('router', 'list')).routers));
    assert.equal(((await json('network', 'show', 'public')).network as Json).name, 'public');
    const bad = await sfip('--json', 'fip', 'create', 'nope');
    assert.equal(bad.code, 1);
    const error = (JSON.parse(bad.stderr) as { NeutronError: { type: string; message: string } })
      .NeutronError;
    assert.equal(error.type, 'NotFound');
    assert.match(error.message, /'nope'.*external networks: public/);
    const usage = await sfip('--json', 'fip', 'list', '--status', 'BOGUS');
    assert.notEqual(usage.code, 0);
    assert.match(
      (JSON.parse(usage.stderr) as { NeutronError: { message: string } }).NeutronError.message,
      /BOGUS/,
    );
  });

  it('errors name things and list the valid choices', async () => {
    const pool = await sfip('fip', 'create', 'private');
    assert.equal(pool.code, 1);
    assert.match(pool.stderr, /'private' is not external.*external networks: public/);
    const router = await sfip('fip', 'list', '--router', 'ghost');
    assert.match(router.stderr, /No router found for 'ghost'; routers: r1/);
    const status = await sfip('fip', 'list', '--status', 'BOGUS');
    assert.notEqual(status.code, 0);
    assert.match(status.stderr, /'BOGUS' is not a floating IP status: use ACTIVE, DOWN, ERROR/);
    assert.equal(status.stdout, '');
    const scheme = await run(process.execPath, [
      '--import',
      'tsx',
      CLI,
      '--url',
      '127.0.0.1:19797',
      'fip',
      'list',
    ]);
    assert.equal(scheme.code, 1);
    assert.match(
      scheme.stderr,
      /--url '127\.0\.0\.1:19797' has no http:\/\/ or https:\/\/ scheme: write http:\/\/127\.0\.0\.1:19797/,
    );
    assert.doesNotMatch(scheme.stderr, /is 'sfip serve' running/);
  });

  it('takes the openstack flag names, and the old ones with a deprecation warning', async () => {
    const net = await json('network', 'create', 'ext2', '--external');
    const netId = String((net.network as Json).id);
    const subnet = await sfip(
      'subnet',
      'create',
      'ext2-sub',
      '--network',
      'ext2',
      '--subnet-range',
      '198.51.100.0/24',
      '--gateway-ip',
      '198.51.100.1',
      '--allocation-pool',
      'start=198.51.100.10,end=198.51.100.20',
      '--allocation-pool',
      'start=198.51.100.30,end=198.51.100.40',
    );
    assert.equal(subnet.code, 0, subnet.stderr);
    assert.equal(subnet.stderr, '', 'no warning for the current names');
    const s = (await json('subnet', 'show', 'ext2-sub')).subnet as Json;
    assert.deepEqual(s.allocation_pools, [
      { start: '198.51.100.10', end: '198.51.100.20' },
      { start: '198.51.100.30', end: '198.51.100.40' },
    ]);
    assert.equal(s.gateway_ip, '198.51.100.1');
    const fip = await sfip('--json', 'fip', 'create', 'ext2', '--floating-ip-address', '198.51.100.15');
    assert.equal(fip.code, 0, fip.stderr);
    assert.equal(fip.stderr, '');
    const old = await sfip('--json', 'fip', 'create', 'ext2', '--address', '198.51.100.16');
    assert.equal(old.code, 0, old.stderr);
    assert.match(old.stderr, /warning: --address is deprecated.*use --floating-ip-address/);
    assert.equal(((JSON.parse(old.stdout) as Json).floatingip as Json).floating_ip_address, '198.51.100.16');
    const oldSubnet = await sfip(
      'subnet',
      'create',
      'old-sub',
      '--network',
      'private',
      '--cidr',
      '10.9.0.0/24',
      '--gateway',
      'none',
      '--pool',
      '10.9.0.10-10.9.0.20',
    );
    assert.equal(oldSubnet.code, 0, oldSubnet.stderr);
    for (const flag of ['--cidr', '--gateway', '--pool'])
      assert.match(oldSubnet.stderr, new RegExp(`${flag} is deprecated`));
    const o = (await json('subnet', 'show', 'old-sub')).subnet as Json;
    assert.deepEqual(
      [o.cidr, o.gateway_ip, o.allocation_pools],
      ['10.9.0.0/24', null, [{ start: '10.9.0.10', end: '10.9.0.20' }]],
    );
    for (const fipAddress of ['198.51.100.15', '198.51.100.16'])
      assert.equal((await sfip('fip', 'delete', fipAddress)).code, 0);
    assert.equal((await sfip('subnet', 'delete', 'ext2-sub', 'old-sub')).code, 0);
    assert.equal((await sfip('network', 'delete', netId)).code, 0);
    const pool = await sfip(
      'subnet',
      'create',
      'x',
      '--network',
      'private',
      '--subnet-range',
      '10.8.0.0/24',
      '--allocation-pool',
      '10.8.0.1-10.8.0.9',
    );
    assert.notEqual(pool.code, 0);
    assert.match(
      pool.stderr,
      /'10\.8\.0\.1-10\.8\.0\.9' is not an allocation pool: expected start=IP,end=IP/,
    );
    // A bad value through a deprecated alias is reported too, not swallowed.
    const oldPool = await sfip(
      'subnet',
      'create',
      'x',
      '--network',
      'private',
      '--subnet-range',
      '10.8.0.0/24',
      '--pool',
      '10.8.0.1-',
    );
    assert.equal(oldPool.code, 1);
    assert.match(
      oldPool.stderr,
      /option '--pool <start-end>' argument '10\.8\.0\.1-' is invalid\. .*expected start=IP,end=IP/,
    );
  });

  it('has set verbs for networks, subnets, ports and router anti-spoofing, and port create --mac-address', async () => {
    await json('network', 'set', 'private', '--description', 'inside');
    assert.equal(((await json('network', 'show', 'private')).network as Json).description, 'inside');
    await json('subnet', 'set', f.privateSubnet, '--name', 'private-subnet');
    assert.equal(((await json('subnet', 'show', 'private-subnet')).subnet as Json).id, f.privateSubnet);
    const port = (
      await json(
        'port',
        'create',
        'vm9',
        '--network',
        'private',
        '--mac-address',
        'fa:16:3e:00:00:99',
        '--fixed-ip',
        'ip-address=10.0.0.99',
      )
    ).port as Json;
    assert.equal(port.mac_address, 'fa:16:3e:00:00:99');
    assert.deepEqual(
      (port.fixed_ips as Json[]).map((x) => x.ip_address),
      ['10.0.0.99'],
    );
    await json('port', 'set', 'vm9', '--name', 'vm9b', '--description', 'renamed');
    assert.equal(((await json('port', 'show', 'vm9b')).port as Json).description, 'renamed');
    assert.equal((await sfip('port', 'delete', 'vm9b')).code, 0);
    assert.equal(
      ((await json('router', 'set', 'r1', '--no-anti-spoofing')).router as Json).anti_spoofing,
      false,
    );
    assert.match((await sfip('router', 'list')).stdout, /r1\s.*\soff\s/);
    assert.equal(((await json('router', 'set', 'r1', '--anti-spoofing')).router as Json).anti_spoofing, true);
    assert.equal(((await json('router', 'show', 'r1')).router as Json).fast_path, true, 'on by default');
    assert.equal(((await json('router', 'set', 'r1', '--no-fast-path')).router as Json).fast_path, false);
    assert.match((await sfip('router', 'show', 'r1')).stdout, /fast_path\s+│ false/);
    assert.equal(((await json('router', 'set', 'r1', '--fast-path')).router as Json).fast_path, true);
    const before = await dumpStore(f.store);
    const nothing = await sfip('network', 'set', 'private');
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /Nothing to set/);
    assert.equal(await dumpStore(f.store), before);
  });

  it('describes every subcommand, prints its version, and completes in bash', async () => {
    const { buildProgram } = await import('../../src/cli/main.js');
    const undescribed: string[] = [];
    const walk = (c: ReturnType<typeof buildProgram>, path: string) => {
      for (const sub of c.commands) {
        if (!sub.description()) undescribed.push(`${path} ${sub.name()}`.trim());
        walk(sub, `${path} ${sub.name()}`);
      }
    };
    walk(buildProgram(), '');
    assert.deepEqual(undescribed, []);
    const version = await sfip('version');
    assert.match(version.stdout, /^sfip 0\.\d+\.\d+ \(Node\.js v20\./);
    const script = await sfip('completion', 'bash');
    assert.equal(script.code, 0);
    // Complete `sfip fip cr<TAB>` and `sfip --json fip create --<TAB>` in a real bash.
    const complete = async (words: string[]) => {
      const r = await run('bash', [
        '-c',
        `${script.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _sfip; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n');
    };
    assert.deepEqual(await complete(['sfip', 'fip', 'cr']), ['create']);
    const flags = await complete(['sfip', '--json', 'fip', 'create', '--f']);
    assert.deepEqual(flags.sort(), ['--fixed-ip-address', '--floating-ip-address']);
    assert.ok((await complete(['sfip', ''])).includes('version'));
    assert.notEqual((await sfip('completion', 'tcsh')).code, 0);
  });

  it('lab status of a missing lab fails saying so; lab down says what it removed, and fails when the API does not answer', async () => {
    const status = await sfip('lab', 'status', '--prefix', 'nclabnone');
    assert.equal(status.code, 1);
    assert.match(status.stderr, /Lab nclabnone does not exist: none of its 6 namespaces exist/);
    const nothing = await sfip('lab', 'down', '--prefix', 'nclabnone');
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.match(nothing.stdout, /Nothing to remove: lab nclabnone has no API resources and no namespaces/);
    const down = await run(process.execPath, [
      '--import',
      'tsx',
      CLI,
      '--url',
      'http://127.0.0.1:9',
      'lab',
      'down',
      '--prefix',
      'nclabnone',
    ]);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /Removed 0 namespaces, but the API resources of lab nclabnone could not be removed: Cannot reach/,
    );
    assert.doesNotMatch(down.stdout + down.stderr, /Removed 0 API resources/);
  });
});
