import type { ApiClient } from '../../src/client/api-client.js';
import type { ScalePopulatedIds } from './populate-scale.js';
import type { NamespaceHelper } from './processes.js';
import { floatingIpOf, sampleSlot, type ScaleTopology } from './scale-topology.js';

const ECHO_PORT = 7;
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

export interface AssociateSamples {
  readonly latenciesMs: number[];
  /** How long each answered API call itself took: the part of the latency that is not the agent's. */
  readonly apiMs: number[];
  /** Samples without a reply within the timeout, API errors included. */
  readonly latencyFailures: number;
  readonly latencyApiErrors: number;
  /** The floating IPs the samples associated, for the disassociate samples. */
  readonly sampled: { id: string; address: string }[];
}

/**
 * Associate → traffic: per sample, a probe from the external host sends every millisecond to a new floating IP
 * (dealt over the routers), the API call goes out (half create an associated floating IP, half associate an
 * existing one), and the latency runs to the first reply. Stops taking samples once `budgetMs` has passed.
 */
export async function associateSamples(o: {
  readonly t: ScaleTopology;
  readonly ids: ScalePopulatedIds;
  readonly api: ApiClient;
  readonly sender: NamespaceHelper;
  readonly samples: number;
  readonly budgetMs: number;
  readonly replyTimeoutMs: number;
  readonly log: (line: string) => void;
}): Promise<AssociateSamples> {
  const latenciesMs: number[] = [];
  const apiMs: number[] = [];
  let latencyFailures = 0;
  let latencyApiErrors = 0;
  const sampled: { id: string; address: string }[] = [];
  const samplesStarted = performance.now();
  for (let k = 0; k < o.samples; k++) {
    if (performance.now() - samplesStarted > o.budgetMs) break;
    const slot = sampleSlot(o.t, k);
    const address = floatingIpOf(o.t, slot.router, slot.index);
    const portId = o.ids.routers[slot.router]!.portIds[slot.index]!;
    // Half the samples create an associated floating IP in one call, half associate an existing one.
    const associateLater = k % 2 === 1;
    let fipId = '';
    if (associateLater) {
      const made = await o.api
        .post<{ floatingip: { id: string } }>('/v2.0/floatingips', {
          floatingip: { floating_network_id: o.ids.externalNetworkId, floating_ip_address: address },
        })
        .catch((error: unknown) => {
          o.log(`associate sample ${k}: ${(error as Error).message}`);
          return undefined;
        });
      if (!made) {
        latencyApiErrors++;
        latencyFailures++;
        continue;
      }
      fipId = made.floatingip.id;
    }
    const reply = o.sender.call<{ at: number | null }>({
      op: 'firstReply',
      host: address,
      port: ECHO_PORT,
      timeoutMs: o.replyTimeoutMs,
    });
    await sleep(5);
    const sentAt = wallNow();
    try {
      if (associateLater) await o.api.put(`/v2.0/floatingips/${fipId}`, { floatingip: { port_id: portId } });
      else
        fipId = (
          await o.api.post<{ floatingip: { id: string } }>('/v2.0/floatingips', {
            floatingip: {
              floating_network_id: o.ids.externalNetworkId,
              floating_ip_address: address,
              port_id: portId,
            },
          })
        ).floatingip.id;
    } catch (error) {
      // A daemon whose event loop is held by a full pass times requests out: a failed sample, not a failed run.
      latencyApiErrors++;
      latencyFailures++;
      o.log(`associate sample ${k}: ${(error as Error).message}`);
      await reply;
      continue;
    }
    apiMs.push(wallNow() - sentAt);
    sampled.push({ id: fipId, address });
    const { at } = await reply;
    if (at === null) latencyFailures++;
    else latenciesMs.push(Math.max(0, at - sentAt));
  }
  return { latenciesMs, apiMs, latencyFailures, latencyApiErrors, sampled };
}
