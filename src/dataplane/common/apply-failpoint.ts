import { rmSync, writeFileSync } from 'node:fs';

/**
 * A fault-injection point for the crash suite (bench/crash/agent-kills.ts), as etcd's gofail or TiKV's fail-rs
 * give theirs. With `SFIP_FAILPOINT_APPLY_PAUSE=FILE` in the environment, every apply that changed the
 * translation pauses before its address changes, with FILE present meanwhile. The suite SIGKILLs the daemon
 * there: the one window between "translation first" and "addresses second", and the only way it can see an apply
 * that ran no tool (eBPF writes a delta's map entries in-process). Unset (always, outside that suite), it costs
 * one comparison per apply.
 */
const marker = process.env.SFIP_FAILPOINT_APPLY_PAUSE || undefined;
const PAUSE_MS = 150;
let paused = 0;

export async function applyFailpoint(): Promise<void> {
  if (marker === undefined) return;
  if (paused++ === 0) writeFileSync(marker, String(process.pid));
  try {
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
  } finally {
    if (--paused === 0) rmSync(marker, { force: true });
  }
}
