/**
 * Hostile clients against a real `sfip serve` (in process, fake backend): oversized bodies, clients that send
 * their request slowly or not at all, floods, plain HTTP against TLS, a non-loopback listen without auth, and
 * the audit log that records every mutating request through all of it.
 */
import assert from 'node:assert/strict';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { AuditEntry } from '../../src/api/index.js';
import { issueToken, tokenIdOf } from '../../src/auth/index.js';
import { serve, type RunningServer, type ServeOptions } from '../../src/daemon/serve.js';
import { run } from '../../src/exec/run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sfip-clients-'));
const SECRET_NAME = 'do-not-log-this-body';

function options(stateDir: string, extra: Partial<ServeOptions> = {}): ServeOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    stateDir,
    backend: 'fake',
    resyncIntervalMs: 60_000,
    garp: false,
    agent: false,
    log: pino({ level: 'silent' }),
    ...extra,
  };
}

/** Sends `head`, then `trickle` one byte at a time every `everyMs`; resolves with what came back and when the connection ended. */
function slowClient(
  port: number,
  head: string,
  trickle: string,
  everyMs: number,
): Promise<{ ms: number; response: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let response = '';
    let i = 0;
    const timer = setInterval(() => {
      if (i < trickle.length) socket.write(trickle[i++]!);
    }, everyMs);
    socket.on('connect', () => socket.write(head));
    socket.on('data', (b: Buffer) => (response += b.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ ms: performance.now() - started, response });
    });
  });
}

