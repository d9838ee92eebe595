/**
 * Tagged UDP streams for churn tests. Every payload says which key it was sent for (a floating address, or the
 * fixed IP a VM sent from), under which generation of that key's mapping the sender believed it was sent, its
 * sequence number and its send time. Receivers record every payload with the local address that received it
 * and the peer address it came from, so a test can decide afterwards, packet by packet, whether it reached the
 * right VM and carried the right source.
 *
 * Send times are CLOCK_MONOTONIC microseconds (process.hrtime), which every process on the host shares, so they
 * compare directly with the times the test process records around its API calls.
 */
import { createSocket, type Socket } from 'node:dgram';

export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

export interface TagTarget {
  /** What the payload is about: the floating address sent to, or the fixed IP sent from. */
  readonly key: string;
  readonly host: string;
  /** Local address to send from; absent lets the kernel choose. */
  readonly bind?: string;
}

export type TaggedCommand =
  | { op: 'tagListen'; port: number; addresses: string[] }
  | { op: 'tagSend'; id: string; port: number; targets: TagTarget[]; intervalMs: number }
  | { op: 'tagGen'; id: string; key: string; gen: number }
  | { op: 'tagStop'; id: string }
  | { op: 'tagCollect'; port: number };

/** [key, gen, seq, sentUs, local address that received it, peer address it came from] */
export type TaggedRecord = [string, number, number, number, string, string];

/** What a sender did: the send time of each round (every target gets one packet per round). */
export interface TaggedSendLog {
  readonly keys: string[];
  readonly roundUs: number[];
  readonly sendErrors: number;
}

const listeners = new Map<number, { sockets: Socket[]; records: TaggedRecord[]; malformed: number }>();
const senders = new Map<string, { stop: () => Promise<TaggedSendLog> }>();
/** Generations per sender id; a generation may be set before its sender starts. */
const generations = new Map<string, Map<string, number>>();
const gensOf = (id: string) => {
  let gens = generations.get(id);
  if (!gens) generations.set(id, (gens = new Map()));
  return gens;
};

function bound(address: string, port: number): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      // A burst must not be dropped by a small default receive buffer: drops there would look like loss.
      socket.setRecvBufferSize(4 * 1024 * 1024);
      resolve(socket);
    });
  });
}

async function listen(port: number, addresses: string[]): Promise<{ listening: number }> {
  if (listeners.has(port)) throw new Error(`already listening for tagged traffic on ${port}`);
  const entry = { sockets: [] as Socket[], records: [] as TaggedRecord[], malformed: 0 };
  for (const address of addresses) {
    const socket = await bound(address, port);
    socket.on('message', (buf, rinfo) => {
      const [key, gen, seq, sent] = buf.toString().split('|');
      if (key === undefined || sent === undefined) {
        entry.malformed++;
        return;
      }
      entry.records.push([key, Number(gen), Number(seq), Number(sent), address, rinfo.address]);
    });
    entry.sockets.push(socket);
  }
  listeners.set(port, entry);
  return { listening: port };
}

async function startSending(
  id: string,
  port: number,
  targets: TagTarget[],
  intervalMs: number,
): Promise<{ sending: string }> {
  if (senders.has(id)) throw new Error(`tagged sender ${id} already runs`);
  const sockets = new Map<string, Socket>();
  for (const bind of new Set(targets.map((t) => t.bind ?? '0.0.0.0'))) {
    const socket = await bound(bind, 0);
    socket.on('error', () => undefined);
    sockets.set(bind, socket);
  }
  const gens = gensOf(id);
  const roundUs: number[] = [];
  let sendErrors = 0;
  let running = true;
  const started = performance.now();
  const loop = (async () => {
    for (let seq = 0; running; seq++) {
      roundUs.push(nowUs());
      for (const t of targets) {
        const payload = `${t.key}|${gens.get(t.key) ?? 0}|${seq}|${nowUs()}`;
        sockets.get(t.bind ?? '0.0.0.0')!.send(payload, port, t.host, (error) => {
          if (error) sendErrors++;
        });
      }
      // Paced against the start time, so a late round does not shift every later one.
      const due = started + (seq + 1) * intervalMs;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
  })();
  senders.set(id, {
    stop: async () => {
      running = false;
      await loop;
      // Let the last datagrams leave before the sockets close.
      await new Promise((r) => setTimeout(r, 20));
      for (const s of sockets.values()) s.close();
      return { keys: targets.map((t) => t.key), roundUs, sendErrors };
    },
  });
  return { sending: id };
}

export async function handleTagged(cmd: TaggedCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'tagListen':
      return listen(cmd.port, cmd.addresses);
    case 'tagSend':
      return startSending(cmd.id, cmd.port, cmd.targets, cmd.intervalMs);
    case 'tagGen':
      gensOf(cmd.id).set(cmd.key, cmd.gen);
      return { key: cmd.key, gen: cmd.gen };
    case 'tagStop': {
      const sender = senders.get(cmd.id);
      if (!sender) throw new Error(`no tagged sender ${cmd.id}`);
      senders.delete(cmd.id);
      generations.delete(cmd.id);
      return sender.stop();
    }
    case 'tagCollect': {
      const entry = listeners.get(cmd.port);
      if (!entry) throw new Error(`not listening for tagged traffic on ${cmd.port}`);
      const records = entry.records;
      entry.records = [];
      return { records, malformed: entry.malformed };
    }
  }
}
