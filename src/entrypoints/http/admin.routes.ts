import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../shared/kernel/index.js';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { listDeadLetters, redriveDeadLetters, type DeadLetter } from '../../shared/infrastructure/messaging/dead-letters.js';
import type { ModuleDatabase } from '../../shared/infrastructure/persistence/module-database.js';
import { quoteIdent } from '../../shared/infrastructure/persistence/messaging-tables.js';
import { BODY_PROBLEMS, problemResponses, SERVER_PROBLEMS } from '../../shared/infrastructure/http/problem.js';
import { requires } from '../../shared/infrastructure/http/route-config.js';
import { documentLimit, limitSchema, parseLimit, uuidSchema } from '../../shared/infrastructure/http/schemas.js';

/** A module's inbox as the operators see it: its database and the use cases it declares. */
export interface AdministeredInbox {
  readonly db: ModuleDatabase;
  readonly useCases: readonly string[];
}

export interface RedriveFilter {
  readonly messageId?: string;
  readonly useCase?: string;
  readonly all?: boolean;
}

export interface UseCaseDeliveryStats {
  readonly useCase: string;
  readonly counts: { readonly pending: number; readonly done: number; readonly dead: number };
  /** Age of the oldest pending delivery (due or waiting for a retry), null when none is pending. */
  readonly oldestPendingAgeMs: number | null;
  /**
   * The use case's ECS task lease (EVENT_BUS=ecs), null when it never had one: tasks believed to
   * run, consecutive launch or start failures, how many of those were start failures (the count
   * that dead-letters at ECS_START_FAILURES_BEFORE_DEAD_LETTER), until when its breaker refuses
   * launches, and why.
   */
  readonly launch: {
    readonly tasks: number;
    readonly failures: number;
    readonly startFailures: number;
    readonly breakerOpenUntil: string | null;
    readonly lastFailure: string | null;
  } | null;
}

export interface SchemaDeliveryStats {
  readonly schema: string;
  readonly outbox: { readonly unrelayed: number; readonly oldestUnrelayedAgeMs: number | null };
  readonly useCases: readonly UseCaseDeliveryStats[];
}

export const DEFAULT_DEAD_LETTER_LIMIT = 50;
export const MAX_DEAD_LETTER_LIMIT = 500;

/**
 * The operators' view of every hosted module's inbox: dead letters (list, re-drive) and
 * delivery statistics. Shared by the /admin routes and the `dead-letters` CLI.
 */
export class DeliveryAdministration {
  constructor(private readonly inboxes: readonly AdministeredInbox[]) {}

  useCases(): string[] {
    return [...new Set(this.inboxes.flatMap((i) => i.useCases))].sort();
  }

  /** Dead letters of every hosted module (or of one use case), most recently dead first. */
  async listDeadLetters(options: { limit: number; useCase?: string }): Promise<DeadLetter[]> {
    if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > MAX_DEAD_LETTER_LIMIT) {
      throw new ValidationError('INVALID_LIMIT', `limit must be an integer from 1 to ${MAX_DEAD_LETTER_LIMIT}`);
    }
    const lists = await Promise.all(this.inboxesFor(options.useCase).map((i) => listDeadLetters(i.db, options)));
    return lists
      .flat()
      .sort((a, b) => b.deadSince.localeCompare(a.deadSince))
      .slice(0, options.limit);
  }

  /** Puts matching dead deliveries back to pending with a fresh attempt budget; returns how many. */
  async redrive(filter: RedriveFilter): Promise<number> {
    const { messageId, useCase, all } = filter;
    if (all && (messageId !== undefined || useCase !== undefined)) {
      throw new ValidationError(
        'REDRIVE_FILTER_CONFLICT',
        '"all" re-drives every dead letter: send it alone, or send messageId and/or useCase without it',
      );
    }
    if (!all && messageId === undefined && useCase === undefined) {
      throw new ValidationError('REDRIVE_FILTER_REQUIRED', 'name what to re-drive: messageId, useCase, or all');
    }
    const counts = await Promise.all(
      this.inboxesFor(useCase).map((i) =>
        redriveDeadLetters(i.db, {
          ...(messageId !== undefined ? { messageId } : {}),
          ...(useCase !== undefined ? { useCase } : {}),
          ...(all ? { all } : {}),
        }),
      ),
    );
    return counts.reduce((sum, n) => sum + n, 0);
  }

  async stats(): Promise<SchemaDeliveryStats[]> {
    return Promise.all(this.inboxes.map((i) => schemaStats(i)));
  }

  /**
   * Deadlocks PostgreSQL detected in the modules' databases since their statistics were reset
   * (every process, not only this one), summed over the databases. Delivery keys keep the saga's
   * transactions out of them: a rise means a handler locks more than its key. Backends report it
   * within seconds, or when they end.
   */
  async deadlocks(): Promise<number | null> {
    const oneEach = [...new Map(this.inboxes.map((i) => [i.db.database, i.db])).values()];
    if (oneEach.length === 0) return null;
    const counts = await Promise.all(
      oneEach.map((db) =>
        db.query<{ deadlocks: string }>('select deadlocks::text as deadlocks from pg_stat_database where datname = current_database()'),
      ),
    );
    return counts.reduce((sum, [row]) => sum + Number(row?.deadlocks ?? 0), 0);
  }

  private inboxesFor(useCase: string | undefined): readonly AdministeredInbox[] {
    if (useCase === undefined) return this.inboxes;
    const owners = this.inboxes.filter((i) => i.useCases.includes(useCase));
    if (owners.length === 0) {
      throw new ValidationError(
        'UNKNOWN_USE_CASE',
        `no hosted module has the use case ${JSON.stringify(useCase)}; known: ${this.useCases().join(', ')}`,
        {
          useCase,
        },
      );
    }
    return owners;
  }
}

