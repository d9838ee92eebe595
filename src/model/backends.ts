import { invalidInput } from './errors.js';

/** The dataplane drivers a router can ask for. Which ones actually work depends on the kernel (`sfip doctor`). */
export const BACKEND_NAMES = ['nftables', 'tc', 'ebpf', 'iptables', 'fake'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export function parseBackendName(name: unknown): BackendName {
  if (typeof name !== 'string' || !(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw invalidInput(
      `'${String(name)}' is not a dataplane backend: expected one of ${BACKEND_NAMES.join(', ')}`,
    );
  }
  return name as BackendName;
}
