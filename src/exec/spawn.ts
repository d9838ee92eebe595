import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { recordPrograms } from './record-programs.js';

/**
 * node's spawn and execFile, recording the program they start (see record-programs.ts). Everything outside
 * src/exec that starts a program goes through these or through `run`, so that the test run's record of the
 * programs it needs is complete: the program-coverage test fails for a file that imports node:child_process.
 */
export const spawnProgram = ((
  file: string,
  args?: readonly string[] | SpawnOptions,
  options?: SpawnOptions,
) => {
  recordPrograms([file, ...(Array.isArray(args) ? (args as readonly string[]) : [])]);
  return (spawn as (...a: unknown[]) => ChildProcess)(file, args, options);
}) as typeof spawn;

/**
 * `setpriv --pdeathsig KILL` (util-linux) before a program: it dies with the process that started it. Without this, a
 * SIGKILLed agent leaves its `nft -f` or `iptables-restore` running; a restarted agent could then read the kernel
 * before that orphan commits and plan against a state that is about to change, adding duplicates or undoing newer
 * work. With it, the orphan's transaction is committed or abandoned within milliseconds of the crash (both tools
 * commit atomically), long before a new agent reads. Long-lived helpers get the same, so none outlives the agent.
 */
export const DIE_WITH_PARENT: readonly string[] = ['setpriv', '--pdeathsig', 'KILL', '--'];

/**
 * spawnProgram of `argv` under DIE_WITH_PARENT. `record` false: the spawn server's, whose daemon recorded the
 * program when it asked for it.
 */
export function spawnDyingWithParent(
  argv: readonly string[],
  options: SpawnOptions,
  record = true,
): ChildProcess {
  const args = [...DIE_WITH_PARENT.slice(1), ...argv];
  return (record ? spawnProgram : (spawn as (...a: unknown[]) => ChildProcess))(
    DIE_WITH_PARENT[0]!,
    args,
    options,
  );
}

const execFileAsync = promisify(execFile);

export const execFileProgram = Object.assign(
  (file: string, ...rest: unknown[]) => {
    recordPrograms([file, ...(Array.isArray(rest[0]) ? (rest[0] as readonly string[]) : [])]);
    return (execFile as (...a: unknown[]) => ChildProcess)(file, ...rest);
  },
  {
    // So that promisify(execFileProgram) resolves with { stdout, stderr }, as promisify(execFile) does.
    [promisify.custom]: (file: string, ...rest: unknown[]) => {
      recordPrograms([file, ...(Array.isArray(rest[0]) ? (rest[0] as readonly string[]) : [])]);
      return (execFileAsync as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
    },
  },
) as unknown as typeof execFile;

export const execFileSyncProgram = ((file: string, ...rest: unknown[]) => {
  recordPrograms([file, ...(Array.isArray(rest[0]) ? (rest[0] as readonly string[]) : [])]);
  return (execFileSync as (...a: unknown[]) => unknown)(file, ...rest);
}) as typeof execFileSync;

/** Whether the child and its pipes keep node's event loop alive: only while a request waits for an answer. */
export function setRef(child: ChildProcess, ref: boolean): void {
  for (const stream of [child.stdin, child.stdout, child.stderr] as (Partial<Socket> | null)[]) {
    if (ref) stream?.ref?.();
    else stream?.unref?.();
  }
  if (ref) child.ref();
  else child.unref();
}
