/**
 * A small traffic tool that runs inside a lab namespace (started through `ip netns exec`). With --http it is
 * the demo VM's web server; with --rpc it takes JSON commands on stdin, one per line, and answers each on
 * stdout, so a test can drive TCP, UDP and ICMP from inside any namespace and see which addresses arrived.
 */
import { spawnProgram as spawn } from '../exec/spawn.js';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { handleBulk, type BulkCommand } from './netprobe-bulk.js';
import { handleTagged, type TaggedCommand } from './tagged-traffic.js';

export type ProbeCommand =
  | { op: 'listen'; proto: 'tcp' | 'udp'; port: number }
  | { op: 'tcp'; host: string; port: number; msg: string; timeoutMs?: number }
  | { op: 'tcpOpen'; id: string; host: string; port: number; timeoutMs?: number }
  | { op: 'tcpSend'; id: string; msg: string; timeoutMs?: number }
  | { op: 'tcpClose'; id: string }
  | { op: 'udp'; host: string; port: number; msg: string; timeoutMs?: number }
  | {
      op: 'udpStream';
      host: string;
      port: number;
      tag: string;
      count: number;
      intervalMs: number;
      /** Local address to send from (it must be configured in the namespace). */
      bind?: string;
      /** Local port to send from (port-forwarding tests send from a forwarded port). */
      bindPort?: number;
    }
  | { op: 'received'; port: number; tag?: string; seqs?: boolean }
  | { op: 'ping'; host: string; count: number; intervalS?: number }
  | BulkCommand
  | TaggedCommand;

/** What a listener says back: who it is and which addresses it saw. */
export interface Echo {
  readonly name: string;
  readonly peer: string;
  readonly local: string;
  readonly msg: string;
}

const name = process.env.PROBE_NAME ?? hostname();
const udpListeners = new Map<
  number,
  { socket: UdpSocket; received: { tag: string; seq: number; peer: string }[] }
>();
const udpClients: UdpSocket[] = [];
const connections = new Map<string, { socket: Socket; lines: AsyncIterator<string> }>();

function echo(peer: string, local: string, msg: string): Echo {
  return { name, peer, local, msg };
}

/** Lines from a socket. A reset connection is a normal event in these tests, never a crash of the probe. */
function lines(socket: Socket) {
  const rl = createInterface({ input: socket });
  rl.on('error', () => undefined);
  return rl;
}

function lineReader(socket: Socket): AsyncIterator<string> {
  return lines(socket)[Symbol.asyncIterator]();
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

async function openTcp(host: string, port: number, timeoutMs: number) {
  const socket = connect({ host, port });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    timeoutMs,
    `connect ${host}:${port}`,
  ).catch((e) => {
    socket.destroy();
    throw e;
  });
  socket.on('error', () => undefined);
  return { socket, lines: lineReader(socket) };
}

async function exchange(
  conn: { socket: Socket; lines: AsyncIterator<string> },
  msg: string,
  timeoutMs: number,
) {
  conn.socket.write(`${msg}\n`);
  const next = await withTimeout(conn.lines.next(), timeoutMs, 'reply');
  if (next.done) throw new Error('connection closed');
  return { reply: JSON.parse(next.value) as Echo, local: conn.socket.localAddress };
}

