import { commandLine, run } from '../../src/exec/run.js';
import { spawnProgram } from '../../src/exec/spawn.js';

/** IPv4 and UDP headers: a rate limit counts whole IP packets, iperf3 reports payload only. */
const IP_UDP_HEADERS = 28;

export const IPERF_PORT = 5201;

/** What one iperf3 run delivered, from the client's JSON (the receiver's counts come back to the client). */
export interface IperfResult {
  /** How long the sender sent, in seconds. */
  readonly seconds: number;
  readonly packetsSent: number;
  readonly packetsReceived: number;
  /** Received, counted as the limiter counts them: IP packet bits (UDP), or TCP payload bits. */
  readonly bitsReceived: number;
  /** UDP: what the sender sent in each reporting interval (`intervalSeconds`), to see whether it kept pace. */
  readonly sentIntervals: readonly { readonly seconds: number; readonly packets: number }[];
}

interface IperfSum {
  seconds: number;
  bytes: number;
  packets?: number;
  /** UDP: `packets` is the highest sequence number the receiver saw, `lost_packets` the gaps below it. */
  lost_packets?: number;
}
interface IperfJson {
  error?: string;
  intervals?: { sum?: { seconds?: number; packets?: number } }[];
  end?: { sum_sent?: IperfSum; sum_received?: IperfSum };
}

/**
 * One iperf3 test between two namespaces: a one-off server in `serverNs`, a client in `clientNs` sending to
 * `host`. UDP: a fixed count of `length`-byte datagrams at `bitsPerSecond`; TCP: `seconds` of a bulk transfer.
 * The server is a child process of this test (never left behind: it serves one test and exits, or is killed).
 */
export async function iperf(options: {
  readonly serverNs: string;
  readonly clientNs: string;
  readonly host: string;
  readonly udp?: { readonly bitsPerSecond: number; readonly length: number; readonly count: number };
  readonly tcpSeconds?: number;
  /** iperf3's reporting interval (`-i`); default 1 s. */
  readonly intervalSeconds?: number;
}): Promise<IperfResult> {
  const [file, ...args] = commandLine(
    'iperf3',
    ['-s', '-1', '-p', String(IPERF_PORT), '--idle-timeout', '10'],
    options.serverNs,
  );
  const server = spawnProgram(file!, args, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  try {
    await waitListening(options.serverNs);
    const clientArgs = ['-c', options.host, '-p', String(IPERF_PORT), '-J'];
    if (options.intervalSeconds) clientArgs.push('-i', String(options.intervalSeconds));
    if (options.udp) {
      const { bitsPerSecond, length, count } = options.udp;
      clientArgs.push('-u', '-b', String(bitsPerSecond), '-l', String(length), '-k', String(count));
    } else {
      clientArgs.push('-t', String(options.tcpSeconds ?? 2));
    }
    const { stdout } = await run('iperf3', clientArgs, {
      netns: options.clientNs,
      timeoutMs: 30_000,
      okExitCodes: [1],
    });
    const json = JSON.parse(stdout) as IperfJson;
    const sent = json.end?.sum_sent;
    const received = json.end?.sum_received;
    if (json.error || !sent || !received)
      throw new Error(`iperf3 to ${options.host}: ${json.error ?? stdout}`);
    const packetsReceived = (received.packets ?? 0) - (received.lost_packets ?? 0);
    return {
      seconds: sent.seconds,
      packetsSent: sent.packets ?? 0,
      packetsReceived,
      bitsReceived: 8 * (received.bytes + (options.udp ? packetsReceived * IP_UDP_HEADERS : 0)),
      sentIntervals: (json.intervals ?? []).map((i) => ({
        seconds: i.sum?.seconds ?? 0,
        packets: i.sum?.packets ?? 0,
      })),
    };
  } finally {
    if (server.exitCode === null) server.kill();
    await exited;
  }
}

/** The one-off server listens a moment after it starts: poll its socket rather than sleep a guess. */
async function waitListening(ns: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const { stdout } = await run('ss', ['-Hltn', `sport = :${IPERF_PORT}`], { netns: ns });
    if (stdout.trim()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`iperf3 server in ${ns} is not listening on ${IPERF_PORT}`);
}
