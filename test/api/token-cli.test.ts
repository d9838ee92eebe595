import assert from 'node:assert/strict';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { sfipArgs, spawnServe, type SpawnedServe } from './spawn-serve.js';

const run = promisify(execFile);
type Json = Record<string, unknown>;

describe('sfip CLI and tokens: local admin token, token create/list/revoke, --token, SFIP_TOKEN, --token-file', () => {
  // SFIP_TOKEN_FILE is --token-file's default, so the flag covers it.
  let server: SpawnedServe;
  const empty = mkdtempSync(join(tmpdir(), 'ta-empty-'));

  before(async () => {
    server = await spawnServe(['--no-agent']);
  });
  after(async () => {
    await server?.stop();
    rmSync(empty, { recursive: true, force: true });
  });

  /** Runs the sfip CLI from source; env defaults to none of the serve's directories. */
  const sfip = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const [command, argv] = sfipArgs(args);
    const base: NodeJS.ProcessEnv = { ...process.env, SFIP_RUNTIME_DIR: empty, SFIP_STATE_DIR: empty };
    delete base.SFIP_TOKEN;
    try {
      const { stdout, stderr } = await run(command, argv, { env: { ...base, ...env } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const ok = async (args: string[], env?: NodeJS.ProcessEnv) => {
    const r = await sfip(args, env);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('finds the admin token serve published for its loopback port, or the one in the state directory', async () => {
    const published = { SFIP_RUNTIME_DIR: join(server.stateDir, 'run') };
    await ok(['--url', server.url, 'network', 'create', 'public', '--external'], published);
    await ok(
      [
        '--url',
        server.url,
        'subnet',
        'create',
        'public-v4',
        '--network',
        'public',
        '--cidr',
        '203.0.113.0/24',
      ],
      published,
    );
    const listed = (
      JSON.parse(
        await ok(['--url', server.url, '--json', 'network', 'list'], { SFIP_STATE_DIR: server.stateDir }),
      ) as { networks: Json[] }
    ).networks;
    assert.deepEqual(
      listed.map((n) => n.name),
      ['public'],
    );
  });

  it('without any token, fails with 401 and says how to give one', async () => {
    const r = await sfip(['--url', server.url, 'fip', 'list']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTPUnauthorized/);
    assert.match(r.stderr, /SFIP_TOKEN/);
  });

  it('creates a project token that sees only its project, lists tokens without secrets, and revokes', async () => {
    const created = JSON.parse(
      await ok(['token', 'create', '--project', 'alice', '--description', 'ci', '--json'], {
        SFIP_STATE_DIR: server.stateDir,
      }),
    ) as Json;
    const token = String(created.token);
    assert.match(token, /^sfip_[0-9a-f]{16}_/);
    assert.equal(created.project_id, 'alice');
    assert.equal(created.is_admin, false);

    // A project finds the external network by name, as the openstack CLI does.
    await ok(['--url', server.url, '--token', token, 'fip', 'create', 'public', '--description', 'mine']);
    const file = join(empty, 'alice.token');
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    const viaEnv = (
      JSON.parse(await ok(['--url', server.url, '--json', 'fip', 'list'], { SFIP_TOKEN: token })) as {
        floatingips: Json[];
      }
    ).floatingips;
    assert.deepEqual(
      viaEnv.map((f) => [f.project_id, f.description]),
      [['alice', 'mine']],
    );
    const viaFile = (
      JSON.parse(await ok(['--url', server.url, '--token-file', file, '--json', 'fip', 'list'])) as {
        floatingips: Json[];
      }
    ).floatingips;
    assert.deepEqual(
      viaFile.map((f) => f.id),
      viaEnv.map((f) => f.id),
    );

    // The dashboard shows every project: an admin API token opens its data, a project token does not.
    const dashboard = (t: string) =>
      fetch(`${server.url}/dashboard/api/state`, { headers: { 'x-auth-token': t } }).then((r) => r.status);
    assert.equal(await dashboard(server.adminToken!), 200);
    assert.equal(await dashboard(token), 401);

    const tokens = await ok(['token', 'list', '--json'], { SFIP_STATE_DIR: server.stateDir });
    // sfip_ + 16 hex + _ : the secret is the rest (base64url, which may itself contain _).
    assert.ok(!tokens.includes(token.slice(22)), 'token list must not show secrets');
    const rows = JSON.parse(tokens) as Json[];
    assert.deepEqual(rows.map((r) => r.project_id).sort(), ['admin', 'alice']);

    await ok(['token', 'revoke', String(created.id)], { SFIP_STATE_DIR: server.stateDir });
    const refused = await sfip(['--url', server.url, '--token', token, 'fip', 'list']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /401|HTTPUnauthorized/);
    const again = await sfip(['token', 'revoke', String(created.id)], { SFIP_STATE_DIR: server.stateDir });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /No token with id/);
  });

  it('refuses a project id that is not a safe name, naming it', async () => {
    const r = await sfip(['token', 'create', '--project', '../etc'], { SFIP_STATE_DIR: server.stateDir });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /'\.\.\/etc' is not a valid project id/);
  });

  it('removes the published token when serve stops (last: it stops the server)', async () => {
    const published = join(server.stateDir, 'run', `api-${new URL(server.url).port}.token`);
    assert.ok(existsSync(published));
    await server.terminate();
    assert.ok(existsSync(server.stateDir), 'the state directory outlives the server');
    assert.ok(!existsSync(published), `${published} is still there`);
  });
});