describe('hostile clients', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let port: number;
  const auditPath = join(dir, 'state', 'audit.log');

  before(async () => {
    server = await serve(
      options(join(dir, 'state'), {
        requestTimeoutMs: 1500,
        bodyLimit: 4096,
        rateLimit: { max: 20, windowMs: 3000 },
      }),
    );
    port = Number(new URL(server.url).port);
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const auth = () => ({ 'x-auth-token': server.adminToken! });
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { ...auth(), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  /** The caller as rate limits and the audit log name it: the admin token's public id. */
  const adminCaller = () => `token:${tokenIdOf(server.adminToken!)}`;

  it('refuses a body over the limit with 413 and a NeutronError', async () => {
    const res = await api('POST', '/v2.0/networks', { network: { name: 'x'.repeat(8000) } });
    assert.equal(res.status, 413);
    const body = (await res.json()) as { NeutronError: { type: string } };
    assert.equal(body.NeutronError.type, 'RequestEntityTooLarge');
  });

  it('drops a client whose headers trickle in (slowloris) within the header timeout', async () => {
    const r = await slowClient(
      port,
      'GET /v2.0/networks HTTP/1.1\r\nHost: x\r\n',
      'X-Slow: ' + 'a'.repeat(100),
      300,
    );
    assert.ok(r.ms < 6000, `the connection lived ${r.ms.toFixed(0)} ms`);
    assert.doesNotMatch(r.response, /200 OK/);
  });

  it('answers 408 to a client whose body trickles in, within the request timeout', async () => {
    const head = `POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${server.adminToken!}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n`;
    const r = await slowClient(port, head, '{"network":{"name":"slow"}}', 300);
    assert.ok(r.ms < 6000, `the connection lived ${r.ms.toFixed(0)} ms`);
    assert.match(r.response, /^HTTP\/1\.1 408/);
  });

  it('drops a connection that never sends anything', async () => {
    const r = await slowClient(port, '', '', 1000);
    assert.ok(r.ms < 8000, `the idle connection lived ${r.ms.toFixed(0)} ms`);
  });

  it('answers a flood with 429, Retry-After and a NeutronError, and serves again after the window', async () => {
    await new Promise((r) => setTimeout(r, 3100)); // a fresh window, whatever the cases above spent
    // All at once: sent one after another, 30 requests on a loaded machine can outlast the 3 s window, and the
    // next window would let more than 20 through.
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        api('POST', '/v2.0/networks', { network: { name: `flood-${i}` } }),
      ),
    );
    const statuses = responses.map((res) => res.status);
    const refused = responses.find((res) => res.status === 429);
    for (const res of responses) if (res !== refused) await res.arrayBuffer();
    assert.equal(statuses.filter((s) => s === 201).length, 20, statuses.join(','));
    assert.ok(refused, 'no 429');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    const body = (await refused.json()) as { NeutronError: { type: string; message: string } };
    assert.equal(body.NeutronError.type, 'HTTPTooManyRequests');
    assert.ok(
      body.NeutronError.message.startsWith(`Too many requests from ${adminCaller()}: at most 20`),
      body.NeutronError.message,
    );
    await new Promise((r) => setTimeout(r, 3100));
    assert.equal((await api('GET', '/v2.0/networks')).status, 200);
  });

  it('records every mutating request in the audit log: who, what, when and the result, never the body', async () => {
    const created = (await (
      await api('POST', '/v2.0/networks', { network: { name: SECRET_NAME } })
    ).json()) as {
      network: { id: string };
    };
    assert.equal((await api('DELETE', `/v2.0/networks/${created.network.id}`)).status, 204);
    assert.equal((await api('POST', '/v2.0/networks', { network: { bogus: 1 } })).status, 400);
    await api('GET', '/v2.0/networks');
    const text = readFileSync(auditPath, 'utf8');
    assert.equal(statSync(auditPath).mode & 0o777, 0o600);
    assert.ok(!text.includes(SECRET_NAME), 'a request body reached the audit log');
    const entries = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEntry);
    assert.ok(
      entries.every((e) => e.method !== 'GET'),
      'reads are not audited',
    );
    assert.ok(entries.every((e) => e.who === adminCaller() && !Number.isNaN(Date.parse(e.time))));
    const statuses = new Set(entries.map((e) => e.status));
    // A request that never arrived whole (the 408 above) is answered by Node itself and asked nothing: not audited.
    for (const s of [201, 204, 400, 413, 429])
      assert.ok(statuses.has(s), `no audited ${s}: ${[...statuses].join(',')}`);
    const create = entries.find((e) => e.resourceId === created.network.id && e.method === 'POST');
    const remove = entries.find((e) => e.resourceId === created.network.id && e.method === 'DELETE');
    assert.equal(create?.status, 201);
    assert.equal(remove?.path, `/v2.0/networks/${created.network.id}`);
    assert.equal(entries.find((e) => e.status === 429)?.error, 'HTTPTooManyRequests');
    assert.equal(entries.find((e) => e.status === 413)?.error, 'RequestEntityTooLarge');
  });

  it('refuses to serve without authentication on a non-loopback address', async () => {
    await assert.rejects(
      serve(options(join(dir, 'other'), { host: '0.0.0.0', auth: 'none' })),
      /Refusing to run without authentication on 0\.0\.0\.0/,
    );
  });

  it('counts each token apart: one token flooding leaves another token its allowance', async () => {
    await new Promise((r) => setTimeout(r, 3100)); // a fresh window
    const other = await issueToken(server.store.tokens, {
      projectId: 'p2',
      isAdmin: false,
      description: 'other',
    });
    // All at once, so that the flood and the check below fall in one 3 s window even on a loaded machine.
    await Promise.all(
      Array.from({ length: 25 }, async () => (await api('GET', '/v2.0/networks')).arrayBuffer()),
    );
    assert.equal((await api('GET', '/v2.0/networks')).status, 429);
    const res = await fetch(`${server.url}/v2.0/networks`, { headers: { 'x-auth-token': other.token } });
    assert.equal(res.status, 200);
  });

  it('serves HTTPS with a given certificate and key; plain HTTP gets no answer; the CLI trusts a given CA', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    await assert.rejects(
      serve(options(join(dir, 'tls0'), { tls: { certPath: cert, keyPath: join(dir, 'missing.pem') } })),
      new RegExp(`Cannot read the TLS key ${dir}/missing.pem`),
    );
    const tls = await serve(options(join(dir, 'tls'), { tls: { certPath: cert, keyPath: key } }));
    try {
      assert.match(tls.url, /^https:\/\//);
      const status = await new Promise<number>((resolve, reject) =>
        httpsRequest(
          `${tls.url}/v2.0/networks`,
          { ca: readFileSync(cert), headers: { 'x-auth-token': tls.adminToken! } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
          .on('error', reject)
          .end(),
      );
      assert.equal(status, 200);
      const plain = await fetch(tls.url.replace('https:', 'http:') + '/v2.0/networks').then(
        (r) => r.status,
        () => 'refused',
      );
      assert.notEqual(plain, 200);
      const cli = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          [`${ROOT}bin/sfip`, '--url', tls.url, '--json', 'network', 'list'],
          { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert, SFIP_TOKEN: tls.adminToken! } },
          (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
        ),
      );
      assert.equal(cli.code, 0, cli.stderr);
      assert.deepEqual(JSON.parse(cli.stdout), { networks: [] });
    } finally {
      await tls.close();
    }
  });
});
