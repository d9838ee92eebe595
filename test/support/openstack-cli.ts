/**
 * Debian's real `openstack` CLI against a spawned sfip serve. Shared by the test/api/openstack-*.test.ts files
 * so they all drive the CLI the same way: keystoneauth's admin_token plugin (X-Auth-Token, no Keystone) or no
 * auth, no clouds.yaml (OS_CLOUD empty), and a failure returned as a result rather than thrown.
 */
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { sfipArgs, type SpawnedServe } from '../api/spawn-serve.js';

const run = promisify(execFile);

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `openstack` with the given token (admin_token auth) or, with none, `--os-auth-type none`. */
export async function openstack(
  endpoint: string,
  token: string | undefined,
  args: string[],
): Promise<CliResult> {
  const auth =
    token === undefined ? ['--os-auth-type', 'none'] : ['--os-auth-type', 'admin_token', '--os-token', token];
  try {
    const { stdout, stderr } = await run('openstack', [...auth, '--os-endpoint', endpoint, ...args], {
      timeout: 60_000,
      env: { ...process.env, OS_CLOUD: '', HOME: process.env.HOME ?? '/root' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** openstack(), asserting it succeeded; `-f json` output is parsed, any other output returned as text. */
export async function openstackOk(endpoint: string, token: string, args: string[]): Promise<unknown> {
  const result = await openstack(endpoint, token, args);
  assert.equal(result.code, 0, `openstack ${args.join(' ')} failed: ${result.stderr}`);
  return args.includes('json') ? JSON.parse(result.stdout) : result.stdout;
}

/** A token for the project, made with the sfip CLI (from source) in serve's own state directory. */
export async function projectToken(
  server: SpawnedServe,
  project: string,
  extra: string[] = [],
): Promise<string> {
  const [command, args] = sfipArgs(['token', 'create', '--project', project, ...extra, '--json']);
  const { stdout } = await run(command, args, { env: server.env });
  return String((JSON.parse(stdout) as { token: unknown }).token);
}
