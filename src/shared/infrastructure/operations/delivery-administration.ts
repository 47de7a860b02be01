import { ValidationError } from '../../kernel/index.js';
import { listDeadLetters, redriveDeadLetters, type DeadLetter } from '../messaging/dead-letters.js';
import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/sql-identifier.js';

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