async function handle(cmd: ProbeCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'listen':
      if (cmd.proto === 'tcp') {
        const server = createServer((socket) => {
          socket.on('error', () => undefined);
          lines(socket).on('line', (line) =>
            socket.write(
              JSON.stringify(echo(socket.remoteAddress ?? '', socket.localAddress ?? '', line)) + '\n',
            ),
          );
        });
        await new Promise<void>((resolve, reject) =>
          server.listen(cmd.port, '0.0.0.0', resolve).once('error', reject),
        );
      } else {
        const socket = createSocket('udp4');
        const entry = { socket, received: [] as { tag: string; seq: number; peer: string }[] };
        socket.on('message', (buf, rinfo) => {
          const msg = buf.toString();
          const [tag, seq] = msg.split(':');
          entry.received.push({ tag: tag ?? '', seq: Number(seq), peer: rinfo.address });
          if (!msg.startsWith('stream-'))
            socket.send(JSON.stringify(echo(rinfo.address, '', msg)), rinfo.port, rinfo.address);
        });
        await new Promise<void>((resolve) => socket.bind(cmd.port, '0.0.0.0', resolve));
        udpListeners.set(cmd.port, entry);
      }
      return { listening: cmd.port };
    case 'tcp': {
      const conn = await openTcp(cmd.host, cmd.port, cmd.timeoutMs ?? 2000);
      try {
        return await exchange(conn, cmd.msg, cmd.timeoutMs ?? 2000);
      } finally {
        conn.socket.destroy();
      }
    }
    case 'tcpOpen':
      connections.set(cmd.id, await openTcp(cmd.host, cmd.port, cmd.timeoutMs ?? 2000));
      return { open: cmd.id };
    case 'tcpSend': {
      const conn = connections.get(cmd.id);
      if (!conn) throw new Error(`no connection ${cmd.id}`);
      return exchange(conn, cmd.msg, cmd.timeoutMs ?? 2000);
    }
    case 'tcpClose':
      connections.get(cmd.id)?.socket.destroy();
      connections.delete(cmd.id);
      return { closed: cmd.id };
    case 'udp': {
      const socket = createSocket('udp4');
      try {
        const reply = new Promise<{ msg: Buffer; from: string }>((resolve, reject) => {
          socket.once('message', (msg, rinfo) => resolve({ msg, from: rinfo.address }));
          socket.once('error', reject);
        });
        socket.send(cmd.msg, cmd.port, cmd.host);
        const got = await withTimeout(reply, cmd.timeoutMs ?? 2000, `udp reply from ${cmd.host}:${cmd.port}`);
        return { reply: JSON.parse(got.msg.toString()) as Echo, from: got.from };
      } finally {
        socket.close();
      }
    }
    case 'udpStream': {
      const socket = createSocket('udp4');
      socket.on('error', () => undefined);
      udpClients.push(socket);
      if (cmd.bind !== undefined || cmd.bindPort !== undefined) {
        await new Promise<void>((resolve) => socket.bind(cmd.bindPort ?? 0, cmd.bind ?? '0.0.0.0', resolve));
      }
      let sent = 0;
      const started = Date.now();
      for (let seq = 0; seq < cmd.count; seq++) {
        socket.send(`stream-${cmd.tag}:${seq}`, cmd.port, cmd.host);
        sent++;
        const due = started + (seq + 1) * cmd.intervalMs;
        await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
      }
      return { sent };
    }
    case 'received': {
      const entry = udpListeners.get(cmd.port);
      if (!entry) throw new Error(`not listening on udp ${cmd.port}`);
      const wanted = entry.received.filter(
        (r) => cmd.tag === undefined || r.tag === `stream-${cmd.tag}` || r.tag === cmd.tag,
      );
      const unique = new Set(wanted.map((r) => r.seq));
      return {
        count: wanted.length,
        unique: unique.size,
        peers: [...new Set(wanted.map((r) => r.peer))],
        // The sequence numbers themselves, for measuring where a stream had its gap.
        ...(cmd.seqs && { seqs: [...unique].sort((a, b) => a - b) }),
      };
    }
    case 'sink':
    case 'blast':
    case 'digestListen':
    case 'udpBig':
    case 'udpBlast':
    case 'udpRefused':
      return handleBulk(cmd);
    case 'tagListen':
    case 'tagSend':
    case 'tagGen':
    case 'tagStop':
    case 'tagCollect':
      return handleTagged(cmd);
    case 'ping': {
      const args = ['-n', '-c', String(cmd.count), '-W', '1', '-i', String(cmd.intervalS ?? 0.2), cmd.host];
      const out = await new Promise<string>((resolve) => {
        const child = spawn('ping', args);
        let text = '';
        child.stdout.on('data', (b: Buffer) => (text += b.toString()));
        child.on('close', () => resolve(text));
        child.on('error', () => resolve(text));
      });
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      const replies = [...out.matchAll(/bytes from ([0-9.]+)/g)].map((x) => x[1]);
      return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), from: [...new Set(replies)] };
    }
  }
}

function serveHttp(port: number): void {
  createHttpServer((req, res) => {
    const peer = req.socket.remoteAddress ?? '?';
    const local = req.socket.localAddress ?? '?';
    res.setHeader('content-type', 'text/plain');
    res.end(`hello from ${name} (${local}); you came from ${peer}\n`);
  }).listen(port, '0.0.0.0');
}

function serveRpc(): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const { id, cmd } = JSON.parse(line) as { id: number; cmd: ProbeCommand };
    handle(cmd).then(
      (result) => process.stdout.write(JSON.stringify({ id, result }) + '\n'),
      (error: Error & { code?: string }) =>
        process.stdout.write(JSON.stringify({ id, error: error.code ?? error.message }) + '\n'),
    );
  });
  rl.on('close', () => process.exit(0));
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
}

const args = process.argv.slice(2);
const httpAt = args.indexOf('--http');
if (httpAt >= 0) serveHttp(Number(args[httpAt + 1] ?? 80));
if (args.includes('--rpc')) serveRpc();
