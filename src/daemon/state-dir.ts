import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { diagnoseStateDir } from '../store/state-dir-diagnosis.js';

/**
 * Makes sure the state directory exists and takes a write, before the daemon opens anything in it: a read-only,
 * full or foreign-owned directory is then one clear message (naming the path and the fix) instead of whichever
 * file happened to be written first. Nothing else is touched, so the kernel keeps forwarding what it has.
 */
export function checkStateDir(dir: string): void {
  const probe = join(dir, `.sfip-write-check-${process.pid}`);
  try {
    makeDirectories(resolve(dir));
    writeFileSync(probe, 'ok\n');
  } catch (error) {
    throw new Error(
      `${diagnoseStateDir(dir, (error as NodeJS.ErrnoException).code ?? '')} sfip serve did not start; the kernel keeps forwarding what it has.`,
      { cause: error },
    );
  } finally {
    rmSync(probe, { force: true });
  }
}

/**
 * `mkdir -p`, one level at a time. Node 20's recursive mkdirSync never returns when the kernel answers ENOENT for a
 * parent that exists (a path under /proc or /sys): it retries the same parent forever.
 */
function makeDirectories(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirectories(parent);
  mkdirSync(dir, { mode: 0o700 });
}
