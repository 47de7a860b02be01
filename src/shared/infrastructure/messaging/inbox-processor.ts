// Over 300 lines on purpose: one class, the inbox's claim-handle-mark cycle (keys, batches with the
// one-per-transaction fallback, retries, dead letters, lost connections); each step relies on the previous one's locks.
import { DomainError, parseEnvelope, type Envelope } from '../../kernel/index.js';
import { withLogContext, type Logger } from '../logging/logger.js';
import { LateSpan, linksTo, processSpan } from '../observability/tracing.js';
import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/sql-identifier.js';
import { isConnectionLoss } from '../persistence/pg-connections.js';
import { backoffMs } from './backoff.js';
import type { Delivery, Subscription } from './subscription.js';
import type { DeliveryDispatcher } from './transport.js';

export interface InboxOptions {
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

/** `interrupted`: its transaction was lost with its connection; no attempt counted, carried again. */
export type DeliveryOutcome = 'done' | 'duplicate' | 'busy' | 'not-due' | 'retry' | 'dead' | 'empty' | 'interrupted';

interface InboxRow {
  message_id: string;
  use_case: string;
  type: string;
  correlation_id: string;
  causation_id: string | null;
  envelope: unknown;
  status: 'pending' | 'done' | 'dead';
  attempts: number;
  due: boolean;
}

const MAX_ENVELOPE_BYTES = 256 * 1024;

/** A delivery's key; deliveries written before keys existed are keyed by their message id. */
const KEY = 'coalesce(delivery_key, message_id::text)';

/** How many of the oldest due deliveries (per delivery wanted) a claim looks through for free keys. */
const KEY_WINDOW = 8;

const CLAIMED_COLUMNS = `message_id, use_case, type, correlation_id, envelope->>'causationId' as causation_id, envelope, status, attempts`;

function isDeadlock(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '40P01';
}

class PermanentFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs a module's use cases for its pending deliveries. The delivery row is locked, the
 * handler's effect and outgoing messages are written, and the delivery is marked done, in ONE
 * transaction: a redelivered message finds it done and has no second effect. A failed handler
 * is retried with backoff scheduled in PostgreSQL; after `maxAttempts`, or at once for a
 * message that does not match its contract, the delivery is dead-lettered with the reason.
 */
export class InboxProcessor implements DeliveryDispatcher {
  /** Deadlocks this processor's transactions lost (see `reportDeadlock`). */
  deadlocks = 0;
  private readonly byUseCase = new Map<string, Map<string, Subscription>>();
  private readonly inbox: string;

  constructor(
    private readonly db: ModuleDatabase,
    subscriptions: readonly Subscription[],
    private readonly logger: Logger,
    private readonly options: InboxOptions,
  ) {
    this.inbox = `${quoteIdent(db.schema)}.inbox`;
    for (const s of subscriptions) {
      const handlers = this.byUseCase.get(s.useCase) ?? new Map<string, Subscription>();
      handlers.set(s.message.type, s);
      this.byUseCase.set(s.useCase, handlers);
    }
  }

  useCases(): string[] {
    return [...this.byUseCase.keys()];
  }

  handles(useCase: string): boolean {
    return this.byUseCase.has(useCase);
  }

  /**
   * Processes the given deliveries of one use case (the transports' path): one alone in its own
   * transaction, several in one transaction (see `processBatch`). Returns an outcome per id.
   */
  async process(useCase: string, messageIds: readonly string[]): Promise<DeliveryOutcome[]> {
    if (messageIds.length === 1) return [await this.processOne({ useCase, messageId: messageIds[0]! })];
    return this.processBatch(useCase, messageIds);
  }

  /** Processes one given delivery in its own transaction (once its key is free). */
  processOne(delivery: Delivery): Promise<DeliveryOutcome> {
    return this.attempt(delivery.useCase, 'busy', () =>
      this.db.query<InboxRow>(this.claimSql(this.givenSql('message_id = ?')), [
        delivery.useCase,
        delivery.messageId,
        delivery.useCase,
        delivery.messageId,
      ]),
    );
  }

