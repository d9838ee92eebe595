import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { run as runProgram } from '../../src/exec/run.js';
import { spawnProgram } from '../../src/exec/spawn.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli.ts');

/** The README's "Using it" block: the first sh block after that heading, one command per line. */
export function usingItBlock(readme: string): string[] {
  const section = readme.slice(readme.indexOf('## Using it'));
  const block = /```sh\n([^]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README has no sh block under "## Using it"');
  return block.split('\n').filter((line) => line.trim() !== '');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function bash(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnProgram('bash', ['-c', script], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('README "Using it"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-readme-'));
  // Its own namespace name, so the run touches nothing of the machine's or of a parallel run.
  const namespace = `qrouter-rd${process.pid % 100000}`;
  let serve: ChildProcess | undefined;

  after(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((resolve) => serve!.once('exit', resolve));
      serve.kill('SIGTERM');
      await exited;
    }
    await runProgram('ip', ['netns', 'del', namespace]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs line by line against a fresh daemon, every line succeeding', async () => {
    const lines = usingItBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    assert.ok(lines.length > 10, 'the block is there');
    const port = await freePort();
    // `sfip` as the README calls it: this checkout's CLI through tsx (no build needed), as a shell function, so
    // the program-coverage record sees node (a base program) rather than a wrapper file of its own.
    const sfipFunction = `sfip() { "${process.execPath}" --import tsx "${CLI}" "$@"; }\n`;
    const stateDir = join(dir, 'state');
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.SFIP_TOKEN;
    delete env.SFIP_TOKEN_FILE;
    const seen = { export: false, serve: false, kill: false, namespace: false };
    for (const original of lines) {
      const line = original.replaceAll('qrouter-r1', namespace);
      if (line.startsWith('export ')) {
        // The documented variables, pointed at this run's state directory and port.
        assert.match(line, /SFIP_STATE_DIR=\/var\/lib\/sfip/);
        assert.match(line, /SFIP_URL=http:\/\/127\.0\.0\.1:9696/);
        env.SFIP_STATE_DIR = stateDir;
        env.SFIP_URL = `http://127.0.0.1:${port}`;
        seen.export = true;
        continue;
      }
      if (/^sfip serve\b.*&/.test(line)) {
        assert.ok(seen.export, 'SFIP_URL and SFIP_STATE_DIR are set before serve');
        const args = line.replace(/&.*$/, '').trim().split(/\s+/).slice(1);
        serve = spawnProgram(
          process.execPath,
          ['--import', 'tsx', CLI, ...args, '--port', String(port), '--no-garp'],
          { env, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let log = '';
        serve.stdout!.on('data', (b: Buffer) => (log += b.toString()));
        serve.stderr!.on('data', (b: Buffer) => (log += b.toString()));
        const deadline = Date.now() + 60_000;
        for (;;) {
          const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
          if (up) break;
          assert.ok(serve.exitCode === null, `serve exited: ${log}`);
          assert.ok(Date.now() < deadline, `serve did not come up: ${log}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        seen.serve = true;
        continue;
      }
      if (/^kill %1\b/.test(line)) {
        assert.ok(serve, 'kill %1 stops the serve started above');
        const exited = new Promise<number | null>((resolve) => serve!.once('exit', resolve));
        serve!.kill('SIGTERM');
        assert.equal(await exited, 0, 'serve stops cleanly');
        seen.kill = true;
        continue;
      }
      if (line.includes(namespace)) seen.namespace = true;
      const r = await bash(sfipFunction + line, env);
      assert.equal(r.code, 0, `README line failed (exit ${r.code}):\n  ${original}\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stderr, /deprecated/, `README uses a deprecated flag: ${original}`);
      if (/fip create .*--wait/.test(line)) assert.match(r.stdout, /status\s.*ACTIVE/);
      if (line.startsWith('sfip --json fip list')) {
        const shaped = JSON.parse(r.stdout) as { floatingips: { port_id: unknown }[] };
        assert.equal(shaped.floatingips.length, 1);
        assert.equal(shaped.floatingips[0]!.port_id, null, 'unset disassociated it');
      }
    }
    assert.deepEqual(seen, { export: true, serve: true, kill: true, namespace: true });
    // It removed what it created: the namespace is gone.
    const namespaces = (await runProgram('ip', ['netns', 'list'])).stdout;
    assert.doesNotMatch(namespaces, new RegExp(`^${namespace}\\b`, 'm'));
  });
});
