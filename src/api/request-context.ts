import type { FastifyRequest } from 'fastify';
import type { Context, IPv4 } from '../model/index.js';
import { newResourceId } from './resource-id.js';

/** The caller as the model sees it: the project of the request's token, and whether that token is an admin's. */
export interface Caller {
  readonly projectId: string;
  readonly isAdmin: boolean;
  /** The token's public id; absent in no-auth mode. Rate limits and the audit log name the caller by it. */
  readonly tokenId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
  interface FastifyContextConfig {
    /** Answers without a token: version discovery, health, the API's documentation. */
    public?: boolean;
    /** Attributes a PUT cannot change, named as such in the 400 when a client tries (Neutron's wording). */
    readOnly?: readonly string[];
  }
}

export const DEFAULT_PROJECT = 'default';

/** Who every caller is in no-auth mode (development only): the admin of the default project. */
export const NO_AUTH_CALLER: Caller = { projectId: DEFAULT_PROJECT, isAdmin: true };

/** Allocation hints are shared by all requests: a cache of where each subnet's last allocation ended. */
const allocationHints = new Map<string, IPv4>();

export function contextOf(request: FastifyRequest): Context {
  return {
    projectId: request.caller.projectId,
    isAdmin: request.caller.isAdmin,
    now: () => new Date().toISOString(),
    newId: () => newResourceId(),
    allocationHints,
  };
}
