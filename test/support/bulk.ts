import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { run } from '../../src/exec/run.js';
import { parseNamespaceName } from '../../src/model/index.js';

const SINK = `
const net = require('node:net');
const server = net.createServer((socket) => {
  let bytes = 0;
  socket.on('data', (b) => (bytes += b.length));
  socket.on('end', () => { socket.end(String(bytes)); server.close(); });
});
server.listen(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'));
`;

const SOURCE = `
const net = require('node:net');
const [host, port, size] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const socket = net.connect({ host, port }, () => socket.end(Buffer.alloc(size, 0x61)));
let reply = '';
socket.on('data', (b) => (reply += b));
socket.on('end', () => console.log(reply));
socket.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

/** A TCP sink in a namespace that reports how many bytes one connection brought. */
export async function startSink(namespace: string, port: number): Promise<{ close(): void }> {
  const child = spawn(
    'ip',
    ['netns', 'exec', parseNamespaceName(namespace), process.execPath, '-e', SINK, String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', () => reject(new Error('sink exited')));
  });
  return { close: () => child.kill() };
}

/** Sends `size` bytes over one TCP connection and returns the byte count the sink reported. */
export async function sendBulk(
  namespace: string,
  host: string,
  port: number,
  size: number,
  timeoutMs: number,
) {
  const { stdout } = await run(process.execPath, ['-e', SOURCE, host, String(port), String(size)], {
    netns: namespace,
    timeoutMs,
  });
  return Number(stdout.trim());
}
