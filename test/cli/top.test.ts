import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sfip, startServe, type ServeProcess } from '../support/serve-process.js';

const TOKEN = 'test-dashboard-token-top-0123456789';

describe('sfip top', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-top-'));
  let serve: ServeProcess;
  const cli = (...args: string[]) => sfip('--url', serve.url, ...args);

  before(async () => {
    // The fake backend: routers need no namespace, and nothing touches the kernel.
    serve = await startServe(stateDir, ['--backend', 'fake', '--dashboard-token', TOKEN]);
    for (const args of [
      ['network', 'create', 'public', '--external'],
      ['subnet', 'create', 'pub', '--network', 'public', '--subnet-range', '203.0.113.0/24'],
      // Two routers made in the same second: their UUIDv7 ids share their first 8 characters.
      [
        'router',
        'create',
        'alpha',
        '--namespace',
        'qrouter-a',
        '--gateway-device',
        'qg-a',
        '--external-network',
        'public',
      ],
      [
        'router',
        'create',
        'beta',
        '--namespace',
        'qrouter-b',
        '--gateway-device',
        'qg-b',
        '--external-network',
        'public',
      ],
    ]) {
      const r = await cli(...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  });
  after(async () => {
    await serve.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('--router takes a name and shows only that router; an unknown one lists the routers', async () => {
    const only = await cli(
      'top',
      '--dashboard-token',
      TOKEN,
      '--once',
      '--interval',
      '200ms',
      '--router',
      'beta',
    );
    assert.equal(only.code, 0, only.stderr);
    assert.match(only.stdout, /router beta/);
    assert.doesNotMatch(only.stdout, /router alpha/);
    assert.match(only.stdout, /q quits/);
    const ghost = await cli('top', '--dashboard-token', TOKEN, '--once', '--router', 'ghost');
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /No router 'ghost'; routers: (alpha, beta|beta, alpha)/);
  });

  it('names routers in full, never by an 8-character id prefix', async () => {
    const all = await cli('top', '--dashboard-token', TOKEN, '--once', '--interval', '200ms');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /router alpha/);
    assert.match(all.stdout, /router beta/);
    // Events name routers by name (the reconcile of each, at start-up or on creation).
    assert.doesNotMatch(all.stdout, /\s[0-9a-f]{8}\s{2}/);
  });
});
