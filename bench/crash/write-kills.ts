import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, ApiError, type Json } from '../../src/client/api-client.js';
import { prng } from '../churn/churner.js';
import { ServeProcess } from '../faults/serve-process.js';
import { storeIntegrityProblems } from './store-integrity.js';

export interface WriteKillOptions {
  readonly iterations: number;
  /** Concurrent writers, each with its own subnet, ports and floating IPs. */
  readonly writers: number;
  readonly port: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

export interface WriteKillResult {
  readonly iterations: number;
  readonly writers: number;
  /** Writes acknowledged before a kill, over all iterations. */
  readonly acknowledged: number;
  /** Writes in flight at a kill (their outcome unknown to the client). */
  readonly inFlight: number;
  /** Of those, how many turned out applied (completely) after the restart. */
  readonly inFlightApplied: number;
  /** Refused by the API for a model reason (e.g. a race the writer did not foresee); not writes. */
  readonly refused: number;
  /** Acknowledged writes missing, unacknowledged ones half there, or a broken store: must be empty. */
  readonly problems: string[];
}

/** A writer's own objects as it last knew them: floating IPs by description, and whether its subnet is attached. */
interface WriterState {
  fips: Map<string, { id: string; address: string; port: string | null; tags: string[] }>;
  attached: boolean;
}

interface Writer {
  readonly index: number;
  readonly subnetId: string;
  readonly ports: string[];
  state: WriterState;
  /** The write in flight when serve died: the state it would have produced. */
  pending: { label: string; after: WriterState } | undefined;
  created: number;
}

const clone = (s: WriterState): WriterState => ({
  attached: s.attached,
  fips: new Map([...s.fips].map(([k, v]) => [k, { ...v, tags: [...v.tags] }])),
});

/** Canonical text of a state, compared whole: anything half-applied differs from both before and after. */
const canonical = (s: WriterState) =>
  JSON.stringify({
    attached: s.attached,
    fips: [...s.fips]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([d, f]) => [d, f.address, f.port, [...f.tags].sort()]),
  });

async function topology(
  api: ApiClient,
  writers: number,
): Promise<{ externalNetworkId: string; routerId: string; writers: Writer[] }> {
  const ext = (
    await api.post<{ network: Json }>('/v2.0/networks', {
      network: { name: 'public', 'router:external': true },
    })
  ).network;
  await api.post('/v2.0/subnets', {
    subnet: {
      network_id: ext.id,
      cidr: '203.0.113.0/24',
      gateway_ip: '203.0.113.1',
      allocation_pools: [{ start: '203.0.113.10', end: '203.0.113.250' }],
    },
  });
  const router = (
    await api.post<{ router: Json }>('/v2.0/routers', {
      router: {
        name: 'r1',
        namespace: 'tf-writes-not-a-namespace',
        gateway_device: 'qg-w',
        external_gateway_info: { network_id: ext.id },
      },
    })
  ).router;
  const out: Writer[] = [];
  for (let i = 0; i < writers; i++) {
    const net = (await api.post<{ network: Json }>('/v2.0/networks', { network: { name: `w${i}` } })).network;
    const subnet = (
      await api.post<{ subnet: Json }>('/v2.0/subnets', {
        subnet: { network_id: net.id, cidr: `10.${i}.0.0/24` },
      })
    ).subnet;
    const ports: string[] = [];
    for (let k = 0; k < 3; k++) {
      const port = (
        await api.post<{ port: Json }>('/v2.0/ports', { port: { network_id: net.id, name: `w${i}-p${k}` } })
      ).port;
      ports.push(String(port.id));
    }
    out.push({
      index: i,
      subnetId: String(subnet.id),
      ports,
      state: { fips: new Map(), attached: false },
      pending: undefined,
      created: 0,
    });
  }
  return { externalNetworkId: String(ext.id), routerId: String(router.id), writers: out };
}

/** What the API holds for one writer now. */
async function actualState(api: ApiClient, routerId: string, w: Writer): Promise<WriterState> {
  const fips = (await api.get<{ floatingips: Json[] }>('/v2.0/floatingips')).floatingips.filter((f) =>
    String(f.description).startsWith(`w${w.index}-`),
  );
  const ifaces = (
    await api.get<{ ports: Json[] }>(
      `/v2.0/ports?device_id=${routerId}&device_owner=network:router_interface`,
    )
  ).ports;
  return {
    attached: ifaces.some((p) => (p.fixed_ips as Json[]).some((ip) => ip.subnet_id === w.subnetId)),
    fips: new Map(
      fips.map((f) => [
        String(f.description),
        {
          id: String(f.id),
          address: String(f.floating_ip_address),
          port: (f.port_id as string | null) ?? null,
          tags: (f.tags as string[]) ?? [],
        },
      ]),
    ),
  };
}

/**
 * Writers hammer `sfip serve` with creates, associations, moves, tag and router-interface changes (the last is a
 * multi-object write), and serve is SIGKILLed at a random moment. After each restart every acknowledged write
 * must be there, the one in flight either completely there or not at all, and the store internally consistent.
 * Runs on the fake backend: this is about the API and the store, not the kernel.
 */
