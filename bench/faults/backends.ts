import { createDataplane } from '../../src/dataplane/index.js';
import { BACKEND_NAMES, type BackendName } from '../../src/model/index.js';

export interface BackendAvailability {
  readonly available: BackendName[];
  /** Registered backends that cannot run here, with the reason (not built yet, or a failed capability check). */
  readonly unavailable: { readonly name: BackendName; readonly reason: string }[];
}

/** Stateful backends keep conntrack entries for floating-IP flows by design. */
export const STATEFUL_BACKENDS: ReadonlySet<BackendName> = new Set(['iptables']);

/** Every registered backend except the in-memory fake, split by whether it can program this kernel. */
export async function availableBackends(): Promise<BackendAvailability> {
  const available: BackendName[] = [];
  const unavailable: { name: BackendName; reason: string }[] = [];
  for (const name of BACKEND_NAMES) {
    if (name === 'fake') continue;
    try {
      const failed = (await createDataplane(name).check()).filter((c) => !c.ok);
      if (failed.length === 0) available.push(name);
      else unavailable.push({ name, reason: failed.map((c) => c.detail).join('; ') });
    } catch (error) {
      unavailable.push({ name, reason: (error as Error).message });
    }
  }
  return { available, unavailable };
}
