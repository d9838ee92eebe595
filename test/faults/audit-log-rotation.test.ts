/**
 * The audit log stays bounded (issue 14): rotation by size with a bounded number of old files, whole lines in every
 * file, 0600 throughout; and a logrotate-style move followed by SIGHUP continues in a new file at the same path.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { AuditEntry } from '../../src/api/index.js';
import { serve } from '../../src/daemon/serve.js';
import { RotatingLogFile } from '../../src/fs/rotating-log-file.js';
import { request, spawnServe } from '../api/spawn-serve.js';
import { sfip, waitFor } from '../support/serve-process.js';

const dir = mkdtempSync(join(tmpdir(), 'sfip-audit-rotation-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const linesOf = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

describe('RotatingLogFile', () => {
  it('rotates before a line would pass the size, keeps N old files of whole lines, all 0600', () => {
    const path = join(dir, 'unit', 'log');
    // The class expects its directory to exist (AuditLog makes it).
    mkdirSync(join(dir, 'unit'), { recursive: true });
    const log = new RotatingLogFile(path, { maxBytes: 1000, files: 3 });
    const written: string[] = [];
    for (let i = 0; i < 200; i++) {
      const line = JSON.stringify({ n: i, pad: 'x'.repeat(i % 90) });
      written.push(line);
      log.writeLine(line);
    }
    log.close();
    const kept = [`${path}.3`, `${path}.2`, `${path}.1`, path];
    for (const p of kept) {
      assert.ok(existsSync(p), `${p} missing`);
      assert.ok(statSync(p).size <= 1000, `${p} is ${statSync(p).size} bytes`);
      assert.equal(statSync(p).mode & 0o777, 0o600, p);
    }
    assert.ok(!existsSync(`${path}.4`), 'more old files than configured');
    // Oldest to newest, the kept files hold the last lines written, each whole, in order.
    const all = kept.flatMap(linesOf);
    assert.deepEqual(all, written.slice(written.length - all.length));
    assert.ok(all.length >= 20);
  });

  it('reopen() continues at the same path after the file was moved away', () => {
    const path = join(dir, 'unit', 'reopen');
    const log = new RotatingLogFile(path, { maxBytes: 0, files: 1 });
    log.writeLine('first');
    renameSync(path, `${path}.moved`);
    log.writeLine('second'); // still the moved file, as with any log until it is told
    log.reopen();
    log.writeLine('third');
    log.close();
    assert.deepEqual(linesOf(`${path}.moved`), ['first', 'second']);
    assert.deepEqual(linesOf(path), ['third']);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it('refuses a number of files that is not 1 to 1000', () => {
    for (const files of [0, -1, 1.5, 1001]) {
      assert.throws(
        () => new RotatingLogFile(join(dir, 'unit', 'bad'), { maxBytes: 10, files }),
        /not a number of rotated files/,
      );
    }
  });
});

describe('the audit log of sfip serve', { timeout: 120_000 }, () => {
  it('rotates by size and keeps --audit-log-files old files', async () => {
    const stateDir = join(dir, 'rotate');
    const server = await serve({
      host: '127.0.0.1',
      port: 0,
      stateDir,
      backend: 'fake',
      resyncIntervalMs: 60_000,
      garp: false,
      agent: false,
      log: pino({ level: 'silent' }),
      auditLogRotation: { maxBytes: 4096, files: 2 },
    });
    const path = join(stateDir, 'audit.log');
    try {
      for (let i = 0; i < 60; i++) {
        const reply = await request(server.url, server.adminToken, 'POST', '/v2.0/networks', {
          network: { name: `n${i}` },
        });
        assert.equal(reply.status, 201);
      }
    } finally {
      await server.close();
    }
    assert.ok(!existsSync(`${path}.3`));
    const files = [`${path}.2`, `${path}.1`, path];
    for (const p of files) assert.ok(statSync(p).size <= 4096, `${p}: ${statSync(p).size} bytes`);
    const names = files
      .flatMap(linesOf)
      .map((l) => JSON.parse(l) as AuditEntry)
      .map((e) => e.path + ' ' + e.status);
    assert.ok(names.length >= 20 && names.length < 60, `${names.length} lines kept`);
    assert.ok(names.every((n) => n === '/v2.0/networks 201'));
  });

  it('reopens the audit log on SIGHUP, after logrotate moved it away', { timeout: 90_000 }, async () => {
    const server = await spawnServe(['--no-agent']);
    try {
      const path = join(server.stateDir, 'audit.log');
      const create = async (name: string) =>
        assert.equal(
          (await request(server.url, server.adminToken, 'POST', '/v2.0/networks', { network: { name } }))
            .status,
          201,
        );
      await create('before-rotation');
      renameSync(path, `${path}.1`);
      server.signal('SIGHUP');
      await waitFor('the reopen to be logged', async () =>
        server.logs.some((l) => l.includes('SIGHUP: reopened the audit log')) ? true : undefined,
      );
      await create('after-rotation');
      const resourceNames = async (p: string) =>
        Promise.all(
          linesOf(p).map(async (l) => {
            const id = (JSON.parse(l) as AuditEntry).resourceId!;
            const shown = await request(server.url, server.adminToken, 'GET', `/v2.0/networks/${id}`);
            return (shown.body.network as { name: string }).name;
          }),
        );
      assert.deepEqual(await resourceNames(`${path}.1`), ['before-rotation']);
      assert.deepEqual(await resourceNames(path), ['after-rotation']);
      assert.equal(statSync(path).mode & 0o777, 0o600);
    } finally {
      await server.stop();
    }
  });

  it('refuses bad --audit-log-files and --audit-log-max-size values, naming them', async () => {
    for (const [option, value] of [
      ['--audit-log-files', '0'],
      ['--audit-log-files', 'many'],
      ['--audit-log-max-size', '-5'],
      ['--audit-log-max-size', '10GB'],
    ] as const) {
      const result = await sfip('serve', '--state-dir', join(dir, 'never'), option, value);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, new RegExp(`'${value}' is not a`));
    }
    assert.ok(!existsSync(join(dir, 'never')), 'a refused option created the state directory');
  });
});
