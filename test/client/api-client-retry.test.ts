import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApiClient, type Transport } from '../../src/client/api-client.js';
import { httpTransport } from '../../bench/control/http-transport.js';

/**
 * A server that drops the first connection of each request path without answering (as a server closing a
 * kept-alive connection just as a request goes out does), then answers normally.
 */
// The default (fetch) and the benchmarks' kept-alive node:http transport behave alike.
const transports: [string, Transport | undefined][] = [
  ['fetch', undefined],
  ['node:http', httpTransport(4)],
];

for (const [name, transport] of transports)
  describe(`API client (${name}): a connection reset before any answer`, () => {
    let server: Server;
    let url = '';
    const seen = new Map<string, number>();
    before(async () => {
      server = createServer((req, res) => {
        const key = `${req.method} ${req.url}`;
        const n = (seen.get(key) ?? 0) + 1;
        seen.set(key, n);
        if (n === 1) {
          req.socket.destroy();
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ok: n }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('sends an idempotent request (GET, PUT, DELETE) once more, on a new connection', async () => {
      const api = new ApiClient(url, 'token', transport);
      assert.deepEqual(await api.get('/v2.0/networks'), { ok: 2 });
      assert.deepEqual(await api.put('/v2.0/floatingips/x', { floatingip: { port_id: null } }), { ok: 2 });
      assert.deepEqual(await api.delete('/v2.0/ports/y'), { ok: 2 });
    });

    it('never sends a POST twice: it reports the failure, naming the API', async () => {
      const api = new ApiClient(url, 'token', transport);
      await assert.rejects(api.post('/v2.0/floatingips', { floatingip: {} }), (error: Error) => {
        assert.match(error.message, new RegExp(`Cannot reach the sfip API at ${url}`));
        return true;
      });
      assert.equal(seen.get('POST /v2.0/floatingips'), 1);
    });
  });
