/**
 * Refused requests count (issue 14): a flood of unauthenticated requests from one address gets 429 with
 * Retry-After before its tokens are looked at, and grows the audit log by a bounded amount (a few lines per window,
 * then one summary line), while another address is served as usual.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { AUDIT_PATH_MAX, RefusalTracker, type AuditEntry, type AuditSummary } from '../../src/api/index.js';
import { serve, type RunningServer } from '../../src/daemon/serve.js';

const dir = mkdtempSync(join(tmpdir(), 'sfip-refusals-'));
const FLOOD = 2000;
const LONG_PATH = `/v2.0/networks/${'x'.repeat(150)}/${'y'.repeat(4000)}`;

interface Reply {
  status: number;
  retryAfter: string | undefined;
  requestId: string | undefined;
  body: string;
}

/** One request from a chosen loopback address (127.0.0.0/8 is all local on Linux). */
function send(
  url: string,
  method: string,
  path: string,
  options: { agent?: Agent; localAddress?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: hostname,
        port,
        method,
        path,
        headers: { 'content-type': 'application/json', ...options.headers },
        ...(options.agent && { agent: options.agent }),
        ...(options.localAddress && { localAddress: options.localAddress }),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            retryAfter: res.headers['retry-after'] as string,
            requestId: res.headers['x-request-id'] as string,
            body,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(method === 'GET' ? undefined : '{"network": {"name": "n"}}');
  });
}

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEntry | AuditSummary);

describe('refused requests are limited per source address', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let closed = false;
  const close = async () => {
    if (!closed) await server.close();
    closed = true;
  };
  const auditPath = join(dir, 'state', 'audit.log');

  before(async () => {
    server = await serve({
      host: '127.0.0.1',
      port: 0,
      stateDir: join(dir, 'state'),
      backend: 'fake',
      resyncIntervalMs: 60_000,
      garp: false,
      agent: false,
      log: pino({ level: 'silent' }),
      refusalLimit: { max: 200, windowMs: 10_000 },
    });
  });
  after(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`answers a flood of ${FLOOD} unauthenticated requests with 429 and grows the audit log by < 100 KB`, async (t) => {
    const sizeBefore = statSync(auditPath).size;
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const tokens = ['', `sfip_0123456789abcdef_${'A'.repeat(43)}`, 'garbage'];
    const replies = await Promise.all(
      Array.from({ length: FLOOD }, (_, i) =>
        send(server.url, 'POST', `${LONG_PATH}${i}`, {
          agent,
          headers: tokens[i % 3] ? { 'x-auth-token': tokens[i % 3]! } : {},
        }),
      ),
    );
    agent.destroy();
    const statuses = new Map<number, number>();
    for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    const limited = replies.filter((r) => r.status === 429);
    assert.ok(limited.length >= FLOOD - 400, `only ${limited.length} of ${FLOOD} limited: ${[...statuses]}`);
    // Every request is refused: the first ones by authentication (401), the rest by the limit.
    assert.equal((statuses.get(401) ?? 0) + limited.length, FLOOD, JSON.stringify([...statuses]));
    assert.ok((statuses.get(401) ?? 0) >= 200, 'the limit allows its 200 refusals first');
    const one = limited[0]!;
    assert.ok(one.requestId, 'a limited answer carries its X-Request-Id');
    assert.ok(Number(one.retryAfter) >= 1 && Number(one.retryAfter) <= 10, `Retry-After ${one.retryAfter}`);
    const error = (JSON.parse(one.body) as { NeutronError: { type: string; message: string } }).NeutronError;
    assert.equal(error.type, 'HTTPTooManyRequests');
    assert.match(error.message, /refused requests from address:127\.0\.0\.1: at most 200 every 10 s/);

    // The limit is per source address: another one is served, and an admin's read works there.
    const elsewhere = await send(server.url, 'GET', '/v2.0/networks', {
      localAddress: '127.0.0.2',
      headers: { 'x-auth-token': server.adminToken! },
    });
    assert.equal(elsewhere.status, 200);
    // ...while the flooding address is refused even with a valid token until its window ends.
    const same = await send(server.url, 'GET', '/v2.0/networks', {
      headers: { 'x-auth-token': server.adminToken! },
    });
    assert.equal(same.status, 429);

    const grown = statSync(auditPath).size - sizeBefore;
    assert.ok(grown < 100 * 1024, `the audit log grew by ${grown} bytes`);
    t.diagnostic(`statuses ${JSON.stringify([...statuses])}; audit log grew by ${grown} bytes`);
    const recorded = lines(auditPath).filter((e): e is AuditEntry => !('event' in e));
    assert.ok(recorded.length > 0 && recorded.length <= 50, `${recorded.length} lines`);
    for (const e of recorded) {
      assert.ok(e.path.length <= AUDIT_PATH_MAX + 30, `a path of ${e.path.length} characters was recorded`);
      assert.match(e.path, /\.\.\.\(4\d{3} characters\)$/);
    }

    // The window's summary line stands for every refused request not recorded one by one.
    await close();
    const summaries = lines(auditPath).filter((e): e is AuditSummary => 'event' in e);
    assert.ok(summaries.length >= 1 && summaries.length <= 3, `${summaries.length} summaries`);
    const floodRecorded = recorded.filter((e) => e.method === 'POST').length;
    const notRecorded = summaries.reduce((s, x) => s + x.notRecorded, 0);
    assert.equal(floodRecorded + notRecorded, FLOOD, 'a refused request was neither recorded nor summarised');
    assert.ok(summaries.every((s) => s.address === '127.0.0.1' && s.event === 'refusals'));
    assert.equal(
      summaries.reduce((s, x) => s + x.limited, 0),
      limited.length + 1,
      'the limited read counts too',
    );
    assert.ok(statSync(auditPath).size - sizeBefore < 100 * 1024);
  });
});

