import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import { parseNamespaceName } from '../../src/model/index.js';

export interface CraftedUdp {
  readonly dstMac: string;
  readonly saddr: string;
  readonly daddr: string;
  readonly sport: number;
  readonly dport: number;
  readonly payload: string;
  /** Send with a UDP checksum of zero ("none"); otherwise trafgen computes a real one, in software. */
  readonly zeroChecksum: boolean;
}

/**
 * Sends one hand-made UDP packet with trafgen. Unlike a socket's packets (whose checksum a veth leaves to
 * "hardware", so it is never final), these carry a finished checksum, or exactly zero, that a capture can verify.
 */
export async function sendCraftedUdp(namespace: string, device: string, p: CraftedUdp): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-trafgen-'));
  const conf = join(dir, 'packet.cfg');
  const udp = `udp(sp=${p.sport}, dp=${p.dport}${p.zeroChecksum ? ', csum=0' : ''})`;
  writeFileSync(
    conf,
    `{ eth(da=${p.dstMac}), ipv4(saddr=${p.saddr}, daddr=${p.daddr}, ttl=64), ${udp}, "${p.payload}" }\n`,
  );
  try {
    await run('trafgen', ['--dev', device, '--conf', conf, '-n', '1', '--cpus', '1', '-q'], {
      netns: namespace,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function macOf(namespace: string, device: string): Promise<string> {
  const links = JSON.parse(
    (await run('ip', ['-j', 'link', 'show', device], { netns: namespace })).stdout,
  ) as { address: string }[];
  return links[0]!.address;
}

/**
 * Starts tcpdump in a namespace and resolves once it listens; `done` then yields up to `count` decoded packets
 * (with -vv, tcpdump verifies IP and UDP checksums itself and says so).
 */
export async function capture(
  namespace: string,
  device: string,
  filter: string,
  count: number,
  timeoutS = 5,
) {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      parseNamespaceName(namespace),
      'timeout',
      String(timeoutS),
      'tcpdump',
      '-l',
      '-nn',
      '-vv',
      '-c',
      String(count),
      '-i',
      device,
      filter,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => /listening on/.test(b.toString()) && resolve());
    child.once('exit', () => reject(new Error(`tcpdump in ${namespace} exited before listening`)));
  });
  const done = new Promise<string>((resolve) => child.once('exit', () => resolve(out)));
  return { done };
}
