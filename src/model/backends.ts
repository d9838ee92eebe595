import { invalidInput } from './errors.js';

/** The dataplane backends a router can ask for. Which ones actually work depends on the kernel (`sfip doctor`). */
export const ROUTER_BACKENDS = ['nftables', 'tc', 'ebpf', 'iptables'] as const;

/**
 * Every dataplane a daemon can run: the router backends, and `fake`, an in-memory dataplane that programs no
 * kernel. The fake exists for tests (a daemon started with `--backend fake`); a router can never ask for it, so
 * no admin can leave a router's floating IPs unprogrammed while they read ACTIVE.
 */
export const BACKEND_NAMES = [...ROUTER_BACKENDS, 'fake'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** A router's `backend` attribute. */
export function parseBackendName(name: unknown): BackendName {
  if (typeof name !== 'string' || !(ROUTER_BACKENDS as readonly string[]).includes(name)) {
    throw invalidInput(
      `'${String(name)}' is not a dataplane backend: expected one of ${ROUTER_BACKENDS.join(', ')}`,
    );
  }
  return name as BackendName;
}

/** A daemon's `--backend`: a router backend, or `fake` (tests). */
export function parseDaemonBackend(name: unknown): BackendName {
  if (name === 'fake') return 'fake';
  return parseBackendName(name);
}
