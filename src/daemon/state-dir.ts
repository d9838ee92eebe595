import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectories } from '../fs/make-directories.js';
import { diagnoseStateDir } from '../store/state-dir-diagnosis.js';

/**
 * Makes sure the state directory exists and takes a write, before the daemon opens anything in it: a read-only,
 * full or foreign-owned directory is then one clear message (naming the path and the fix) instead of whichever
 * file happened to be written first. Nothing else is touched, so the kernel keeps forwarding what it has.
 */
export function checkStateDir(dir: string): void {
  const probe = join(dir, `.sfip-write-check-${process.pid}`);
  try {
    makeDirectories(dir);
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
