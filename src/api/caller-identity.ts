import type { FastifyRequest } from 'fastify';
import type { Caller } from './request-context.js';

/**
 * Who a request is, for rate limits and the audit log: the token it authenticated with, otherwise the address it
 * came from (no-auth mode listens on loopback only, where that is one person; refused requests have no token).
 */
export function callerIdentity(request: FastifyRequest): string {
  const tokenId = (request.caller as Caller | null)?.tokenId;
  return tokenId ? `token:${tokenId}` : `address:${request.ip}`;
}