export async function runWriteKills(o: WriteKillOptions): Promise<WriteKillResult> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-writes-'));
  const random = prng(o.seed);
  const serveOptions = {
    stateDir,
    port: o.port,
    backend: 'fake',
    args: ['--resync-interval', '10m'],
    stderr: 'keep' as const,
  };
  let serve = new ServeProcess(serveOptions);
  const problems: string[] = [];
  let acknowledged = 0;
  let inFlight = 0;
  let inFlightApplied = 0;
  let refused = 0;
  try {
    await serve.whenReady();
    let api = new ApiClient(serve.url);
    const topo = await topology(api, o.writers);

    /** One random write for a writer; returns false once serve is gone. */
    const writeOnce = async (w: Writer): Promise<boolean> => {
      const s = w.state;
      const after = clone(s);
      const descriptions = [...s.fips.keys()];
      const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
      const usedPorts = new Set([...s.fips.values()].map((f) => f.port));
      const freePort = pick(w.ports.filter((p) => !usedPorts.has(p)));
      const x = random();
      let label: string;
      let call: () => Promise<unknown>;
      if (descriptions.length === 0 || x < 0.2) {
        const description = `w${w.index}-${w.created++}`;
        const port = s.attached && freePort && random() < 0.7 ? freePort : null;
        label = `create ${description}`;
        call = async () => {
          const fip = (
            await api.post<{ floatingip: Json }>('/v2.0/floatingips', {
              floatingip: {
                floating_network_id: topo.externalNetworkId,
                description,
                ...(port && { port_id: port }),
              },
            })
          ).floatingip;
          after.fips.set(description, {
            id: String(fip.id),
            address: String(fip.floating_ip_address),
            port,
            tags: [],
          });
        };
        // The address is chosen by the server; a create found after a crash is matched by its description.
        after.fips.set(description, { id: '?', address: '?', port, tags: [] });
      } else {
        const d = pick(descriptions)!;
        const f = s.fips.get(d)!;
        if (x < 0.45 && s.attached && freePort) {
          label = `move ${d}`;
          after.fips.get(d)!.port = freePort;
          call = () => api.put(`/v2.0/floatingips/${f.id}`, { floatingip: { port_id: freePort } });
        } else if (x < 0.55 && f.port) {
          label = `disassociate ${d}`;
          after.fips.get(d)!.port = null;
          call = () => api.put(`/v2.0/floatingips/${f.id}`, { floatingip: { port_id: null } });
        } else if (x < 0.65) {
          const tag = `t${Math.floor(random() * 4)}`;
          label = `tag ${d} ${tag}`;
          if (!f.tags.includes(tag)) after.fips.get(d)!.tags.push(tag);
          call = () => api.put(`/v2.0/floatingips/${f.id}/tags/${tag}`, undefined);
        } else if (x < 0.8) {
          label = `delete ${d}`;
          after.fips.delete(d);
          call = () => api.delete(`/v2.0/floatingips/${f.id}`);
        } else if (!s.attached) {
          label = 'attach';
          after.attached = true;
          call = () =>
            api.put(`/v2.0/routers/${topo.routerId}/add_router_interface`, { subnet_id: w.subnetId });
        } else if (![...s.fips.values()].some((v) => v.port)) {
          label = 'detach';
          after.attached = false;
          call = () =>
            api.put(`/v2.0/routers/${topo.routerId}/remove_router_interface`, { subnet_id: w.subnetId });
        } else return true;
      }
      try {
        await call();
        acknowledged++;
        w.state = after;
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.status > 0) {
          refused++;
          return true;
        }
        w.pending = { label, after };
        return false;
      }
    };

    for (let iteration = 1; iteration <= o.iterations; iteration++) {
      const running = topo.writers.map(async (w) => {
        while (await writeOnce(w));
      });
      await new Promise((r) => setTimeout(r, 200 + random() * 1200));
      await serve.kill('SIGKILL');
      await Promise.all(running);
      serve = new ServeProcess(serveOptions);
      await serve.whenReady();
      api = new ApiClient(serve.url);
      problems.push(...storeIntegrityProblems(join(stateDir, 'sfip.db')).map((p) => `#${iteration}: ${p}`));
      for (const w of topo.writers) {
        const actual = await actualState(api, topo.routerId, w);
        const ids = (s: WriterState) => {
          // A create in flight has no id yet: compare it by what the server gave it.
          const c = clone(s);
          for (const [d, f] of c.fips)
            if (f.id === '?') c.fips.set(d, { ...actual.fips.get(d)!, port: f.port, tags: f.tags });
          return canonical(c);
        };
        const now = canonical(actual);
        if (w.pending) inFlight++;
        if (now === canonical(w.state)) {
          // Acknowledged writes all there; the one in flight (if any) did not happen.
        } else if (w.pending && now === ids(w.pending.after)) {
          inFlightApplied++;
        } else {
          problems.push(
            `#${iteration} writer ${w.index}${w.pending ? ` (in flight: ${w.pending.label})` : ''}: expected ${canonical(w.state)}, found ${now}`,
          );
        }
        w.state = actual;
        w.pending = undefined;
      }
      o.log(`write kills #${iteration}: ${acknowledged} acknowledged so far, ${problems.length} problems`);
    }
    return {
      iterations: o.iterations,
      writers: o.writers,
      acknowledged,
      inFlight,
      inFlightApplied,
      refused,
      problems,
    };
  } finally {
    await serve.stop().catch(() => serve.kill('SIGKILL'));
    rmSync(stateDir, { recursive: true, force: true });
  }
}
