import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import { parseNamespaceName } from '../../src/model/index.js';

/**
 * Sends one UDP datagram with a small TTL from a connected socket with IP_RECVERR, then waits for the ICMP
 * error on the socket's error queue. The kernel queues an error only when the packet quoted inside it matches
 * the socket (its source address and port, the destination and its port): receiving one proves that the
 * quoted header came back with the addresses this host used.
 */
const RECVERR_SCRIPT = `
import json, select, socket, struct, sys
host, port, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
IP_RECVERR = 11
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
s.connect((host, port))
s.send(b"sfip-ttl-probe-" + b"x" * 48)
p = select.poll()
p.register(s, select.POLLERR)
if not p.poll(3000):
    print(json.dumps({"error": None, "local": s.getsockname()[0]}))
    sys.exit(0)
data, anc, flags, addr = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
for level, kind, d in anc:
    if level == socket.IPPROTO_IP and kind == IP_RECVERR:
        errno_, origin, typ, code, _, info, _ = struct.unpack("IBBBBII", d[:16])
        offender = socket.inet_ntoa(d[20:24])
        print(json.dumps({"error": {"type": typ, "code": code, "offender": offender}, "local": s.getsockname()[0]}))
        sys.exit(0)
print(json.dumps({"error": None, "local": s.getsockname()[0]}))
`;

export interface RecvErr {
  readonly error: { type: number; code: number; offender: string } | null;
  readonly local: string;
}

export async function udpWithTtl(
  namespace: string,
  host: string,
  port: number,
  ttl: number,
): Promise<RecvErr> {
  const { stdout } = await run('python3', ['-c', RECVERR_SCRIPT, host, String(port), String(ttl)], {
    netns: namespace,
    timeoutMs: 10_000,
  });
  return JSON.parse(stdout) as RecvErr;
}

/** tcpdump in a namespace until `count` packets match the filter; `stop` ends it early. */
export async function capture(namespace: string, device: string, filter: string, count: number) {
  const file = join(tmpdir(), `sfip-capture-${process.pid}-${Date.now()}.pcap`);
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      parseNamespaceName(namespace),
      'tcpdump',
      '-i',
      device,
      '-U',
      '-n',
      '-c',
      String(count),
      '-w',
      file,
      filter,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (b: Buffer) => {
      text += b.toString();
      if (text.includes('listening on')) resolve();
    });
    child.on('exit', () => reject(new Error(`tcpdump exited: ${text}`)));
  });
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    /** Waits for the packets (at most `timeoutMs`), then returns the file's bytes. */
    async packets(timeoutMs = 5000): Promise<Buffer> {
      const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
      await done;
      clearTimeout(timer);
      const bytes = await readFile(file);
      await rm(file, { force: true });
      return bytes;
    },
  };
}
