import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Context, IPv4 } from '../model/index.js';

/** The caller as the model sees it. Issue #3 replaces the no-auth default with tokens and projects. */
export interface Caller {
  readonly projectId: string;
  readonly isAdmin: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
}

export const DEFAULT_PROJECT = 'default';

/** Allocation hints are shared by all requests: a cache of where each subnet's last allocation ended. */
const allocationHints = new Map<string, IPv4>();

export function contextOf(request: FastifyRequest): Context {
  return {
    projectId: request.caller.projectId,
    isAdmin: request.caller.isAdmin,
    now: () => new Date().toISOString(),
    newId: () => randomUUID(),
    allocationHints,
  };
}
