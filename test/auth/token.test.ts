import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ensureLocalAdminToken,
  hashSecret,
  issueToken,
  tokenIdOf,
  verifyToken,
} from '../../src/auth/index.js';
import { SfipError } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/index.js';

describe('API tokens', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ta-token-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stores only the SHA-256 of the secret, and verifies the token text', async () => {
    const store = new SqliteStore({ path: join(dir, 'a.db') });
    const { token, record } = await issueToken(store.tokens, { projectId: 'alice', isAdmin: false });
    assert.match(token, /^sfip_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(tokenIdOf(token), record.id);
    const secret = token.split('_').slice(2).join('_');
    assert.equal(record.secretHash, hashSecret(secret));
    await store.close();
    // The secret appears nowhere in the database file, only its hash does.
    const bytes =
      readFileSync(join(dir, 'a.db')).toString('latin1') +
      readFileSync(join(dir, 'a.db-wal'), { flag: 'a+' }).toString('latin1');
    assert.ok(!bytes.includes(secret));
    const reopened = new SqliteStore({ path: join(dir, 'a.db') });
    const verified = await verifyToken(reopened.tokens, token);
    assert.equal(verified?.projectId, 'alice');
    assert.equal(verified?.isAdmin, false);
    await reopened.close();
  });

  it('refuses a wrong secret, an unknown id, a malformed text, a revoked and an expired token', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const { token, record } = await issueToken(store.tokens, { projectId: 'p1', isAdmin: true });
    const wrongSecret = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    assert.equal(await verifyToken(store.tokens, wrongSecret), undefined);
    assert.equal(await verifyToken(store.tokens, token.replace(record.id, '0123456789abcdef')), undefined);
    for (const junk of ['', 'notused', `${token} `, token.toUpperCase()]) {
      assert.equal(await verifyToken(store.tokens, junk), undefined, junk);
    }
    assert.ok(await verifyToken(store.tokens, token));
    assert.equal(await store.tokens.revokeToken(record.id), true);
    assert.equal(await verifyToken(store.tokens, token), undefined);
    assert.equal(await store.tokens.revokeToken(record.id), false);

    const now = new Date('2026-01-01T00:00:00Z');
    const short = await issueToken(store.tokens, { projectId: 'p1', isAdmin: false, ttlMs: 60_000, now });
    assert.ok(await verifyToken(store.tokens, short.token, new Date('2026-01-01T00:00:59Z')));
    assert.equal(await verifyToken(store.tokens, short.token, new Date('2026-01-01T00:01:00Z')), undefined);
    await store.close();
  });

  it('refuses project ids that are not safe names, naming the value', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    for (const bad of ['', '../x', 'a b', '-lead', 'x'.repeat(65)]) {
      await assert.rejects(issueToken(store.tokens, { projectId: bad, isAdmin: false }), (e: unknown) => {
        assert.ok(e instanceof SfipError);
        assert.match(e.message, /is not a valid project id/);
        return true;
      });
    }
    assert.deepEqual(await store.tokens.listTokens(), []);
    await store.close();
  });

  it('bootstraps one local admin token, reuses it while valid, and replaces it once revoked', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const first = await ensureLocalAdminToken(store.tokens, dir);
    assert.equal(first.created, true);
    assert.equal(readFileSync(first.path, 'utf8').trim(), first.token);
    assert.equal(statSync(first.path).mode & 0o777, 0o600);
    const again = await ensureLocalAdminToken(store.tokens, dir);
    assert.deepEqual(again, { ...first, created: false });
    assert.equal((await store.tokens.listTokens()).length, 1);
    await store.tokens.revokeToken(tokenIdOf(first.token)!);
    const replaced = await ensureLocalAdminToken(store.tokens, dir);
    assert.equal(replaced.created, true);
    assert.notEqual(replaced.token, first.token);
    assert.equal((await verifyToken(store.tokens, replaced.token))?.isAdmin, true);
    await store.close();
  });
});
