// The one place errors become HTTP responses: `{"error": {"code", "message", "request_id"}}`.
// Typed errors map to their status; validation and parsing problems are 400/413/415; an
// unexpected error is logged with its stack and answered with a generic 500 that reveals
// nothing about the request's data.
import type { FastifyError, FastifyInstance } from 'fastify';
import { patternRule } from '../../../contract/src/common.js';
import { IntegrityError, KmsConfigError, KmsUnavailableError } from '../crypto/errors.js';
import { DatabaseUnavailableError, InvalidDataError, SerializationError } from '../db/pool.js';
import { RateLimitedError, ServiceError } from '../services/errors.js';

export function errorBody(code: string, message: string, requestId: string) {
  return { error: { code, message, request_id: requestId } };
}

function classify(err: FastifyError | Error): { status: number; code: string; message: string } | undefined {
  if (err instanceof ServiceError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof KmsUnavailableError)
    return { status: 503, code: 'kms_unavailable', message: 'the KMS is unavailable; retry later' };
  if (err instanceof DatabaseUnavailableError)
    return { status: 503, code: 'database_unavailable', message: 'the database is unavailable; retry later' };
  if (err instanceof SerializationError)
    return { status: 503, code: 'busy', message: 'concurrent update; retry' };
  // Input that passed validation but that PostgreSQL cannot store: still the client's input.
  if (err instanceof InvalidDataError) {
    return {
      status: 400,
      code: 'invalid_request',
      message: 'a value in the request cannot be stored (invalid characters or out of range)',
    };
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    const rule = first?.keyword === 'pattern' ? patternRule(first.params.pattern) : undefined;
    return { status: 400, code: 'invalid_request', message: rule ?? fe.message };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'too_large', message: 'request body is too large' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'unsupported_media_type', message: 'send application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, code: 'invalid_request', message: 'body is not valid JSON' };
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, code: 'invalid_request', message: fe.message };
  }
  return undefined;
}

/**
 * The API takes JSON only. Fastify also parses text/plain by default, which turned a wrong
 * content type into a confusing "body must be object" 400; without that parser it is a 415.
 * Call it inside a route plugin: it applies to that plugin's routes.
 */
export function acceptJsonOnly(app: FastifyInstance): void {
  if (app.hasContentTypeParser('text/plain')) app.removeContentTypeParser('text/plain');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const known = classify(err);
    if (known) {
      if (err instanceof RateLimitedError && err.retryAfterSeconds && !reply.hasHeader('retry-after'))
        reply.header('retry-after', String(err.retryAfterSeconds));
      if (known.status >= 500)
        req.log.warn({ err: { name: err.name, message: err.message } }, 'request failed: dependency');
      return reply.status(known.status).send(errorBody(known.code, known.message, req.id));
    }
    if (err instanceof IntegrityError) {
      req.log.error(
        { err: { name: err.name, message: err.message } },
        'stored data failed its integrity check',
      );
      return reply
        .status(500)
        .send(errorBody('integrity_error', 'stored data failed its integrity check', req.id));
    }
    if (err instanceof KmsConfigError) {
      req.log.error({ err: { name: err.name, message: err.message } }, 'KMS refused the operation');
      return reply.status(503).send(errorBody('kms_error', 'the KMS refused the operation', req.id));
    }
    req.log.error({ err }, 'unexpected error');
    return reply.status(500).send(errorBody('internal', 'internal error', req.id));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`, req.id));
  });
}
