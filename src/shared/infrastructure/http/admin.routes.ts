import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logging/logger.js';
import {
  DEFAULT_DEAD_LETTER_LIMIT,
  MAX_DEAD_LETTER_LIMIT,
  type DeliveryAdministration,
  type RedriveFilter,
} from '../operations/delivery-administration.js';
import { BODY_PROBLEMS, problemResponses, SERVER_PROBLEMS } from './problem.js';
import { requires } from './route-config.js';
import { documentLimit, limitSchema, parseLimit, uuidSchema } from './schemas.js';

export interface AdminRouteOptions {
  readonly administration: DeliveryAdministration;
  readonly logger: Logger;
  /** Signals re-driven deliveries at once instead of at the sweeper's next pass. */
  readonly onRedriven?: () => Promise<unknown>;
}

/** Every admin route: a token with the `admin` scope, or ADMIN_TOKEN (break-glass). */
const ADMIN = requires('admin');
const AUTH_NOTE = ' Needs a token with the `admin` scope, or ADMIN_TOKEN.';

const deadLetterSchema = {
  type: 'object',
  required: ['schema', 'useCase', 'messageId', 'type', 'correlationId', 'attempts', 'errorCode', 'error', 'deadSince', 'envelope'],
  properties: {
    schema: { type: 'string' },
    useCase: { type: 'string' },
    messageId: { type: 'string' },
    type: { type: 'string' },
    correlationId: { type: 'string' },
    attempts: { type: 'integer' },
    errorCode: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
    deadSince: { type: 'string', format: 'date-time' },
    envelope: { type: 'object', additionalProperties: true },
  },
} as const;

const nullableMs = { type: ['number', 'null'] } as const;

const statsSchema = {
  type: 'object',
  required: ['schemas', 'deadlocks'],
  properties: {
    deadlocks: {
      type: ['integer', 'null'],
      description: 'Deadlocks PostgreSQL detected in this database since its statistics were reset (all processes)',
    },
    schemas: {
      type: 'array',
      items: {
        type: 'object',
        required: ['schema', 'outbox', 'useCases'],
        properties: {
          schema: { type: 'string' },
          outbox: {
            type: 'object',
            required: ['unrelayed', 'oldestUnrelayedAgeMs'],
            properties: { unrelayed: { type: 'integer' }, oldestUnrelayedAgeMs: nullableMs },
          },
          useCases: {
            type: 'array',
            items: {
              type: 'object',
              required: ['useCase', 'counts', 'oldestPendingAgeMs', 'launch'],
              properties: {
                useCase: { type: 'string' },
                launch: {
                  type: ['object', 'null'],
                  required: ['tasks', 'failures', 'startFailures', 'breakerOpenUntil', 'lastFailure'],
                  properties: {
                    tasks: { type: 'integer' },
                    failures: { type: 'integer' },
                    startFailures: { type: 'integer' },
                    breakerOpenUntil: { type: ['string', 'null'], format: 'date-time' },
                    lastFailure: { type: ['string', 'null'] },
                  },
                },
                counts: {
                  type: 'object',
                  required: ['pending', 'done', 'dead'],
                  properties: { pending: { type: 'integer' }, done: { type: 'integer' }, dead: { type: 'integer' } },
                },
                oldestPendingAgeMs: nullableMs,
              },
            },
          },
        },
      },
    },
  },
} as const;

/** A use-case id in a query or a body (`customer.reserve-credit`). */
export const USE_CASE = { type: 'string', pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$', maxLength: 200 } as const;

/** Operators' routes: dead letters across every hosted module (list and re-drive) and delivery statistics. */
export function registerAdminRoutes(app: FastifyInstance, options: AdminRouteOptions): void {
  listDeadLettersRoute(app, options);
  redriveRoute(app, options);
  statsRoute(app, options);
}

function listDeadLettersRoute(app: FastifyInstance, options: AdminRouteOptions): void {
  app.get<{ Querystring: { useCase?: string; limit?: string } }>(
    '/admin/dead-letters',
    {
      config: { ...ADMIN, swaggerTransform: documentLimit(MAX_DEAD_LETTER_LIMIT, DEFAULT_DEAD_LETTER_LIMIT) },
      schema: {
        operationId: 'listDeadLetters',
        tags: ['admin'],
        summary: 'Dead-lettered deliveries of every hosted module, most recently dead first',
        description: `Each names its use case, message, attempts, error code and reason.${AUTH_NOTE}`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            useCase: USE_CASE,
            limit: limitSchema(MAX_DEAD_LETTER_LIMIT, DEFAULT_DEAD_LETTER_LIMIT),
          },
        },
        response: {
          200: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: deadLetterSchema } } },
          ...problemResponses([400, 422, ...SERVER_PROBLEMS]),
        },
      },
    },
    async (request, reply) => {
      // A browser gets the operator console's page at the same URL: caches must key on Accept.
      void reply.header('vary', 'accept');
      return {
        items: await options.administration.listDeadLetters({
          limit: parseLimit(request.query.limit, DEFAULT_DEAD_LETTER_LIMIT),
          ...(request.query.useCase !== undefined ? { useCase: request.query.useCase } : {}),
        }),
      };
    },
  );
}

function redriveRoute(app: FastifyInstance, options: AdminRouteOptions): void {
  // The document's example names one of the hosted use cases, whichever they are.
  const example = options.administration.useCases()[0];
  app.post<{ Body: RedriveFilter }>(
    '/admin/dead-letters/redrive',
    {
      config: ADMIN,
      schema: {
        operationId: 'redriveDeadLetters',
        tags: ['admin'],
        summary: 'Re-drive dead letters: back to pending with a fresh attempt budget',
        description: `Name one message, one use case (both narrow each other), or {"all": true}.${AUTH_NOTE}`,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          ...(example ? { examples: [{ useCase: example }] } : {}),
          properties: { messageId: uuidSchema, useCase: USE_CASE, all: { type: 'boolean', const: true } },
        },
        response: {
          200: { type: 'object', required: ['redriven'], properties: { redriven: { type: 'integer' } } },
          ...problemResponses([...BODY_PROBLEMS, 422, ...SERVER_PROBLEMS]),
        },
      },
    },
    async (request) => {
      const { messageId, useCase, all } = request.body;
      const redriven = await options.administration.redrive({
        ...(messageId !== undefined ? { messageId: messageId.toLowerCase() } : {}),
        ...(useCase !== undefined ? { useCase } : {}),
        ...(all ? { all } : {}),
      });
      options.logger.info({ filter: request.body, redriven }, 'dead letters re-driven');
      if (redriven > 0 && options.onRedriven) {
        // The rows are committed: a failed signal only waits for the sweeper's next pass.
        await options.onRedriven().catch((error: unknown) => options.logger.warn({ err: error }, 'could not signal re-driven deliveries'));
      }
      return { redriven };
    },
  );
}

function statsRoute(app: FastifyInstance, options: AdminRouteOptions): void {
  app.get(
    '/admin/deliveries/stats',
    {
      config: ADMIN,
      schema: {
        operationId: 'getDeliveryStats',
        tags: ['admin'],
        summary: 'Deliveries per schema and use case: counts by status, age of the oldest pending one',
        description: `Also the outbox rows not relayed yet.${AUTH_NOTE}`,
        response: { 200: statsSchema, ...problemResponses([...SERVER_PROBLEMS]) },
      },
    },
    async () => {
      const [schemas, deadlocks] = await Promise.all([options.administration.stats(), options.administration.deadlocks()]);
      return { schemas, deadlocks };
    },
  );
}
