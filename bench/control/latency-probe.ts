/**
 * A UDP helper that runs inside a bench namespace (through `ip netns exec`).
 *   --echo PORT   answers every datagram to its sender (runs in the sink, which owns every fixed IP);
 *   --rpc         reads JSON commands on stdin, one per line, and answers each on stdout:
 *     {"id", "op": "firstReply", "host", "port", "timeoutMs"}  sends every millisecond until a reply comes back;
 *                                                              answers with the reply's wall-clock time in ms;
 *     {"id", "op": "stream", "host", "port", "count", "intervalMs"}  sends a paced stream, counts replies;
 *     {"id", "op": "lastReply", "host", "port", "quietMs", "timeoutMs"}  sends every millisecond until no reply
 *                                                  has come for quietMs; answers with the send time of the last
 *                                                  probe that was answered (null if none was).
 * Times are performance.timeOrigin + performance.now(): sub-millisecond and comparable across processes.
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Command =
  | { id: number; op: 'firstReply'; host: string; port: number; timeoutMs: number }
  | { id: number; op: 'stream'; host: string; port: number; count: number; intervalMs: number }
  | { id: number; op: 'lastReply'; host: string; port: number; quietMs: number; timeoutMs: number };

async function firstReply(host: string, port: number, timeoutMs: number): Promise<number | null> {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  let at: number | null = null;
  socket.on('message', () => {
    at ??= wallNow();
  });
  const deadline = wallNow() + timeoutMs;
  while (at === null && wallNow() < deadline) {
    socket.send('probe', port, host);
    await sleep(1);
  }
  socket.close();
  return at;
}

/** When traffic stopped: each probe carries its send time, so the answer is the last answered probe's. */
async function lastReply(host: string, port: number, quietMs: number, timeoutMs: number) {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  let lastSent: number | null = null;
  let lastHeard = wallNow();
  socket.on('message', (msg) => {
    const sent = Number(msg.toString());
    lastSent = Math.max(lastSent ?? sent, sent);
    lastHeard = wallNow();
  });
  const deadline = wallNow() + timeoutMs;
  while (wallNow() - lastHeard < quietMs && wallNow() < deadline) {
    socket.send(String(wallNow()), port, host);
    await sleep(1);
  }
  socket.close();
  return { lastSent, stopped: wallNow() - lastHeard >= quietMs };
}

async function stream(host: string, port: number, count: number, intervalMs: number) {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  const seen = new Set<number>();
  socket.on('message', (msg) => seen.add(Number(msg.toString())));
  const started = wallNow();
  for (let seq = 0; seq < count; seq++) {
    socket.send(String(seq), port, host);
    const due = started + (seq + 1) * intervalMs;
    await sleep(Math.max(0, due - wallNow()));
  }
  await sleep(300);
  socket.close();
  // The longest run of consecutive lost sequence numbers, times the interval: the outage.
  let longest = 0;
  let current = 0;
  for (let seq = 0; seq < count; seq++) {
    current = seen.has(seq) ? 0 : current + 1;
    longest = Math.max(longest, current);
  }
  return { sent: count, received: seen.size, longestGapMs: longest * intervalMs };
}

const args = process.argv.slice(2);
const echoAt = args.indexOf('--echo');
if (echoAt >= 0) {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  socket.bind(Number(args[echoAt + 1]), '0.0.0.0', () => process.stdout.write('{"ready":true}\n'));
}
if (args.includes('--rpc')) {
  createInterface({ input: process.stdin }).on('line', (line) => {
    const cmd = JSON.parse(line) as Command;
    const done = (result: unknown) => process.stdout.write(JSON.stringify({ id: cmd.id, result }) + '\n');
    if (cmd.op === 'firstReply')
      void firstReply(cmd.host, cmd.port, cmd.timeoutMs).then((at) => done({ at }));
    else if (cmd.op === 'lastReply')
      void lastReply(cmd.host, cmd.port, cmd.quietMs, cmd.timeoutMs).then(done);
    else void stream(cmd.host, cmd.port, cmd.count, cmd.intervalMs).then(done);
  });
  process.stdout.write('{"ready":true}\n');
}
