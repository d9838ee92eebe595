import type { FastifyInstance } from 'fastify';
import { SfipError } from '../model/index.js';

/**
 * The deepest nesting of objects and arrays a request body may have. Neutron's bodies nest four levels at most
 * (`{"router": {"external_gateway_info": {"external_fixed_ips": [{...}]}}}`); 32 leaves room for any client.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Whether JSON text nests deeper than `limit`, by one linear scan that never recurses (brackets inside strings
 * do not count). Run before anything walks the parsed value: schema validation and the description of its
 * errors recurse, and a body of 100,000 brackets once overflowed the stack in there (a 500, not a NeutronError).
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character, including a quote
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** Fastify's own JSON parser (with its prototype-poisoning checks), behind the depth check. */
export function registerJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // The openstack CLI and SDK send Content-Type: application/json on every request, DELETE included, with
    // no body; Neutron accepts that, so an empty DELETE body is no body rather than malformed JSON.
    if (request.method === 'DELETE' && (body as string).trim() === '') {
      done(null, undefined);
      return;
    }
    if (nestsDeeperThan(body as string, MAX_JSON_DEPTH)) {
      done(
        new SfipError(
          'BadRequest',
          400,
          `The request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels.`,
        ),
        undefined,
      );
      return;
    }
    parse(request, body as string, done);
  });
}
