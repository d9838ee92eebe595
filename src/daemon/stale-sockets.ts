import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** The sockets `sfip serve` makes in its state directory, named by the pid of the primary that made them. */
const SOCKET = /^(?:api|write)-(\d+)\.sock$/;

/** Whether a process with this pid exists (EPERM: it does, and is another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the sockets left in the state directory by primaries that are gone. A primary removes its own when it
 * stops, but one that was killed (SIGKILL, OOM, power) cannot, and their names carry its pid, so without this a
 * state directory gathers one pair per crash. A socket of a live process is left alone: it may be another daemon's
 * on the same directory, which its own lock will refuse to share. Returns the names removed.
 */
export function removeStaleSockets(stateDir: string, self: number = process.pid): string[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(SOCKET.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === self || alive(pid)) continue;
    rmSync(join(stateDir, name), { force: true });
    removed.push(name);
  }
  return removed.sort();
}
