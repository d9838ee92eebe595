import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { AuditLog, buildApi, MAX_JSON_DEPTH, nestsDeeperThan, parsePublicUrl } from '../../src/api/index.js';
import { ProgrammedRouters } from '../../src/agent/programmed-routers.js';
import { acquireAgentLock } from '../../src/daemon/agent-lock.js';
import { sameToken } from '../../src/dashboard/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { apiFixture, Caller, type ApiFixture, type Json, type Project } from './fixture.js';

const errorOf = (body: Json) => body.NeutronError as { type: string; message: string };

describe('issue 14 low findings', () => {
  let f: ApiFixture;
  let alpha: Project;

  before(async () => {
    f = await apiFixture();
    alpha = await f.project('alpha', '10.1.0.0/24');
  });
  after(() => f.close());

  describe('deeply nested JSON is a 400 NeutronError before anything recurses on it', () => {
    it('refuses 100,000 nested brackets (once a stack overflow and a 500), and changes nothing', async () => {
      const before = await f.latestChange();
      for (const inner of [
        '['.repeat(100_000) + ']'.repeat(100_000),
        '{"a":'.repeat(30_000) + '1' + '}'.repeat(30_000),
      ]) {
        const reply = await alpha.caller.call('POST', '/v2.0/networks', `{"network": ${inner}}`, {
          'content-type': 'application/json',
        });
        assert.equal(reply.status, 400);
        assert.equal(errorOf(reply.body).type, 'BadRequest');
        assert.match(errorOf(reply.body).message, new RegExp(`deeper than ${MAX_JSON_DEPTH} levels`));
      }
      // Just past the limit is refused too; a body as deep as Neutron's and brackets inside strings are fine.
      const deep = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
      const justOver = await alpha.caller.call(
        'PUT',
        `/v2.0/routers/${alpha.routerId}`,
        `{"router": ${deep}}`,
        {
          'content-type': 'application/json',
        },
      );
      assert.equal(justOver.status, 400);
      assert.equal(await f.latestChange(), before);
      const named = await alpha.caller.post('/v2.0/networks', { network: { name: '[[[[{{{{'.repeat(30) } });
      assert.equal(named.status, 201);
    });

    it('counts depth without recursing, skipping strings and escaped quotes', () => {
      assert.equal(nestsDeeperThan('[[[]]]', 3), false);
      assert.equal(nestsDeeperThan('[[[[]]]]', 3), true);
      assert.equal(nestsDeeperThan('{"a":"[[[[[[\\"[[[["}', 1), false);
      assert.equal(
        nestsDeeperThan('{"a":"\\\\",  "b":[[]]}', 2),
        true,
        'an escaped backslash ends no string',
      );
      assert.equal(nestsDeeperThan('['.repeat(1_000_000), 32), true);
    });
  });

  describe('fields on show and list are attribute names, never prototype keys', () => {
    it('ignores __proto__, constructor and unknown names, as Neutron ignores unknown fields', async () => {
      const url = `/v2.0/networks/${alpha.networkId}`;
      for (const fields of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'nonexistent']) {
        const reply = await alpha.caller.get(`${url}?fields=${fields}`);
        assert.equal(reply.status, 200, fields);
        assert.deepEqual(reply.body, { network: {} }, fields);
      }
      const mixed = await alpha.caller.get(`${url}?fields=__proto__&fields=id,constructor`);
      assert.deepEqual(mixed.body, { network: { id: alpha.networkId } });
      const listed = await alpha.caller.get('/v2.0/networks?fields=__proto__&fields=name');
      assert.equal(listed.status, 200);
      for (const n of listed.body.networks as Json[]) assert.deepEqual(Object.keys(n), ['name']);
    });
  });

  describe('links come from the configured endpoint, never from the Host header', () => {
    const hostile = {
      host: 'evil.example:666',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'gopher',
    };

    it('uses --public-url for pagination and version discovery', async () => {
      const store = new SqliteStore({ path: ':memory:' });
      const app = await buildApi({
        store,
        logger: false,
        auth: 'none',
        docs: false,
        publicUrl: () => 'https://sfip.example:9696',
      });
      try {
        const caller = new Caller(app, undefined);
        for (let i = 0; i < 3; i++) await caller.create('networks', 'network', { name: `n${i}` });
        const page = await caller.call('GET', '/v2.0/networks?limit=1', undefined, hostile);
        const links = page.body.networks_links as { href: string }[];
        assert.ok(links.length > 0);
        for (const link of links) assert.match(link.href, /^https:\/\/sfip\.example:9696\/v2\.0\/networks\?/);
        const versions = await caller.call('GET', '/', undefined, hostile);
        assert.doesNotMatch(JSON.stringify(versions.body), /evil|gopher/);
        assert.match(JSON.stringify(versions.body), /https:\/\/sfip\.example:9696\/v2\.0\//);
        const v2 = await caller.call('GET', '/v2.0', undefined, hostile);
        assert.doesNotMatch(JSON.stringify(v2.body), /evil|gopher/);
      } finally {
        await app.close();
        await store.close();
      }
    });

    it('without one, still never reflects Host', async () => {
      const page = await alpha.caller.call('GET', '/v2.0/ports?limit=1', undefined, hostile);
      const text = JSON.stringify(page.body.ports_links);
      assert.match(text, /http:\/\/localhost:9696\/v2\.0\/ports/);
      assert.doesNotMatch(text, /evil|gopher/);
    });

    it('checks --public-url', () => {
      assert.equal(parsePublicUrl('https://sfip.example:9696/'), 'https://sfip.example:9696');
      assert.equal(parsePublicUrl('http://192.0.2.10/neutron/'), 'http://192.0.2.10/neutron');
      for (const bad of [
        'sfip.example',
        'ftp://sfip.example',
        'https://u:p@sfip.example',
        'https://a/?x=1',
        'https://a/#x',
      ]) {
        assert.throws(() => parsePublicUrl(bad), /is not a valid --public-url/, bad);
      }
    });
  });

  describe('state files are 0600 whatever the directory and umask', () => {
    let dir: string;
    const modeOf = (path: string) => statSync(path).mode & 0o777;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'sfip-modes-'));
      chmodSync(dir, 0o755); // an existing, world-readable state directory: the finding
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('sfip.db and its -wal and -shm, new or left 0644 by an older sfip', async () => {
      const oldUmask = process.umask(0o022);
      try {
        const fresh = join(dir, 'sfip.db');
        const store = new SqliteStore({ path: fresh });
        await store.update((tx) => tx.lookup('nothing'));
        for (const path of [fresh, `${fresh}-wal`, `${fresh}-shm`]) assert.equal(modeOf(path), 0o600, path);
        await store.close();
        const old = join(dir, 'old.db');
        await new SqliteStore({ path: old }).close();
        for (const suffix of ['', '-wal', '-shm'])
          writeFileSync(`${old}${suffix}`, '', { flag: 'a', mode: 0o644 });
        for (const suffix of ['', '-wal', '-shm']) chmodSync(`${old}${suffix}`, 0o644);
        const reopened = new SqliteStore({ path: old });
        for (const suffix of ['', '-wal', '-shm'])
          assert.equal(modeOf(`${old}${suffix}`), 0o600, `old.db${suffix}`);
        await reopened.close();
      } finally {
        process.umask(oldUmask);
      }
    });

    it('the audit log, the agent lock and pid, the programmed-routers record', () => {
      const oldUmask = process.umask(0o022);
      try {
        const audit = join(dir, 'audit.log');
        writeFileSync(audit, '', { mode: 0o644 });
        chmodSync(audit, 0o644);
        new AuditLog(audit).close();
        assert.equal(modeOf(audit), 0o600);
        const lock = acquireAgentLock(dir);
        assert.equal(modeOf(join(dir, 'agent.lock')), 0o600);
        assert.equal(modeOf(join(dir, 'agent.pid')), 0o600);
        lock.release();
        const record = join(dir, 'programmed-routers.json');
        new ProgrammedRouters(record).save([]);
        assert.equal(modeOf(record), 0o600);
      } finally {
        process.umask(oldUmask);
      }
    });
  });

  describe('the dashboard token comparison', () => {
    it('answers right for equal, different, longer, shorter and missing tokens', () => {
      const token = 'a-very-secret-token-123';
      assert.equal(sameToken(token, token), true);
      for (const other of ['a-very-secret-token-124', 'a-very-secret-token-1234', 'a', '', undefined]) {
        assert.equal(sameToken(other, token), false, String(other));
      }
    });

    it('always compares two 32-byte digests with timingSafeEqual, even when the lengths differ', () => {
      const spy = mock.method(crypto, 'timingSafeEqual');
      syncBuiltinESMExports();
      try {
        for (const presented of ['x', 'a-very-secret-token-123-and-more', undefined]) {
          sameToken(presented, 'a-very-secret-token-123');
        }
        assert.equal(spy.mock.callCount(), 3, 'no early return before the comparison');
        for (const call of spy.mock.calls) {
          assert.deepEqual(
            call.arguments.map((b) => (b as Buffer).length),
            [32, 32],
          );
        }
      } finally {
        spy.mock.restore();
        syncBuiltinESMExports();
      }
    });
  });
});
