import type { SwaggerTransform } from '@fastify/swagger';
import { UUID_PATTERN_ANY_CASE as UUID_PATTERN } from '../../kernel/index.js';

/** JSON schemas shared by the HTTP routes of every module. Strict: unknown properties are refused. */
export const MAX_AMOUNT = Number.MAX_SAFE_INTEGER;

/** The kernel's UUID (RFC 9562 versions 1 to 8, RFC variant; not the nil UUID), in either case. */
export const uuidSchema = { type: 'string', pattern: UUID_PATTERN } as const;

/** The JSON schema format of a currency code; the HTTP server's validator checks it with the domain's rule. */
export const CURRENCY_FORMAT = 'iso-4217';

/** What a pattern or a format means, for error messages a user can read instead of the raw regex. */
export const SCHEMA_MEANINGS: Readonly<Record<string, string>> = {
  [UUID_PATTERN]: 'must be a UUID',
  [CURRENCY_FORMAT]: 'must be an ISO 4217 currency code such as USD',
};

/**
 * A page size in a query string. Declared as any string so that every refused value (0, 1000,
 * -1, 1.5, "abc", empty) meets the same rule in the use case: one code, INVALID_LIMIT.
 */
export function limitSchema(max: number, fallback: number) {
  return { type: 'string', description: `an integer from 1 to ${max}, default ${fallback}` } as const;
}

/**
 * A route's `config.swaggerTransform` for limitSchema: the document says what the use case
 * enforces (an integer from 1 to max), while the validator keeps taking any string.
 */
export function documentLimit(max: number, fallback: number): SwaggerTransform {
  return ({ schema, url }) => {
    const querystring = schema.querystring as { properties: Record<string, unknown> };
    const limit = {
      type: 'integer',
      minimum: 1,
      maximum: max,
      default: fallback,
      description: `page size; anything else is refused with 422 INVALID_LIMIT`,
    };
    return { url, schema: { ...schema, querystring: { ...querystring, properties: { ...querystring.properties, limit } } } };
  };
}

/** The optional W3C trace context header, for the routes that start or continue a saga's trace. */
export const traceparentHeaderSchema = {
  type: 'string',
  description:
    "W3C trace context (00-<trace id>-<parent id>-<flags>): the saga's messages continue this trace; a malformed value starts a new one",
  examples: ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
} as const;

/** The query's limit as a number; anything but decimal digits is NaN, which the use case refuses. */
export function parseLimit(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  return /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
}

export function moneySchema(minimum: number) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['amount', 'currency'],
    properties: {
      // JSON schema's integer alone lets 1e300 through: bound it to the safe integers.
      amount: { type: 'integer', minimum, maximum: MAX_AMOUNT, description: 'integer minor units (cents for USD)' },
      currency: { type: 'string', format: CURRENCY_FORMAT, description: 'ISO 4217 code of a currency in use (USD, EUR, JPY, ...)' },
    },
  } as const;
}

export const moneyResponseSchema = {
  type: 'object',
  required: ['amount', 'currency'],
  properties: { amount: { type: 'integer' }, currency: { type: 'string' } },
} as const;
