import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SfipError } from '../model/index.js';
import { StoreError } from '../store/index.js';

export interface NeutronErrorBody {
  NeutronError: { type: string; message: string; detail: string };
}

export function neutronError(type: string, message: string): NeutronErrorBody {
  return { NeutronError: { type, message, detail: '' } };
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Turns a schema violation into Neutron's wording, naming the attribute and, where there is one, the value. */
function describeValidation(errors: readonly AjvError[], body: unknown): string {
  const e = errors[0];
  if (!e) return 'Invalid request body.';
  const path = e.instancePath.split('/').filter(Boolean);
  const attribute = path.slice(1).join('.') || path[0] || 'body';
  if (e.keyword === 'additionalProperties') {
    return `Unrecognized attribute(s) '${String(e.params.additionalProperty)}'`;
  }
  if (e.keyword === 'required') {
    const missing = String(e.params.missingProperty);
    return path.length === 0
      ? `Resource body required: missing '${missing}'`
      : `Failed to parse request. Required attribute '${missing}' not specified`;
  }
  const value = path.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
    body,
  );
  return `Invalid input for ${attribute}. Reason: '${JSON.stringify(value)}' ${e.message ?? 'is not valid'}.`;
}

/** Every failure leaves as a NeutronError body with Neutron's type name and status code. */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof SfipError) {
    void reply.status(error.status).send(neutronError(error.type, error.message));
    return;
  }
  if (error.validation) {
    const message = describeValidation(error.validation as unknown as AjvError[], request.body);
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
      void reply.status(413).send(neutronError('RequestEntityTooLarge', 'Request entity is too large.'));
      return;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      void reply
        .status(415)
        .send(
          neutronError(
            'HTTPUnsupportedMediaType',
            `Unsupported content type: ${String(request.headers['content-type'])}`,
          ),
        );
      return;
  }
  if (typeof error.statusCode === 'number' && error.statusCode < 500) {
    void reply.status(error.statusCode).send(neutronError('HTTPBadRequest', error.message));
    return;
  }
  request.log.error({ err: error }, 'internal error');
  void reply
    .status(500)
    .send(
      neutronError(
        'HTTPInternalServerError',
        'Request failed: internal server error while processing your request.',
      ),
    );
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  void reply
    .status(404)
    .send(neutronError('HTTPNotFound', `The resource could not be found: ${request.method} ${request.url}`));
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
