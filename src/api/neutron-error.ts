import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SfipError } from '../model/index.js';
import { StoreError } from '../store/index.js';
import { TAG_PATTERN, UUID_PATTERN } from './schemas.js';

export interface NeutronErrorBody {
  NeutronError: { type: string; message: string; detail: string };
}

export function neutronError(type: string, message: string): NeutronErrorBody {
  return { NeutronError: { type, message, detail: '' } };
}

export interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** What a failed pattern means, in words a client can act on. */
const PATTERN_MEANING = new Map<string, string>([
  [UUID_PATTERN, 'is not a valid UUID'],
  [TAG_PATTERN, 'is not a valid tag: 1-255 characters without , or /'],
  ['^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', 'is not a valid project id'],
  ['^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$', 'is not a valid MAC address'],
]);

function reason(e: AjvError): string {
  switch (e.keyword) {
    case 'type':
      return `is not a valid ${String(e.params.type).split(',')[0]}`;
    case 'pattern':
      return PATTERN_MEANING.get(String(e.params.pattern)) ?? 'is not valid';
    case 'maxLength':
      return `exceeds maximum length of ${String(e.params.limit)}`;
    case 'maxItems':
      return `has more than ${String(e.params.limit)} items`;
    case 'const':
      return `is not an allowed value (only ${JSON.stringify(e.params.allowedValue)})`;
    default:
      return e.message ?? 'is not valid';
  }
}

/** Turns a schema violation into Neutron's wording, naming the attribute and the value. */
export function describeValidation(
  errors: readonly AjvError[],
  body: unknown,
  config: { readOnly?: readonly string[] },
): string {
  if (body === undefined || body === null) return 'Resource body required';
  // Unions report one error per branch; the first names the expected type of the main branch.
  const e = errors.find((x) => x.keyword !== 'anyOf') ?? errors[0];
  if (!e) return 'Invalid request body.';
  const path = e.instancePath.split('/').filter(Boolean);
  if (e.keyword === 'additionalProperties') {
    const name = String(e.params.additionalProperty);
    if (path.length === 1 && config.readOnly?.includes(name))
      return `Cannot update read-only attribute ${name}`;
    return `Unrecognized attribute(s) '${name}'`;
  }
  if (e.keyword === 'required') {
    const missing = String(e.params.missingProperty);
    return path.length === 0
      ? `Unable to find '${missing}' in request body`
      : `Failed to parse request. Required attribute '${missing}' not specified`;
  }
  if (path.length === 0)
    return `Body contains invalid data: expected a JSON object, got ${JSON.stringify(body).slice(0, 40)}`;
  const attribute = path.slice(1).join('.') || path[0]!;
  const value = path.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
    body,
  );
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return `Invalid input for ${attribute}. Reason: '${String(shown).slice(0, 300)}' ${reason(e)}.`;
}

/** webob's exception names, which Neutron reports for errors raised outside its own fault types. */
const HTTP_TYPE: Record<number, string> = {
  400: 'HTTPBadRequest',
  401: 'HTTPUnauthorized',
  403: 'HTTPForbidden',
  404: 'HTTPNotFound',
  405: 'HTTPMethodNotAllowed',
  406: 'HTTPNotAcceptable',
  408: 'HTTPRequestTimeout',
  413: 'HTTPRequestEntityTooLarge',
  414: 'HTTPRequestURITooLong',
  415: 'HTTPUnsupportedMediaType',
  431: 'HTTPRequestHeaderFieldsTooLarge',
};

/** Every failure leaves as a NeutronError body with Neutron's type name and status code. */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof SfipError) {
    void reply.status(error.status).send(neutronError(error.type, error.message));
    return;
  }
  if (error.validation) {
    const config = request.routeOptions.config ?? {};
    const message = describeValidation(error.validation as unknown as AjvError[], request.body, config);
    void reply.status(400).send(neutronError('HTTPBadRequest', message));
    return;
  }
  if (error instanceof StoreError) {
    request.log.error({ err: error.message }, 'store failure');
    void reply.status(503).send(neutronError('ServiceUnavailable', error.message));
    return;
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      void reply
        .status(400)
        .send(neutronError('MalformedRequestBody', `Malformed request body: ${error.message}`));
      return;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      void reply
        .status(413)
        .send(
          neutronError(
            'RequestEntityTooLarge',
            `Request is too large: the limit is ${request.routeOptions.bodyLimit ?? 0} bytes.`,
          ),
        );
      return;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      void reply
        .status(415)
        .send(
          neutronError(
            'HTTPUnsupportedMediaType',
            `Unsupported Content-Type '${String(request.headers['content-type'])}': send application/json.`,
          ),
        );
      return;
  }
  // JSON.parse's own failures (e.g. a forbidden __proto__ key) arrive as a SyntaxError with status 400.
  if (error instanceof SyntaxError || (typeof error.statusCode === 'number' && error.statusCode < 500)) {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 400;
    const type =
      status === 400 && error instanceof SyntaxError
        ? 'MalformedRequestBody'
        : (HTTP_TYPE[status] ?? 'HTTPBadRequest');
    void reply.status(status).send(neutronError(type, error.message));
    return;
  }
  request.log.error({ err: error }, 'internal error');
  void reply
    .status(500)
    .send(
      neutronError(
        'HTTPInternalServerError',
        'Request Failed: internal server error while processing your request.',
      ),
    );
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  void reply
    .status(404)
    .send(
      neutronError(
        'HTTPNotFound',
        `The resource could not be found: ${request.method} ${request.url.slice(0, 200)}`,
      ),
    );
}

/** Errors the router raises before any route runs: a URL that does not decode, a path parameter too long. */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const url = request.url.length > 120 ? `${request.url.slice(0, 120)}...` : request.url;
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? `A path parameter in ${url} is longer than any id or tag can be.`
      : `Malformed request URL ${url}.`;
  void reply.status(400).send(neutronError('HTTPBadRequest', message));
}