describe('RefusalTracker', () => {
  it('limits a source after its refusals, for the rest of its window only, and summarises each window', () => {
    let now = 1_000_000;
    const t = new RefusalTracker({ limit: { max: 3, windowMs: 1000 }, linesPerWindow: 2, now: () => now });
    assert.equal(t.retryAfterS('a'), 0);
    assert.deepEqual(
      ['a', 'a', 'a'].map((s) => t.refused(s, true)),
      ['line', 'line', 'summary'],
    );
    assert.equal(t.retryAfterS('a'), 1);
    assert.equal(t.retryAfterS('b'), 0, 'another source is not limited');
    t.limited('a', true);
    t.limited('a', false);
    now += 999;
    assert.deepEqual(t.sweep(), [], 'the window is still open');
    now += 1;
    assert.equal(t.retryAfterS('a'), 0, 'a new window');
    const [burst] = t.evicted.splice(0);
    assert.deepEqual(burst, {
      address: 'a',
      from: new Date(1_000_000).toISOString(),
      until: new Date(1_001_000).toISOString(),
      refused: 3,
      notRecorded: 2,
      limited: 2,
    });
    assert.equal(t.sources, 0);
  });

  it('counts but never limits without a limit, and keeps at most maxSources windows', () => {
    const t = new RefusalTracker({ limit: null, windowMs: 1000, linesPerWindow: 0, maxSources: 2 });
    for (let i = 0; i < 10; i++) assert.equal(t.refused('a', true), 'summary');
    assert.equal(t.retryAfterS('a'), 0);
    t.refused('b', true);
    t.refused('c', true);
    assert.equal(t.sources, 2);
    assert.deepEqual(
      t.evicted.map((b) => [b.address, b.notRecorded]),
      [['a', 10]],
    );
    assert.deepEqual(
      t.sweep(true).map((b) => b.address),
      ['b', 'c'],
    );
  });
});
