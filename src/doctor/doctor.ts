import { release } from 'node:os';
import { run as defaultRun, type Runner } from '../exec/run.js';
import { checkTool, kernelOptionChecks } from '../dataplane/common/capabilities.js';
import { createDataplane, IMPLEMENTED_BACKENDS } from '../dataplane/registry.js';
import type { CapabilityCheck, Dataplane } from '../dataplane/types.js';

export interface DoctorLine {
  /** What the line is about: a backend, or `general`. */
  readonly area: string;
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

const line = (area: string, c: CapabilityCheck): DoctorLine => ({
  area,
  check: c.name,
  ok: c.ok,
  detail: c.detail,
});

/**
 * What this host can run. The general lines are what every backend shares (namespaces, conntrack, the tools of
 * the router layer); every backend's lines are its own check(), with probes, so `sfip doctor` and an agent
 * starting on that backend can never disagree about it.
 */
export async function doctor(
  run: Runner = defaultRun,
  backends: readonly Dataplane[] = IMPLEMENTED_BACKENDS.map((name) => createDataplane(name, run)),
): Promise<DoctorLine[]> {
  const general: CapabilityCheck[] = [
    { name: 'kernel', ok: true, detail: release() },
    await checkTool(run, 'ip', ['-V'], 'iproute2, for namespaces and floating addresses'),
    await checkTool(run, 'conntrack', ['--version'], 'conntrack-tools, for stale-entry cleanup'),
    await checkTool(run, 'arping', ['-V'], 'iputils-arping, for gratuitous ARP without the built sender'),
    ...kernelOptionChecks([
      ['CONFIG_NF_CONNTRACK', 'connection tracking (shared SNAT)'],
      ['CONFIG_NET_NS', 'network namespaces'],
    ]),
  ];
  const lines = general.map((c) => line('general', c));
  for (const backend of backends) {
    for (const c of await backend.check({ probe: true })) lines.push(line(backend.name, c));
  }
  return lines;
}

/** A backend is usable when every line of its area, and every general line, is ok. */
export function usableBackends(lines: readonly DoctorLine[]): string[] {
  const generalOk = lines.filter((l) => l.area === 'general').every((l) => l.ok);
  const areas = [...new Set(lines.map((l) => l.area))].filter((a) => a !== 'general');
  return areas.filter((a) => generalOk && lines.filter((l) => l.area === a).every((l) => l.ok));
}
