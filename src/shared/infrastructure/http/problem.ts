import { DomainError, type ErrorKind } from '../../kernel/index.js';

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
