import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import {
  pacedStream,
  registerMetricsRoute,
  trafficChunks,
  type MetricsExporter,
  type Observation,
} from '../../src/metrics/index.js';
import { LoopBudget } from '../../src/metrics/slices.js';
import { parseSetDump, parseSetDumpSliced } from '../../src/dataplane/nftables/counters.js';

/** Buffers of distinct text, so that a lost, repeated or reordered one changes the whole. */
const chunks = (n: number, size: number): Buffer[] =>
  Array.from({ length: n }, (_, i) => Buffer.from(`# chunk ${i}\n`.padEnd(size, '.')));

/** Counts turns of the event loop (setImmediate callbacks) until stopped. */
function loopTurns(): { readonly count: () => number; stop(): void } {
  let turns = 0;
  let timer = setImmediate(function tick() {
    turns++;
    timer = setImmediate(tick);
  });
  return { count: () => turns, stop: () => clearImmediate(timer) };
}

/** Reads a stream whole, noting the loop turns seen before each buffer. */
async function readTurns(stream: AsyncIterable<Buffer>): Promise<{ body: Buffer; turnsAt: number[] }> {
  const turns = loopTurns();
  const parts: Buffer[] = [];
  const turnsAt: number[] = [];
  try {
    for await (const part of stream) {
      parts.push(part);
      turnsAt.push(turns.count());
    }
  } finally {
    turns.stop();
  }
  return { body: Buffer.concat(parts), turnsAt };
}

describe('LoopBudget', () => {
  it('is spent once its time has passed since the last yield, and a yield starts a new one', async () => {
    let clock = 100;
    const budget = new LoopBudget(4, () => clock);
    assert.equal(budget.spent(), false);
    clock += 3.9;
    assert.equal(budget.spent(), false);
    clock += 0.1;
    assert.equal(budget.spent(), true);
    await budget.yield();
    assert.equal(budget.spent(), false);
    clock += 5;
    await budget.check();
    assert.equal(budget.spent(), false, 'check() yielded and restarted the budget');
  });
});

describe('paced /metrics body', () => {
  it('hands over every buffer in order: the body equals the unstreamed one', async () => {
    const body = chunks(300, 100);
    const { body: streamed } = await readTurns(pacedStream(body, new LoopBudget(0)));
    assert.deepEqual(streamed, Buffer.concat(body));
  });

  it('lets the event loop run between buffers once the budget is spent', async () => {
    const { turnsAt } = await readTurns(pacedStream(chunks(50, 100), new LoopBudget(0)));
    const without = turnsAt.slice(1).filter((t, i) => t === turnsAt[i]!);
    assert.deepEqual(without, [], `no loop turn before ${without.length} of 50 buffers`);
  });

  it('does not yield while the budget lasts', async () => {
    const frozen = new LoopBudget(4, () => 0);
    const { turnsAt } = await readTurns(pacedStream(chunks(50, 100), frozen));
    assert.equal(turnsAt.at(-1), turnsAt[0], 'the loop turned although the budget was never spent');
  });

  it('answers an API request made during a scrape before the scrape ends', async () => {
    // Small enough for the kernel to take whole at once: unpaced, it left in one turn of the loop.
    const body = chunks(50, 1000);
    const metrics: MetricsExporter = {
      registry: undefined as never,
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      body: async () => body,
      metrics: async () => Buffer.concat(body).toString(),
    };
    const app = Fastify();
    registerMetricsRoute(app, metrics, async () => 'allowed', { budgetMs: 0 });
    app.get('/ping', async () => ({ pong: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const request = (path: string) =>
      new Promise<IncomingMessage>((resolve, reject) =>
        get({ host: '127.0.0.1', port, path, agent: false }, resolve).on('error', reject),
      );
    try {
      const events: string[] = [];
      const scrape = await request('/metrics');
      let ping: Promise<void> | undefined;
      const parts: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        scrape.on('data', (part: Buffer) => {
          parts.push(part);
          ping ??= request('/ping').then((answer) => {
            answer.resume();
            events.push(`ping ${answer.statusCode}`);
          }, reject);
        });
        scrape.on('end', () => {
          events.push('scrape end');
          resolve();
        });
        scrape.on('error', reject);
      });
      await ping;
      assert.deepEqual(events, ['ping 200', 'scrape end']);
      assert.deepEqual(Buffer.concat(parts), Buffer.concat(body));
    } finally {
      await app.close();
    }
  });
});

describe('per-floating-IP text', () => {
  it('is rendered and written in pieces that let the event loop run once the budget is spent', async () => {
    const fips = 2000;
    const observation: Observation = {
      at: 0,
      readMs: 0,
      conntrack: [],
      routers: [
        {
          id: 'r1',
          name: 'r1',
          backend: 'nftables',
          namespace: 'qrouter-r1',
          gatewayDevice: 'qg-r1',
          problem: '',
          countersSupported: true,
          countersError: null,
          statusCounts: { ACTIVE: fips, DOWN: 0, ERROR: 0 },
          floatingIps: Array.from({ length: fips }, (_, i) => ({
            id: `f${i}`,
            address: `100.64.${i >> 8}.${i & 255}`,
            fixedIp: null,
            status: 'ACTIVE' as const,
            statusReason: '',
          })),
          counters: Array.from({ length: fips }, (_, i) => ({
            floatingIp: `100.64.${i >> 8}.${i & 255}`,
            packetsIn: i,
            packetsOut: 0,
            bytesIn: 0,
            bytesOut: 0,
          })),
        },
      ],
    };
    const { body: streamed, turnsAt } = await readTurns(
      pacedStream(trafficChunks(observation), new LoopBudget(0)),
    );
    // 2,000 floating IPs were one slice by count before: by time, a spent budget yields between pieces of them.
    assert.ok(
      turnsAt.at(-1)! >= 5,
      `the loop turned ${turnsAt.at(-1)} times while 2,000 floating IPs were rendered and written`,
    );
    const body = streamed.toString();
    assert.equal(body.match(/^sfip_floating_ip_packets_total\{/gm)?.length, 2 * fips);
    assert.match(body, /floating_ip_address="100\.64\.7\.207",backend="nftables",direction="in"} 1999\n/);
  });
});

describe('counter dump of a scrape', () => {
  it('is parsed in pieces that let the event loop run once the budget is spent, to the same result', async () => {
    const lines = Array.from(
      { length: 3000 },
      (_, i) => `fipcount_${i % 2 ? 'out' : 'in'} 100.64.${i >> 9}.${(i >> 1) & 255} - ${i} ${i * 60}`,
    );
    const text = lines.join('\n') + '\n';
    const turns = loopTurns();
    let sliced;
    try {
      sliced = await parseSetDumpSliced(text, new LoopBudget(0));
    } finally {
      turns.stop();
    }
    // 3,000 lines were one slice by count (10,000): by time, a spent budget yields between pieces of them.
    assert.ok(turns.count() >= 5, `the loop turned ${turns.count()} times while 3,000 lines were parsed`);
    assert.deepEqual(sliced, parseSetDump(text));
  });
});
