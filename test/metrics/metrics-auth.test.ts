/**
 * /metrics needs the dashboard token or an admin token (issue 14: it used to answer anyone, naming every
 * project's routers): 401 without a token or with an unknown one, 403 for a project's token. With
 * --metrics-listen it moves to its own listener, which asks for the same tokens.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { issueToken } from '../../src/auth/index.js';
import { parseListenAddress } from '../../src/cli/commands/serve.js';
import { serve, type RunningServer, type ServeOptions } from '../../src/daemon/serve.js';

const DASHBOARD_TOKEN = 'metrics-test-dashboard-token-0123';
const dir = mkdtempSync(join(tmpdir(), 'sfip-metrics-auth-'));

function options(stateDir: string, extra: Partial<ServeOptions> = {}): ServeOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    stateDir,
    backend: 'fake',
    resyncIntervalMs: 60_000,
    garp: false,
    agent: false,
    dashboardToken: DASHBOARD_TOKEN,
    log: pino({ level: 'silent' }),
    ...extra,
  };
}

const scrape = (url: string, headers: Record<string, string> = {}) => fetch(`${url}/metrics`, { headers });

async function errorType(response: Response): Promise<string> {
  return ((await response.json()) as { NeutronError: { type: string } }).NeutronError.type;
}

describe('/metrics authentication', { timeout: 60_000 }, () => {
  let server: RunningServer;
  let projectToken: string;

  before(async () => {
    server = await serve(options(join(dir, 'api')));
    projectToken = (await issueToken(server.store.tokens, { projectId: 'tenant-b', isAdmin: false })).token;
  });
  after(async () => {
    await server.close();
  });

  it('answers 401 with a challenge and a NeutronError without a token, or with an unknown one', async () => {
    for (const headers of <Record<string, string>[]>[
      {},
      { authorization: 'Bearer not-a-token-at-all-xxxxxxxx' },
      { 'x-auth-token': `sfip_0123456789abcdef_${'A'.repeat(43)}` },
      { authorization: `Bearer ${DASHBOARD_TOKEN}x` },
    ]) {
      const response = await scrape(server.url, headers);
      assert.equal(response.status, 401, JSON.stringify(headers));
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /);
      assert.equal(await errorType(response), 'HTTPUnauthorized');
    }
  });

  it("answers 403 to a project's token, which must never see other projects' routers", async () => {
    for (const headers of <Record<string, string>[]>[
      { 'x-auth-token': projectToken },
      { authorization: `Bearer ${projectToken}` },
    ]) {
      const response = await scrape(server.url, headers);
      assert.equal(response.status, 403);
      assert.equal(await errorType(response), 'HTTPForbidden');
    }
  });

  it('answers name[] with those families only, and refuses a value that is no family name, naming it', async () => {
    const headers = { authorization: `Bearer ${DASHBOARD_TOKEN}` };
    const one = await fetch(`${server.url}/metrics?name[]=sfip_floating_ip_change_seconds`, { headers });
    assert.equal(one.status, 200);
    assert.deepEqual(
      [...(await one.text()).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]),
      ['sfip_floating_ip_change_seconds'],
    );
    const bad = await fetch(
      `${server.url}/metrics?name[]=sfip_floating_ips&name[]=${encodeURIComponent('up"}{')}`,
      {
        headers,
      },
    );
    assert.equal(bad.status, 400);
    const error = ((await bad.json()) as { NeutronError: { type: string; message: string } }).NeutronError;
    assert.equal(error.type, 'HTTPBadRequest');
    assert.match(error.message, /name\[\] "up\\"\}\{" is not a metric family name/);
    const tenant = await fetch(`${server.url}/metrics?name[]=sfip_floating_ips`, {
      headers: { 'x-auth-token': projectToken },
    });
    assert.equal(tenant.status, 403, "a project's token gets no family either");
  });

  it('serves the dashboard token and an admin token, as Bearer or X-Auth-Token', async () => {
    for (const headers of <Record<string, string>[]>[
      { authorization: `Bearer ${DASHBOARD_TOKEN}` },
      { authorization: `Bearer ${server.adminToken!}` },
      { 'x-auth-token': server.adminToken! },
    ]) {
      const response = await scrape(server.url, headers);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /^sfip_nodejs_heap_size_used_bytes /m);
    }
  });
});

describe('--metrics-listen', { timeout: 60_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await serve(options(join(dir, 'listen'), { metricsListen: { host: '127.0.0.1', port: 0 } }));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves /metrics on its own listener, with the same tokens, and no longer on the API', async () => {
    assert.notEqual(server.metricsUrl, server.url);
    const bearer = { authorization: `Bearer ${DASHBOARD_TOKEN}` };
    assert.equal((await scrape(server.metricsUrl)).status, 401);
    const ok = await scrape(server.metricsUrl, bearer);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^sfip_nodejs_heap_size_used_bytes /m);
    assert.equal((await scrape(server.url, bearer)).status, 404);
    const other = await fetch(`${server.metricsUrl}/v2.0/networks`, { headers: bearer });
    assert.equal(other.status, 404);
    assert.equal(await errorType(other), 'HTTPNotFound');
  });

  it('parses ADDR:PORT, IPv6 in brackets, and refuses what is not one', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseListenAddress('[::1]:9100'), { host: '::1', port: 9100 });
    assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
    for (const bad of ['127.0.0.1', '127.0.0.1:99999', ':9100', '[localhost]:9100', '::1:9100', 'a b:1']) {
      assert.throws(() => parseListenAddress(bad), /not a (listen address|TCP port)/, bad);
    }
  });
});
