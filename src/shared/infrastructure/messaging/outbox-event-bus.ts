import type { Envelope, EventBusPort } from '../../kernel/index.js';
import { currentLogContext } from '../logging/logger.js';
import { stampSend } from '../observability/tracing.js';
import type { ModuleDatabase } from '../persistence/module-database.js';
import { quoteIdent } from '../persistence/sql-identifier.js';

interface OutboxRow {
  readonly id: string;
  readonly type: string;
  readonly correlation_id: string;
  readonly causation_id: string | null;
  readonly traceparent: string;
  readonly occurred_at: string;
  readonly payload: unknown;
  readonly produced_by: string;
}

/**
 * Commits that wrote outbox rows, by producer database. The event bus reports them; the relay
 * subscribes when it is built. Neither needs the other to exist first.
 */
export class OutboxCommits {
  private readonly listeners: Array<(producer: ModuleDatabase) => void> = [];

  subscribe(listener: (producer: ModuleDatabase) => void): void {
    this.listeners.push(listener);
  }

  committed(producer: ModuleDatabase): void {
    for (const listener of this.listeners) listener(producer);
  }
}

/** What a module declares it writes (its contract's `publishes`): the outbox writes nothing else. */
export interface Publications {
  readonly module: string;
  readonly types: ReadonlySet<string>;
}

/** A module published a message type its contract does not declare: a programming error, refused before anything is written. */
export class UndeclaredPublicationError extends Error {
  readonly code = 'UNDECLARED_PUBLICATION';

  constructor(module: string, type: string) {
    super(
      `module ${module} may not publish ${type}: its contract does not declare it (add it to its inbox's \`publishes\`, ` +
        'which the routing, the ECS launch permissions and this check follow)',
    );
    this.name = 'UndeclaredPublicationError';
  }
}

/**
 * The event-bus port as the write side of the transactional outbox: messages become rows in
 * the module's own schema, in the caller's transaction, if the module declares their type. The rows of one transaction are written
 * in one statement just before it commits (a transaction that handles several deliveries
 * publishes once per delivery). After commit the relay hears of it (OutboxCommits) and fans them out; if the process
 * dies first, the relay's poll finds them.
 */
export class OutboxEventBus implements EventBusPort {
  private readonly insertSql: string;
  private readonly onCommitted: () => void;

  constructor(
    private readonly db: ModuleDatabase,
    private readonly defaultProducer: string,
    commits: OutboxCommits,
    private readonly publications: Publications,
  ) {
    this.onCommitted = () => commits.committed(db);
    this.insertSql = `insert into ${quoteIdent(db.schema)}.outbox
      (id, type, correlation_id, causation_id, traceparent, occurred_at, payload, produced_by)
      select r.id, r.type, r.correlation_id, r.causation_id, r.traceparent, r.occurred_at, r.payload, r.produced_by
      from json_to_recordset(?::json) as r(id uuid, type text, correlation_id uuid, causation_id uuid,
        traceparent text, occurred_at timestamptz, payload jsonb, produced_by text)`;
  }

  async publish(messages: readonly Envelope[]): Promise<void> {
    if (messages.length === 0) return;
    for (const message of messages) {
      if (!this.publications.types.has(message.type)) throw new UndeclaredPublicationError(this.publications.module, message.type);
    }
    if (!this.db.inTransaction()) {
      // Publishing outside a transaction could emit a message for a change that never commits.
      throw new Error('EventBusPort.publish must run inside a transaction (TransactionPort.run)');
    }
    const producedBy = currentLogContext()?.useCase ?? this.defaultProducer;
    // With tracing on, each message carries the context of the span writing it.
    const rows = messages.map((message): OutboxRow => {
      const m = stampSend(message, 'saga-outbox');
      return {
        id: m.id,
        type: m.type,
        correlation_id: m.correlationId,
        causation_id: m.causationId,
        traceparent: m.traceparent,
        occurred_at: m.occurredAt,
        payload: m.payload,
        produced_by: producedBy,
      };
    });
    const pending = this.db.transactionBuffer<OutboxRow[]>(
      this,
      () => {
        this.db.afterCommit(this.onCommitted);
        return [];
      },
      (buffered) => (buffered.length > 0 ? { sql: this.insertSql, params: [JSON.stringify(buffered)] } : null),
    );
    pending.push(...rows);
  }
}
