import type { Json } from '../../client/api-client.js';

/** How often --wait asks: the agent usually answers within one pass, well under a second. */
const POLL_MS = 200;

/** Polls a resource until its status is one of `wanted` or the time is up; returns the last one read. */
export async function waitForStatus(
  read: () => Promise<Json>,
  wanted: readonly string[],
  timeoutMs: number,
): Promise<{ resource: Json; timedOut: boolean }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const resource = await read();
    if (wanted.includes(String(resource.status))) return { resource, timedOut: false };
    if (Date.now() >= deadline) return { resource, timedOut: true };
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}
