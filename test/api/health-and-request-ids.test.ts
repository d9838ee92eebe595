import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { buildApi } from '../../src/api/index.js';
import { agentReadiness, ReconcileHistory } from '../../src/metrics/index.js';
import { SqliteStore } from '../../src/store/index.js';

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('request ids', () => {
  it('keeps a caller’s X-Request-Id, returns it, and logs the request once with it', async () => {
    const { log, lines } = capturedLogger();
    const app = await buildApi({ store: new SqliteStore({ path: ':memory:' }), logger: log, auth: 'none' });
    const res = await app.inject({ url: '/v2.0/networks', headers: { 'x-request-id': 'trace-42.a' } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-request-id'], 'trace-42.a');
    const mine = lines.filter((l) => l.reqId === 'trace-42.a');
    // One line per request, with what an operator needs from it.
    assert.deepEqual(
      mine.map((l) => [l.msg, l.method, l.url, l.statusCode]),
      [['request', 'GET', '/v2.0/networks', 200]],
    );
    assert.equal(typeof mine[0]!.responseTimeMs, 'number');
  });

  it('replaces a missing or unsafe X-Request-Id with a new UUID', async () => {
    const app = await buildApi({ store: new SqliteStore({ path: ':memory:' }), logger: false });
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const headers of [
      {},
      { 'x-request-id': 'has spaces\nand a newline' },
      { 'x-request-id': 'x'.repeat(200) },
    ]) {
      const res = await app.inject({ url: '/healthz', headers });
      assert.match(String(res.headers['x-request-id']), uuid);
    }
  });
});

describe('readiness', () => {
  it('is 503 with the reason while the store cannot be read', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const app = await buildApi({ store, logger: false });
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
    await store.close();
    const res = await app.inject({ url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.match((res.json() as { detail: string }).detail, /^store unreachable: /);
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'alive, only not ready');
  });

  it('passes the store’s routers to the readiness check', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    let seen: readonly string[] = ['unset'];
    const app = await buildApi({
      store,
      logger: false,
      ready: (ids) => ((seen = ids), { ready: false, detail: 'waiting' }),
    });
    const res = await app.inject({ url: '/readyz' });
    assert.deepEqual([res.statusCode, res.json()], [503, { status: 'not ready', detail: 'waiting' }]);
    assert.deepEqual(seen, []);
  });

  it('waits until each router has been reconciled once; a failing router is not ready, named with its reason', () => {
    const history = new ReconcileHistory();
    const pass = (routerId: string, error?: string) =>
      history.record({
        routerId,
        cause: 'startup',
        durationMs: 1,
        changed: !error,
        rebuilt: false,
        drifted: false,
        added: 0,
        removed: 0,
        conntrackDeleted: 0,
        ...(error !== undefined && { error }),
      });
    assert.deepEqual(agentReadiness(history, true, ['a', 'b']), {
      ready: false,
      detail: 'not yet reconciled: a, b',
    });
    pass('a');
    assert.equal(
      agentReadiness(history, false, ['a']).ready,
      false,
      'not before the agent finished starting',
    );
    assert.equal(agentReadiness(history, true, ['a', 'b']).ready, false);
    pass('b', 'network namespace qrouter-2 does not exist');
    assert.deepEqual(agentReadiness(history, true, ['a', 'b']), {
      ready: false,
      detail: '2 router(s) reconciled; failing: b (network namespace qrouter-2 does not exist)',
    });
    pass('b');
    assert.deepEqual(agentReadiness(history, true, ['a', 'b']), {
      ready: true,
      detail: '2 router(s) reconciled',
    });
    assert.deepEqual(agentReadiness(history, true, []), { ready: true, detail: '0 router(s) reconciled' });
  });
});
