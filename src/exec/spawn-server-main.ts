/**
 * The spawn server: a small node process that starts the daemon's short-lived programs for it (spawn-client.ts
 * explains why). Requests arrive on stdin, answers leave on stdout, both framed (frames.ts, spawn-protocol.ts);
 * programs run concurrently and are answered as each ends. It exits when its stdin closes (the daemon stopped or
 * died) and, started through DIE_WITH_PARENT, is killed when the daemon is; its programs, started the same way,
 * die with it.
 */
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { encodeFrame, FrameReader, type Frame } from './frames.js';
import { startCollecting } from './run.js';
import { parseRequest, READY } from './spawn-protocol.js';

// A socket of its own on fd 1, not process.stdout: node writes to a pipe on stdout synchronously, and a
// megabyte answer would then hold every other start until the daemon has read it.
const out = new Socket({ fd: 1, readable: false, writable: true });
const reader = new FrameReader();

async function serve(frame: Frame): Promise<void> {
  const { request, input } = parseRequest(frame);
  let inputFd: number | undefined;
  try {
    if (request.inputPath !== undefined) inputFd = openSync(request.inputPath, 'r');
  } catch (error) {
    out.write(encodeFrame({ id: request.id, error: `cannot open its input: ${(error as Error).message}` }));
    return;
  }
  try {
    const outcome = await startCollecting(
      request.argv,
      { stdin: inputFd ?? input, ...(request.timeoutMs !== undefined && { timeoutMs: request.timeoutMs }) },
      false,
    );
    out.write(
      'error' in outcome
        ? encodeFrame({ id: request.id, error: outcome.error })
        : encodeFrame({ id: request.id, code: outcome.code, signal: outcome.signal }, [
            outcome.stdout,
            outcome.stderr,
          ]),
    );
  } finally {
    if (inputFd !== undefined) closeSync(inputFd);
  }
}

const fail = (error: unknown) => {
  process.stderr.write(`sfip spawn server: ${(error as Error).message}\n`);
  process.exit(1);
};

// The daemon decides when this ends (it closes stdin): a terminal's Ctrl-C or systemd's SIGTERM to the whole group
// reaches this process too, and the daemon's graceful stop may still start programs.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
out.on('error', () => process.exit(0));
process.stdin.on('data', (chunk: Buffer) => {
  try {
    for (const frame of reader.push(chunk)) serve(frame).catch(fail);
  } catch (error) {
    fail(error);
  }
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
out.write(encodeFrame(READY));
