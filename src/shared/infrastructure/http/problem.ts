import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, type ErrorKind } from '../../kernel/index.js';
import { activeTraceId, spanContextOf } from '../observability/tracing.js';
import { AccessDeniedError } from './authorization.js';
import { SCHEMA_MEANINGS } from './schemas.js';

/** RFC 9457 problem details, with a stable machine-readable `code`. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: string;
  readonly detail?: string;
  readonly instance?: string;
  readonly errors?: ReadonlyArray<{ readonly path: string; readonly message: string }>;
  readonly [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const STATUS_BY_KIND: Record<ErrorKind, number> = {
  validation: 422,
  'not-found': 404,
  conflict: 409,
  'rule-violation': 422,
  unavailable: 503,
};

export function problem(status: number, code: string, detail?: string, extensions: Record<string, unknown> = {}): Problem {
  return {
    type: `/problems/${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    ...(detail === undefined ? {} : { detail }),
    ...extensions,
  };
}

export function problemFromDomainError(error: DomainError): Problem {
  return problem(STATUS_BY_KIND[error.kind], error.code, error.message, error.details ? { details: error.details } : {});
}

/** The shared schema's id: routes refer to it as `{ $ref: 'Problem#' }` and the document names it `Problem`. */
export const PROBLEM_SCHEMA_ID = 'Problem';

/** JSON schema of a problem response, registered once on the server (createHttpServer). */
export const problemSchema = {
  $id: PROBLEM_SCHEMA_ID,
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string', description: 'stable and machine-readable: see the error table in README' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    traceId: { type: 'string', description: 'on a 5xx: the trace of the request, to find it and its log lines' },
    errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const;

/** What each status means for a caller, as the document says it. */
const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'The request does not match its schema, or its body is not JSON (VALIDATION_FAILED, MALFORMED_JSON, BAD_REQUEST)',
  401: 'The bearer token is missing or invalid (UNAUTHENTICATED, INVALID_TOKEN; WWW-Authenticate says which)',
  403: 'The token lacks the scope (INSUFFICIENT_SCOPE) or acts for another customer (FORBIDDEN_CUSTOMER)',
  404: 'No such resource',
  409: 'The request conflicts with the current state',
  413: 'The body is larger than BODY_LIMIT_BYTES (PAYLOAD_TOO_LARGE)',
  415: 'The body is not application/json (UNSUPPORTED_MEDIA_TYPE)',
  422: 'The request is well-formed but a rule refuses it',
  429: 'Too many requests from this caller (RATE_LIMITED); retry after Retry-After seconds',
  500: 'An unexpected error, logged with the request id (INTERNAL_ERROR)',
  503: 'A backing service does not answer (SERVICE_UNAVAILABLE); retry later',
};

/** Every status a route can answer with a problem, declared as application/problem+json with the shared schema. */
export function problemResponses(statuses: readonly number[], descriptions: Partial<Record<number, string>> = {}) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: descriptions[status] ?? PROBLEM_DESCRIPTIONS[status] ?? TITLES[status] ?? 'Error',
        content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: `${PROBLEM_SCHEMA_ID}#` } } },
      },
    ]),
  );
}

/** A request with a body (any POST): it can be malformed, too large or not JSON. */
export const BODY_PROBLEMS = [400, 413, 415] as const;
/** A route that needs a token: it can be missing or invalid, lack the scope, or the caller can exceed its rate. */
export const AUTH_PROBLEMS = [401, 403, 429] as const;
/** Any route that reads or writes PostgreSQL. */
export const SERVER_PROBLEMS = [500, 503] as const;

/** PostgreSQL went away: its codes, and the messages pg and knex give when a connection (or the transaction on it) was lost. */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    (typeof code === 'string' &&
      (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', '08003', '53300'].includes(code) ||
        /^08/.test(code))) ||
    (error instanceof Error &&
      /Connection terminated|Connection ended unexpectedly|Client has encountered a connection error|Transaction query already complete|connect ECONNREFUSED|timeout exceeded when trying to connect|Knex: Timeout acquiring a connection/i.test(
        error.message,
      ))
  );
}

