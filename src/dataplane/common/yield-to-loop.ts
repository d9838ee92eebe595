/**
 * Lets the event loop run what waits (I/O callbacks, timers, other routers' deltas, API requests) before the caller
 * goes on. A full pass at 100,000 floating IPs is seconds of CPU between its awaits: without these turns an
 * association on another router, or the API call that makes it, waits for all of it (issue 15's tail).
 * setImmediate, not a resolved promise: a promise continues in the same microtask queue, before any I/O.
 */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