  /** Claims and processes the oldest due delivery of a use case whose key is free, in its own transaction. */
  processNext(useCase: string): Promise<DeliveryOutcome> {
    return this.attempt(useCase, 'empty', () => this.db.query<InboxRow>(this.claimSql(this.nextDueSql()), this.nextDueParams(useCase, 1)));
  }

  /**
   * Processes several given deliveries of one use case in ONE transaction: one claim statement
   * for all of them, each handler in turn, the outbox rows of all of them in one statement, one
   * commit. Each delivery still has exactly one effect: the claim marks the rows done in the
   * transaction that carries the effects. If any of them fails (a handler throws, a message does
   * not validate), the whole transaction rolls back and each delivery is processed again alone,
   * so the failure is recorded for that one only and the others commit. A delivery another
   * transaction holds is skipped ('busy'); its holder ends it.
   */
  processBatch(useCase: string, messageIds: readonly string[]): Promise<DeliveryOutcome[]> {
    const ids = [...new Set(messageIds)];
    return this.attemptBatch(
      useCase,
      () => this.db.query<InboxRow>(this.claimSql(this.givenSql('message_id = any(?::uuid[])')), [useCase, ids, useCase, ids]),
      messageIds,
    );
  }

  /**
   * Claims up to `limit` of the oldest due deliveries of a use case on keys no other transaction
   * holds and processes them as one batch (the draining task's path); [] when none is free.
   */
  processNextBatch(useCase: string, limit: number): Promise<DeliveryOutcome[]> {
    if (limit <= 1) return this.processNext(useCase).then((outcome) => (outcome === 'empty' ? [] : [outcome]));
    return this.attemptBatch(
      useCase,
      () => this.db.query<InboxRow>(this.claimSql(this.nextDueSql()), this.nextDueParams(useCase, limit)),
      undefined,
    );
  }

  /**
   * The lock of a delivery key: a transaction-level advisory lock, one number per schema and key
   * (a 64-bit hash; a collision only makes two keys wait for each other). Every consumer of the
   * schema takes it before it claims, so two transactions never hold deliveries of one key, and
   * the handlers' row locks (the customer, the order) are never contended between consumers.
   */
  private keyLock(key: string): string {
    return `hashtextextended('${this.db.schema}/' || ${key}, 0)`;
  }

  /**
   * Claims given deliveries (the transports' path) once their keys are free: first waits for the
   * locks of their keys in ascending key order, so two claimers that want the same keys queue up
   * instead of deadlocking; then locks the rows (a row another transaction holds is 'busy').
   * The batch is handled in key order, a key's deliveries in arrival order (message ids are
   * UUIDv7: they sort by the time the message was written). The statement's
   * snapshot predates the wait, but FOR UPDATE returns the rows' latest version (their status).
   * Parameters: use case and ids for the keys, then again for the rows.
   */
  private givenSql(ids: string): string {
    return `with keys as materialized (
        select count(pg_advisory_xact_lock(${this.keyLock('k')})) as n from (
          select distinct ${KEY} as k from ${this.inbox} where use_case = ? and ${ids} and status = 'pending' order by 1
        ) wanted
      )
      select ${CLAIMED_COLUMNS}, available_at <= now() as due
      from ${this.inbox} where use_case = ? and ${ids} and (select n from keys) >= 0
      order by ${KEY}, message_id for update skip locked`;
  }

