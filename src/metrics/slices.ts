/**
 * Cooperative slicing for work over 100,000 floating IPs on the daemon's event loop: the work runs in slices of a
 * few thousand items and yields between them, so API requests that arrive meanwhile wait for one slice (a few
 * milliseconds), not for the whole job. Measured at 100,000 floating IPs, the unsliced parse, join and text of
 * one scrape held the loop for about 0.8 s (docs/metrics.md).
 */
export const SLICE = 2000;

/** Lets pending I/O callbacks (incoming requests) run before the next slice. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
