/** `sfip quota show|set|reset` against a real sfip serve: limits and usage, admin-only changes, bad values refused. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { sfipArgs, spawnServe, type SpawnedServe } from '../api/spawn-serve.js';

const run = promisify(execFile);
type Row = { resource: string; used?: number; limit: number; reserved?: number };

describe('sfip quota', { timeout: 120_000 }, () => {
  let server: SpawnedServe;
  let alice: string;

  const sfip = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const [command, full] = sfipArgs(['--url', server.url, ...args]);
    try {
      const { stdout, stderr } = await run(command, full, { env: server.env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof e.code === 'number' ? e.code : -1,
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      };
    }
  };
  const json = async (...args: string[]): Promise<Row[]> => {
    const result = await sfip(...args, '--json');
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as Row[];
  };
  const limitOf = (rows: Row[], resource: string) => rows.find((r) => r.resource === resource)?.limit;

  before(async () => {
    server = await spawnServe(['--no-agent']);
    const [command, args] = sfipArgs(['token', 'create', '--project', 'alice', '--json']);
    alice = String(
      (JSON.parse((await run(command, args, { env: server.env })).stdout) as { token: string }).token,
    );
  });
  after(async () => {
    await server?.stop();
  });

  it('shows limits and usage, sets some limits as admin, and resets them', async () => {
    const shown = await json('quota', 'show', 'alice');
    assert.deepEqual(
      shown.find((r) => r.resource === 'floatingip'),
      {
        resource: 'floatingip',
        used: 0,
        limit: 50,
        reserved: 0,
      },
    );
    const set = await json('quota', 'set', 'alice', '--floating-ips', '3', '--routers', '-1');
    assert.equal(limitOf(set, 'floatingip'), 3);
    assert.equal(limitOf(set, 'router'), -1);
    assert.equal(limitOf(set, 'network'), 100);
    // The project sees its own (no argument: the token's project), with a network it made counted.
    const made = await sfip('--token', alice, 'network', 'create', 'n1');
    assert.equal(made.code, 0, made.stderr);
    const own = await json('--token', alice, 'quota', 'show');
    assert.deepEqual(
      own.find((r) => r.resource === 'network'),
      { resource: 'network', used: 1, limit: 100, reserved: 0 },
    );
    assert.equal(limitOf(own, 'floatingip'), 3);
    assert.equal((await sfip('quota', 'reset', 'alice')).code, 0);
    assert.equal(limitOf(await json('quota', 'show', 'alice'), 'floatingip'), 50);
  });

  it('refuses a project token, bad values and an empty set with a message and a non-zero exit', async () => {
    const asAlice = await sfip('--token', alice, 'quota', 'set', 'alice', '--floating-ips', '1000');
    assert.notEqual(asAlice.code, 0);
    assert.match(asAlice.stderr, /Only admin can view or configure quota/);
    const other = await sfip('--token', alice, 'quota', 'show', 'admin');
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /another tenant/);
    for (const [args, message] of [
      [['--floating-ips', '-2'], /'-2' is not a quota/],
      [['--floating-ips', 'lots'], /'lots' is not a quota/],
      [[], /Nothing to set/],
    ] as const) {
      const result = await sfip('quota', 'set', 'alice', ...args);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
    }
    const badProject = await sfip('quota', 'show', 'no/such');
    assert.notEqual(badProject.code, 0);
    assert.match(badProject.stderr, /'no\/such' is not a valid project id/);
    assert.equal(limitOf(await json('quota', 'show', 'alice'), 'floatingip'), 50);
  });
});