  /**
   * Claims due deliveries on free keys (the draining task's path): walks the keys of the oldest
   * due deliveries in order of arrival, TRIES each key's lock and keeps the keys it gets until
   * they hold `limit` deliveries, then locks those keys' due rows. A key another transaction
   * holds is skipped, never waited for, so concurrent claimers spread over keys: a hot customer
   * is handled by one transaction at a time while the others take other customers. Of the held
   * keys' due rows the oldest are taken first (no key is passed over for one that sorts lower). The
   * recursive walk tries one key per step (OFFSET 0 keeps the lock call from being inlined and
   * evaluated twice). Parameters: use case, window, limit, use case, limit.
   */
  private nextDueSql(): string {
    return `with recursive candidates as materialized (
        select ${KEY} as k, available_at, message_id from ${this.inbox}
        where use_case = ? and status = 'pending' and available_at <= now()
        order by available_at, message_id limit ?
      ),
      keys as materialized (
        select row_number() over (order by min(available_at), min(message_id::text), k) as i, k, count(*) as n from candidates group by k
      ),
      walk (i, k, held, taken) as (
        select 0::bigint, null::text, false, 0::bigint
        union all
        select keys.i, keys.k, l.held, walk.taken + (case when l.held then keys.n else 0 end)
        from walk join keys on keys.i = walk.i + 1
        cross join lateral (select pg_try_advisory_xact_lock(${this.keyLock('keys.k')}) as held offset 0) l
        where walk.taken < ?
      )
      select ${CLAIMED_COLUMNS}, true as due from ${this.inbox}
      where use_case = ? and status = 'pending' and available_at <= now() and ${KEY} in (select k from walk where held)
      order by available_at, message_id limit ? for update skip locked`;
  }

  private nextDueParams(useCase: string, limit: number): unknown[] {
    return [useCase, limit * KEY_WINDOW, limit, useCase, limit];
  }

  private async attemptBatch(
    useCase: string,
    claim: () => Promise<InboxRow[]>,
    requested: readonly string[] | undefined,
  ): Promise<DeliveryOutcome[]> {
    const handlers = this.handlersOf(useCase);
    let claimed: InboxRow[] = [];
    let outcomes: Map<string, DeliveryOutcome>;
    const span = this.transactionSpan(useCase);
    try {
      outcomes = await this.db.run(async () => {
        claimed = await claim();
        const done = new Map<string, DeliveryOutcome>();
        if (claimed.length === 0) return done;
        return span.open(this.linksOf(claimed), async () => {
          for (const row of claimed) {
            if (row.status !== 'pending') done.set(row.message_id, 'duplicate');
            else if (!row.due) done.set(row.message_id, 'not-due');
            else {
              await this.handle(useCase, this.validate(row, handlers), handlers, row.attempts + 1);
              done.set(row.message_id, 'done');
            }
          }
          return done;
        });
      });
      span.end();
    } catch (error) {
      span.end(error);
      // The claim itself failed (e.g. PostgreSQL unreachable): nothing was claimed, nothing changed.
      if (claimed.length === 0) throw error;
      // Rolled back with the connection: not the deliveries' fault, and alone they would fail the same way.
      if (isConnectionLoss(error)) return this.interrupted(claimed, error, requested);
      if (isDeadlock(error)) await this.reportDeadlock(useCase, error);
      else this.logger.info({ useCase, deliveries: claimed.length, err: error }, 'a delivery of the batch failed; processing each alone');
      outcomes = new Map();
      for (const row of claimed) outcomes.set(row.message_id, await this.processOne({ useCase, messageId: row.message_id }));
    }
    return requested ? requested.map((id) => outcomes.get(id) ?? 'busy') : [...outcomes.values()];
  }

  /**
   * Claims a delivery and, when it is pending and due, marks it done in the same statement: one
   * round trip less per delivery. The mark is part of the transaction that runs the handler, so a
   * handler that fails (or a message that does not validate) rolls it back with the handler's
   * effect, and `recordFailure` then finds the delivery pending. `claimed` shows the row as it was.
   */
  private claimSql(claim: string): string {
    return `with claimed as (${claim}),
      done as (
        update ${this.inbox} i set status = 'done', attempts = i.attempts + 1, done_at = now(), updated_at = now(), last_error = null
        from claimed c where i.use_case = c.use_case and i.message_id = c.message_id and c.status = 'pending' and c.due
      )
      select * from claimed`;
  }

