/**
 * Bulk traffic for the wire-correctness cases: TCP transfers large enough to need path-MTU discovery, UDP
 * datagrams large enough to be fragmented (checked by digest), and connected UDP sockets that must see ICMP port
 * unreachable as ECONNREFUSED. Runs inside the netprobe process.
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

export type BulkCommand =
  | { op: 'sink'; port: number }
  | { op: 'blast'; host: string; port: number; bytes: number; timeoutMs?: number }
  | { op: 'digestListen'; port: number }
  | { op: 'udpBig'; host: string; port: number; bytes: number; timeoutMs?: number }
  /**
   * `count` small datagrams (`stream-<tag>:<seq>`, counted by a `listen` udp socket's `received`) sent back to
   * back, as fast as the socket takes them: rate-limit tests compare what arrived with what the limit lets
   * through in the measured send time.
   */
  | { op: 'udpBlast'; host: string; port: number; tag: string; count: number }
  | {
      op: 'udpRefused';
      host: string;
      port: number;
      timeoutMs?: number;
      /** Local port to send from (port-forwarding tests send from a forwarded port). */
      bindPort?: number;
    };

export interface Digest {
  readonly bytes: number;
  readonly sha256: string;
}

/** Deterministic, non-repeating-ish content, so a corrupted or reordered byte changes the digest. */
function payload(bytes: number): Buffer {
  const buf = Buffer.alloc(bytes);
  let x = 0x12345678;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}

const digest = (buf: Buffer): Digest => ({
  bytes: buf.length,
  sha256: createHash('sha256').update(buf).digest('hex'),
});

function deadline<T>(
  ms: number,
  what: string,
  work: (done: (v: T) => void, fail: (e: Error) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    work(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

const UDP_BLAST_CHUNK = 50;

export async function handleBulk(cmd: BulkCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'sink': {
      const server = createServer((socket) => {
        const hash = createHash('sha256');
        let bytes = 0;
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          hash.update(chunk);
        });
        socket.on('end', () => socket.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      });
      await new Promise<void>((resolve, reject) =>
        server.listen(cmd.port, '0.0.0.0', resolve).once('error', reject),
      );
      return { listening: cmd.port };
    }
    case 'blast': {
      const data = payload(cmd.bytes);
      const started = Date.now();
      const received = await deadline<Digest>(
        cmd.timeoutMs ?? 20_000,
        `blast ${cmd.bytes} bytes to ${cmd.host}`,
        (done, fail) => {
          const socket = connect({ host: cmd.host, port: cmd.port });
          let reply = '';
          socket.on('error', fail);
          socket.on('data', (b: Buffer) => (reply += b.toString()));
          socket.on('end', () => done(JSON.parse(reply) as Digest));
          socket.on('connect', () => socket.end(data));
        },
      );
      return { sent: digest(data), received, ms: Date.now() - started };
    }
    case 'digestListen': {
      const socket = createSocket('udp4');
      socket.on('message', (msg, rinfo) =>
        socket.send(JSON.stringify(digest(msg)), rinfo.port, rinfo.address),
      );
      await new Promise<void>((resolve) => socket.bind(cmd.port, '0.0.0.0', resolve));
      return { listening: cmd.port };
    }
    case 'udpBlast': {
      const socket = createSocket('udp4');
      socket.on('error', () => undefined);
      try {
        const started = performance.now();
        // In chunks with a millisecond between them: back to back, the receiving probe's socket buffer (capped
        // by net.core.rmem_max) overflows, and an unlimited floating IP would seem to lose packets.
        for (let first = 0; first < cmd.count; first += UDP_BLAST_CHUNK) {
          const last = Math.min(cmd.count, first + UDP_BLAST_CHUNK);
          await Promise.all(
            Array.from(
              { length: last - first },
              (_, i) =>
                new Promise<void>((resolve) =>
                  socket.send(`stream-${cmd.tag}:${first + i}`, cmd.port, cmd.host, () => resolve()),
                ),
            ),
          );
          if (last < cmd.count) await new Promise((r) => setTimeout(r, 1));
        }
        return { sent: cmd.count, durationMs: performance.now() - started };
      } finally {
        socket.close();
      }
    }
    case 'udpBig': {
      const data = payload(cmd.bytes);
      const socket = createSocket('udp4');
      try {
        const got = await deadline<{ reply: Digest; from: string }>(
          cmd.timeoutMs ?? 3000,
          `udp digest from ${cmd.host}`,
          (done, fail) => {
            socket.once('error', fail);
            socket.once('message', (msg, rinfo) =>
              done({ reply: JSON.parse(msg.toString()) as Digest, from: rinfo.address }),
            );
            socket.send(data, cmd.port, cmd.host);
          },
        );
        return { sent: digest(data), ...got };
      } finally {
        socket.close();
      }
    }
    case 'udpRefused': {
      // A connected UDP socket learns of ICMP port unreachable as ECONNREFUSED, but only if the error quotes
      // exactly the addresses and ports the socket is connected with.
      const socket = createSocket('udp4');
      let timer: NodeJS.Timeout | undefined;
      try {
        return await deadline<{ error: string }>(
          cmd.timeoutMs ?? 3000,
          `ECONNREFUSED from ${cmd.host}:${cmd.port}`,
          (done) => {
            socket.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
            const connect = () =>
              socket.connect(cmd.port, cmd.host, () => {
                const send = () => socket.send('anyone there?', () => undefined);
                send();
                timer = setInterval(send, 200);
              });
            if (cmd.bindPort === undefined) connect();
            else socket.bind(cmd.bindPort, '0.0.0.0', connect);
          },
        );
      } finally {
        clearInterval(timer);
        socket.close();
      }
    }
  }
}
