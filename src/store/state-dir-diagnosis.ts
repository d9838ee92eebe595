import { accessSync, constants, statfsSync } from 'node:fs';

/** Below this much free space, a failed write is blamed on a full file system. */
const NEARLY_FULL_BYTES = 1024 * 1024;

/**
 * Why a directory cannot be written, in words an operator can act on: which path, what is wrong with it, and
 * what to do. `code` is the errno or SQLite code that was seen, if any. Checks the file system itself, because
 * SQLite reports a full disk, a read-only mount and a permission problem alike as "unable to open database file"
 * or "disk I/O error".
 */
export function diagnoseStateDir(dir: string, code = ''): string {
  const elsewhere = 'or choose another with --state-dir';
  let writable = true;
  let writeError = '';
  try {
    accessSync(dir, constants.W_OK);
  } catch (error) {
    writable = false;
    writeError = (error as NodeJS.ErrnoException).code ?? '';
  }
  if (writeError === 'ENOENT') return `The state directory ${dir} does not exist: create it, ${elsewhere}.`;
  if (writeError === 'EROFS' || code === 'EROFS') {
    return `The state directory ${dir} is on a read-only file system: remount it read-write (mount -o remount,rw), ${elsewhere}.`;
  }
  let free: number | undefined;
  try {
    const fs = statfsSync(dir);
    free = fs.bavail * fs.bsize;
  } catch {
    /* no answer: say what else we know */
  }
  if (
    code === 'ENOSPC' ||
    code === 'SQLITE_FULL' ||
    code === 'EDQUOT' ||
    (free !== undefined && free < NEARLY_FULL_BYTES)
  ) {
    return `The file system holding the state directory ${dir} is full (${Math.floor((free ?? 0) / 1024)} KiB free): free space there, ${elsewhere}.`;
  }
  if (!writable || code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_READONLY') {
    return `The state directory ${dir} is not writable by this user (${writeError || code}): fix its owner or mode, ${elsewhere}.`;
  }
  return `The state directory ${dir} cannot be written (${code || 'unknown error'}): check the file system and the kernel log, ${elsewhere}.`;
}