  private async attempt(useCase: string, unclaimed: DeliveryOutcome, claim: () => Promise<InboxRow[]>): Promise<DeliveryOutcome> {
    const handlers = this.handlersOf(useCase);
    let claimed: InboxRow | undefined;
    const span = this.transactionSpan(useCase);
    try {
      const outcome = await this.db.run(async (): Promise<DeliveryOutcome> => {
        const [row] = await claim();
        if (!row) return unclaimed;
        claimed = row;
        if (row.status !== 'pending') return 'duplicate';
        if (!row.due) return 'not-due';
        return span.open(this.linksOf([row]), async () => {
          await this.handle(useCase, this.validate(row, handlers), handlers, row.attempts + 1);
          return 'done' as const;
        });
      });
      span.end();
      return outcome;
    } catch (error) {
      span.end(error);
      if (!claimed) throw error;
      if (isConnectionLoss(error)) return (await this.interrupted([claimed], error, undefined))[0]!;
      if (isDeadlock(error)) await this.reportDeadlock(useCase, error);
      return this.recordFailure(claimed, error);
    }
  }

  /**
   * The transaction of these deliveries was lost with its connection (PostgreSQL restarted, failed
   * over, or ended the session): nothing of it was committed. Not an attempt of theirs: the
   * attempts and the backoff are left alone, so no outage, however often it strikes, dead-letters
   * a message. Their signal is cleared so that the sweeper's next pass carries them again; if
   * PostgreSQL is still away, that fails too and the original error goes up (the deliveries stay
   * pending, and the sweeper finds them once their signal is older than REDELIVERY_AFTER_MS).
   */
  private async interrupted(
    rows: readonly InboxRow[],
    error: unknown,
    requested: readonly string[] | undefined,
  ): Promise<DeliveryOutcome[]> {
    try {
      await this.db.exec(
        `update ${this.inbox} set signaled_at = null where use_case = ? and message_id = any(?::uuid[]) and status = 'pending'`,
        [rows[0]!.use_case, rows.map((r) => r.message_id)],
      );
    } catch {
      throw error;
    }
    this.logger.warn(
      { useCase: rows[0]!.use_case, deliveries: rows.length, err: error },
      'a delivery transaction lost its PostgreSQL connection; the deliveries are carried again, no attempt counted',
    );
    return (requested ?? rows.map((r) => r.message_id)).map(() => 'interrupted' as const);
  }

  /**
   * Delivery keys make the saga's own transactions deadlock-free (ADR 16): a deadlock means a
   * handler locks something its key does not cover, or another kind of transaction interferes.
   * Logged at error level with this side's statement and what the other processes were running
   * (PostgreSQL's server log has both statements too); pg_stat_database counts it.
   */
  private async reportDeadlock(useCase: string, error: unknown): Promise<void> {
    this.deadlocks += 1;
    const { detail, statement } = error as { detail?: string; statement?: string };
    const pids = [...(detail ?? '').matchAll(/process (\d+)/g)].map((m) => Number(m[1]));
    const others = await this.db
      .query<{ pid: number; application_name: string; query: string }>(
        'select pid, application_name, left(query, 1000) as query from pg_stat_activity where pid = any(?::int[])',
        [[...new Set(pids)]],
      )
      .catch(() => []);
    this.logger.error(
      { useCase, err: error, detail, statement, others, deadlocks: this.deadlocks },
      'deadlock in a delivery transaction; each delivery of it is retried alone',
    );
  }

  private handlersOf(useCase: string): Map<string, Subscription> {
    const handlers = this.byUseCase.get(useCase);
    if (!handlers) throw new Error(`${this.db.schema} has no use case ${useCase}`);
    return handlers;
  }

  /**
   * The span of one delivery transaction (one delivery or a batch), from its claim to its commit:
   * a trace of its own, since its deliveries may belong to as many sagas. It links to each
   * delivery's message, and each delivery's `process` span (in its saga's trace) links back to it.
   * A claim that finds nothing makes no span.
   */
  private transactionSpan(useCase: string): LateSpan {
    return new LateSpan(`deliver ${useCase}`, { 'saga.use_case': useCase, 'db.namespace': this.db.schema });
  }

