import { EventEmitter } from 'node:events';
import type { Etcd3, ILeaseKeepAliveResponse } from 'etcd3';
import { agentIdOf, conflict, type Agent } from '../../model/index.js';
import type { AgentRegistration, AgentRegistrationRequest } from '../store.js';
import type { KeyLayout } from './keys.js';

/**
 * Registers an agent: its record `r/agent/<id>` is written attached to a fresh lease, only if no record exists
 * (a live agent holds the node), and disappears with the lease. Renewals run every TTL/6; each renewal's
 * *send* time plus the TTL bounds when etcd could expire the lease, since etcd restarts the TTL only when the
 * renewal arrives, which is later.
 */
export async function registerAgent(
  client: Etcd3,
  layout: KeyLayout,
  request: AgentRegistrationRequest,
): Promise<{ registration: AgentRegistration; revision: number }> {
  const id = agentIdOf(request.host);
  const key = Buffer.from(layout.resource('agent', id));
  if (request.adoptLeaseId) {
    const adopted = await adopt(client, key, request);
    if (adopted) return { registration: adopted, revision: 0 };
  }
  const sent = performance.now();
  const grant = await client.leaseClient.leaseGrant({ TTL: request.ttlSeconds });
  const agent: Agent = {
    id,
    projectId: '',
    name: request.host,
    description: '',
    tags: [],
    createdAt: request.now,
    updatedAt: request.now,
    revisionNumber: 0,
    host: request.host,
    agentType: 'L3 agent',
    binary: 'sfip-agent',
    startedAt: request.now,
    leaseTtlSeconds: Number(grant.TTL),
  };
  const result = await client.kv.txn({
    compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
    success: [{ request_put: { key, value: Buffer.from(JSON.stringify(agent)), lease: grant.ID } }],
    failure: [{ request_range: { key } }],
  });
  if (!result.succeeded) {
    await client.leaseClient.leaseRevoke({ ID: grant.ID }).catch(() => undefined);
    const holder = result.responses[0]?.response_range?.kvs[0];
    const other = holder ? (JSON.parse(holder.value.toString()) as Agent) : undefined;
    throw conflict(
      'AgentHostInUse',
      `Node ${request.host} is already held by a live agent (started ${other?.startedAt ?? 'at an unknown time'}, lease ${holder?.lease ?? '?'}). ` +
        `Stop that agent or choose another --node; a dead agent's hold ends ${other?.leaseTtlSeconds ?? request.ttlSeconds} s after its last renewal.`,
    );
  }
  return {
    registration: new EtcdAgentLease(client, agent, grant.ID, Number(grant.TTL), sent),
    revision: Number(result.header.revision),
  };
}

/** Takes over the lease of this agent's previous run if it still holds the node. */
async function adopt(
  client: Etcd3,
  key: Buffer,
  request: AgentRegistrationRequest,
): Promise<AgentRegistration | undefined> {
  const current = (await client.kv.range({ key })).kvs[0];
  if (!current || current.lease !== request.adoptLeaseId) return undefined;
  const lease = new EtcdAgentLease(
    client,
    JSON.parse(current.value.toString()) as Agent,
    current.lease,
    request.ttlSeconds,
    0,
  );
  try {
    await lease.renew();
  } catch {
    lease.stop();
    return undefined;
  }
  if (lease.validUntil() <= performance.now()) {
    lease.stop();
    return undefined;
  }
  return lease;
}

/**
 * Renews every TTL/6, each renewal on its own keep-alive stream with its own deadline, and without waiting for
 * the previous one: a stream opened just before etcd went away can hang, and must not hold back the renewals
 * that would succeed once etcd is back.
 */
class EtcdAgentLease extends EventEmitter implements AgentRegistration {
  private valid: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lost = false;

  constructor(
    private readonly client: Etcd3,
    readonly agent: Agent,
    readonly leaseId: string,
    readonly ttlSeconds: number,
    grantSentAt: number,
  ) {
    super();
    this.valid = grantSentAt + ttlSeconds * 1000;
    this.timer = setInterval(() => this.tick(), Math.max(100, (ttlSeconds * 1000) / 6));
  }

  validUntil(): number {
    return this.valid;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  async revoke(): Promise<void> {
    this.stop();
    await this.client.leaseClient.leaseRevoke({ ID: this.leaseId }).catch(() => undefined);
  }

  /**
   * One renewal: resolves once etcd acknowledged it, and moves `validUntil` forward. A slow answer still counts
   * (the bound uses the send time), so it is awaited as long as the lease could still be valid.
   */
  async renew(): Promise<void> {
    const sent = performance.now();
    const wait = Math.max((this.ttlSeconds * 1000) / 2, this.valid - sent);
    const response = await this.keepAliveOnce(wait);
    if (this.stopped) return;
    if (Number(response.TTL) <= 0) {
      if (this.lost) return;
      this.lost = true;
      this.stop();
      this.emit('lost', `etcd no longer knows lease ${this.leaseId}: it expired`);
      return;
    }
    this.valid = Math.max(this.valid, sent + Number(response.TTL) * 1000);
    this.emit('renewed', this.valid);
  }

  private tick(): void {
    this.renew().catch((error: Error) => {
      if (!this.stopped) this.emit('unreachable', error);
    });
  }

  private async keepAliveOnce(timeoutMs: number): Promise<ILeaseKeepAliveResponse> {
    const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
    // The client's typing of the stream omits EventEmitter's methods it has; the object is a grpc-js stream.
    const events = stream as unknown as NodeJS.EventEmitter;
    return new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no keep-alive answer in ${Math.round(timeoutMs)} ms`)),
        timeoutMs,
      );
      events.once('data', (res: ILeaseKeepAliveResponse) => (clearTimeout(timer), resolve(res)));
      events.once('error', (error: Error) => (clearTimeout(timer), reject(error)));
      events.once('end', () => (clearTimeout(timer), reject(new Error('the keep-alive stream ended'))));
      stream.write({ ID: this.leaseId });
    }).finally(() => {
      events.on('error', () => undefined);
      try {
        stream.end();
      } catch {
        /* already closed */
      }
    });
  }
}
