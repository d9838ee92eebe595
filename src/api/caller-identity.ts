import type { FastifyRequest } from 'fastify';

/**
 * Who a request is, for rate limits and the audit log: the token it authenticated with when tokens carry an
 * id, otherwise the address it came from (no-auth mode listens on loopback only, where that is one person).
 */
export function callerIdentity(request: FastifyRequest): string {
  const tokenId = (request.caller as { tokenId?: string } | null)?.tokenId;
  return tokenId ? `token:${tokenId}` : `address:${request.ip}`;
}
