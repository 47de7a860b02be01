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
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
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

/** JSON schema of a problem response, for the OpenAPI document. */
export const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const;
