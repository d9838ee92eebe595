import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { verifyToken } from '../auth/index.js';
import { SfipError } from '../model/index.js';
import type { TokenStore } from '../store/index.js';
import { NO_AUTH_CALLER, type Caller } from './request-context.js';

/** `token` (the default) checks X-Auth-Token against the token store; `none` makes every caller an admin. */
export type AuthMode = 'token' | 'none';

const unauthorized = (reply: FastifyReply, message: string) => {
  // RFC 9110 wants a challenge with every 401; keystonemiddleware names the token header the same way.
  void reply.header('www-authenticate', 'X-Auth-Token realm="sfip"');
  return new SfipError('HTTPUnauthorized', 401, message);
};

/**
 * Paths this hook leaves alone: the API's documentation (public), the dashboard (its data route checks its own
 * token, or an admin API token) and Prometheus' /metrics (the same tokens, sent by the scraper as a bearer token).
 */
const OWN_AUTH_PREFIXES = ['/docs', '/dashboard', '/metrics'];

function isPublic(request: FastifyRequest): boolean {
  if (request.routeOptions.config?.public === true) return true;
  const path = request.url.split('?', 1)[0]!;
  return OWN_AUTH_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
}

/**
 * Authenticates every request before its body is read. A missing or invalid token is a 401 NeutronError;
 * a valid one makes the caller that token's project, admin or not.
 */
export function registerAuth(app: FastifyInstance, mode: AuthMode, tokens: TokenStore): void {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (request, reply) => {
    if (mode === 'none') {
      request.caller = NO_AUTH_CALLER;
      return;
    }
    if (isPublic(request)) return;
    const header = request.headers['x-auth-token'];
    if (header === undefined || header === '') {
      throw unauthorized(
        reply,
        'The request you have made requires authentication: send an X-Auth-Token header.',
      );
    }
    const record = await verifyToken(tokens, String(header));
    if (!record) {
      throw unauthorized(reply, 'The X-Auth-Token is not valid: it is unknown, revoked or expired.');
    }
    request.caller = { projectId: record.projectId, isAdmin: record.isAdmin, tokenId: record.id };
  });
}
