import { chmodSync, closeSync, constants, fchmodSync, openSync } from 'node:fs';

/** Owner read and write only: state files hold tokens' hashes, every project's resources, the audit trail. */
export const PRIVATE_MODE = 0o600;

/**
 * Creates `path` if missing and makes it 0600 either way. A file's mode at creation is 0666 less the umask
 * (usually 0644), whatever its directory's mode, and a file an older sfip created keeps its mode: so sfip sets
 * it itself, before anything is written into the file. Refuses to follow a symbolic link at `path`.
 */
export function ensurePrivateFile(path: string): void {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, PRIVATE_MODE);
  try {
    fchmodSync(fd, PRIVATE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** Makes an existing file 0600; a missing one is fine (SQLite's -wal and -shm come and go). */
export function restrictIfPresent(path: string): void {
  try {
    chmodSync(path, PRIVATE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * A SQLite database and its companions 0600. SQLite gives a new -wal and -shm the main file's mode, so the main
 * file is made private before SQLite opens it, and companions left by an older sfip are fixed too.
 */
export function ensurePrivateDatabase(path: string): void {
  ensurePrivateFile(path);
  for (const suffix of ['-wal', '-shm', '-journal']) restrictIfPresent(`${path}${suffix}`);
}