interface UseCaseRow {
  use_case: string;
  pending: number;
  done: number;
  dead: number;
  oldest_pending_age_ms: number | null;
}

interface LeaseRow {
  use_case: string;
  tasks: number;
  failures: number;
  start_failures: number;
  retry_at_ms: number | null;
  last_failure: string | null;
}

function launchStats(lease: LeaseRow | undefined): UseCaseDeliveryStats['launch'] {
  if (!lease) return null;
  const breakerOpenUntil = lease.retry_at_ms === null ? null : new Date(lease.retry_at_ms).toISOString();
  return {
    tasks: lease.tasks,
    failures: lease.failures,
    startFailures: lease.start_failures,
    breakerOpenUntil,
    lastFailure: lease.last_failure,
  };
}

async function schemaStats(inbox: AdministeredInbox): Promise<SchemaDeliveryStats> {
  const s = quoteIdent(inbox.db.schema);
  const ageMs = (filter: string) => `round(extract(epoch from now() - min(created_at) filter (where ${filter})) * 1000)::float8`;
  const [rows, [outbox], leases] = await Promise.all([
    inbox.db.query<UseCaseRow>(
      `select use_case,
         (count(*) filter (where status = 'pending'))::int as pending,
         (count(*) filter (where status = 'done'))::int as done,
         (count(*) filter (where status = 'dead'))::int as dead,
         ${ageMs("status = 'pending'")} as oldest_pending_age_ms
       from ${s}.inbox group by use_case`,
    ),
    inbox.db.query<{ unrelayed: number; oldest_unrelayed_age_ms: number | null }>(
      `select (count(*) filter (where relayed_at is null))::int as unrelayed, ${ageMs('relayed_at is null')} as oldest_unrelayed_age_ms
       from ${s}.outbox`,
    ),
    inbox.db.query<LeaseRow>(
      `select use_case, case when expires_at > now() then tasks else 0 end as tasks, failures, start_failures,
         case when retry_at > now() then (extract(epoch from retry_at) * 1000)::float8 end as retry_at_ms, last_failure
       from ${s}.task_leases`,
    ),
  ]);
  const leaseOf = new Map(leases.map((l) => [l.use_case, l]));
  const byUseCase = new Map(rows.map((r) => [r.use_case, r]));
  const useCases = [...new Set([...inbox.useCases, ...byUseCase.keys()])].sort();
  return {
    schema: inbox.db.schema,
    outbox: { unrelayed: outbox?.unrelayed ?? 0, oldestUnrelayedAgeMs: outbox?.oldest_unrelayed_age_ms ?? null },
    useCases: useCases.map((useCase) => {
      const row = byUseCase.get(useCase);
      return {
        useCase,
        counts: { pending: row?.pending ?? 0, done: row?.done ?? 0, dead: row?.dead ?? 0 },
        oldestPendingAgeMs: row?.oldest_pending_age_ms ?? null,
        launch: launchStats(leaseOf.get(useCase)),
      };
    }),
  };
}

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