  private linksOf(rows: readonly InboxRow[]): ReturnType<typeof linksTo> {
    return linksTo(rows.map((r) => (r.envelope as { traceparent?: string } | null)?.traceparent ?? ''));
  }

  private handle(useCase: string, message: Envelope, handlers: Map<string, Subscription>, attempt: number): Promise<void> {
    return withLogContext(
      {
        useCase,
        messageId: message.id,
        messageType: message.type,
        correlationId: message.correlationId,
        causationId: message.causationId,
        trace_id: message.traceparent.slice(3, 35),
      },
      () =>
        processSpan('saga-inbox', useCase, message, attempt, async () => {
          await handlers.get(message.type)!.handle(message);
          this.logger.debug('delivery done');
        }),
    );
  }

  private validate(row: InboxRow, handlers: Map<string, Subscription>): Envelope {
    // Brokers cap messages (SQS, EventBridge: 256 KiB); ours carry ids and amounts, so a bigger one is
    // a producer's bug, refused before any handler loads it.
    const size = Buffer.byteLength(JSON.stringify(row.envelope) ?? '');
    if (size > MAX_ENVELOPE_BYTES) {
      throw new PermanentFailure('MESSAGE_TOO_LARGE', `the message is ${size} bytes; at most ${MAX_ENVELOPE_BYTES} are accepted`);
    }
    const subscription = handlers.get(row.type);
    if (!subscription) {
      // Retried, not dead-lettered at once: during a rolling deploy (or a saga-style switch) another
      // process version may handle it; after the last attempt it is dead-lettered and can be re-driven.
      throw new DomainError('UNROUTABLE_MESSAGE', `use case ${row.use_case} does not handle ${row.type} in this process`);
    }
    const envelope = parseEnvelope(row.envelope);
    if (!envelope.ok) throw new PermanentFailure(envelope.error.code, envelope.error.message);
    const payload = subscription.message.parse(envelope.value.payload);
    if (!payload.ok) throw new PermanentFailure(payload.error.code, `${row.type}: ${payload.error.message}`);
    return { ...envelope.value, payload: payload.value };
  }

  private async recordFailure(row: InboxRow, error: unknown): Promise<DeliveryOutcome> {
    // A message the domain refuses as invalid (e.g. a non-positive amount) will never succeed: dead-letter it now.
    const permanent = error instanceof PermanentFailure || (error instanceof DomainError && error.kind === 'validation');
    const attempts = row.attempts + 1;
    const dead = permanent || attempts >= this.options.maxAttempts;
    const code = error instanceof PermanentFailure || error instanceof DomainError ? error.code : 'HANDLER_FAILED';
    const reason = error instanceof Error ? error.message : String(error);
    const delay = backoffMs(attempts, this.options.retryBaseMs, this.options.retryMaxMs);
    // Failures are logged outside the handler's log context: name the saga here.
    const context = {
      useCase: row.use_case,
      messageId: row.message_id,
      messageType: row.type,
      correlationId: row.correlation_id,
      causationId: row.causation_id,
      attempts,
      code,
    };
    await this.db.exec(
      `update ${this.inbox} set attempts = ?, status = ?, error_code = ?, last_error = ?,
         available_at = now() + (? * interval '1 millisecond'), signaled_at = null, updated_at = now()
       where use_case = ? and message_id = ? and status = 'pending'`,
      [attempts, dead ? 'dead' : 'pending', code, reason.slice(0, 4000), dead ? 0 : delay, row.use_case, row.message_id],
    );
    if (dead)
      this.logger.error(
        { ...context, err: error },
        permanent ? 'invalid message dead-lettered' : 'delivery dead-lettered after its last attempt',
      );
    else this.logger.warn({ ...context, retryInMs: delay, err: error }, 'delivery failed; retry scheduled');
    return dead ? 'dead' : 'retry';
  }
}