/** Ajv's message, except for a pattern or format whose meaning is known: a user reads "must be a UUID", not the regex. */
function humanMessage(v: { message?: string; params?: Record<string, unknown> }): string {
  const rule = v.params?.['pattern'] ?? v.params?.['format'];
  return (typeof rule === 'string' ? SCHEMA_MEANINGS[rule] : undefined) ?? v.message ?? 'is invalid';
}

/** `/total/currency` reads as `total.currency`; the root as the part of the request (`body`, `querystring`). */
function fieldName(pointer: string, context: string): string {
  return pointer === '/' ? context : pointer.slice(1).replaceAll('/', '.');
}

/** Maps anything thrown by a route, a hook or Fastify itself to a problem+json response. */
export function toProblem(error: unknown): Problem {
  if (error instanceof DomainError) return problemFromDomainError(error);
  if (error instanceof AccessDeniedError) return problem(403, error.code, error.message);
  // `throw null` and `throw undefined` are legal JavaScript: they must still become a 500.
  const fastifyError = (error ?? {}) as Partial<FastifyError> & {
    validation?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }>;
  };
  if (fastifyError.validation) {
    const context = fastifyError.validationContext ?? 'request';
    const errors = fastifyError.validation.map((v) => {
      const extra = v.params?.['additionalProperty'];
      const path = (v.instancePath || '/') + (typeof extra === 'string' ? (v.instancePath ? '/' : '') + extra : '');
      return { path, message: humanMessage(v) };
    });
    return problem(400, 'VALIDATION_FAILED', errors.map((e) => `${fieldName(e.path, context)} ${e.message}`).join('; '), { errors });
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem(413, 'PAYLOAD_TOO_LARGE', 'The request body is larger than this server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problem(400, 'MALFORMED_JSON', 'The body is empty but the content type says JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problem(400, 'BAD_REQUEST', 'Content-Length does not match the body');
    case 'FST_CSRF_MISSING_SECRET':
    case 'FST_CSRF_INVALID_TOKEN':
      return problem(
        403,
        'CSRF_TOKEN_INVALID',
        'This request carries no valid CSRF token of the console page it came from; reload the page',
      );
    case 'FST_ERR_BAD_URL':
      return problem(400, 'MALFORMED_URL', 'The URL is not valid percent-encoded UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return problem(414, 'URI_TOO_LONG', 'A path segment is longer than this server accepts');
    default:
      break;
  }
  if (error instanceof SyntaxError || fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return problem(400, 'MALFORMED_JSON', 'The body is not valid JSON');
  }
  if (isConnectionError(error)) return problem(503, 'SERVICE_UNAVAILABLE', 'A backing service is unavailable; retry later');
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return problem(status, 'BAD_REQUEST', fastifyError.message ?? 'The request is invalid');
  }
  return problem(500, 'INTERNAL_ERROR', 'An unexpected error occurred; it has been logged');
}

/** Every error, and every unknown route, answers application/problem+json. */
export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const answer = toProblem(error);
    // A 5xx carries its trace id: the operator finds the trace (and its log lines) from what the caller saw.
    const traceId =
      answer.status >= 500 ? (activeTraceId() ?? spanContextOf(headerValue(request.headers.traceparent))?.traceId) : undefined;
    const body = { ...answer, instance: request.url, ...(traceId ? { traceId } : {}) };
    if (body.status >= 500) request.log.error({ err: error, problem: body.code }, 'request failed');
    void reply.status(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send({ ...problem(404, 'ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`), instance: request.url });
  });
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Errors the router meets before any route (an undecodable URL, an overlong parameter): problem+json too. */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const answer = toProblem(error);
  void reply
    .status(answer.status)
    .header('cache-control', 'no-store')
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...answer, instance: request.url });
}
