import { AsyncLocalStorage } from 'node:async_hooks';
import type { Envelope, EventBusPort, TransactionPort } from '../../../src/shared/kernel/index.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';

/** A fake table's state: saved when a transaction starts, put back when it fails. */
export interface TransactionParticipant {
  snapshot(): unknown;
  restore(snapshot: unknown): void;
}

interface OpenTransaction {
  readonly outbox: Envelope[];
  readonly beforeCommit: Array<() => void>;
}

/** PostgreSQL's unique_violation, as the driver reports it. */
export class UniqueViolation extends Error {
  readonly code = '23505';

  constructor(table: string, key: string) {
    super(`duplicate key value violates unique constraint "${table}_pkey" (${key})`);
    this.name = 'UniqueViolation';
  }
}

/** PostgreSQL's check_violation: a row a table's CHECK constraint refuses, as the driver reports it. */
export class CheckViolation extends Error {
  readonly code = '23514';

  constructor(table: string, constraint: string) {
    super(`new row for relation "${table}" violates check constraint "${constraint}"`);
    this.name = 'CheckViolation';
  }
}

/**
 * The TransactionPort of one module's schema, in memory. Like ModuleDatabase: a nested `run`
 * joins the transaction in progress; work that throws leaves no trace (every registered table
 * is put back as it was, and the messages it published are dropped); messages published inside
 * a transaction reach `messages` only after commit, and publishing outside one is refused.
 * Transactions run one at a time, as if every one locked what it reads.
 */
export class InMemoryDatabase implements TransactionPort {
  /** The port handlers publish through: the module's outbox. */
  readonly eventBus: EventBusPort;
  private readonly participants: TransactionParticipant[] = [];
  private readonly current = new AsyncLocalStorage<OpenTransaction>();
  private queue: Promise<void> = Promise.resolve();
  private committed = 0;
  private rolledBack = 0;

  constructor(readonly messages: InMemoryEventBus = new InMemoryEventBus()) {
    this.eventBus = {
      publish: async (batch) => {
        const tx = this.current.getStore();
        if (!tx) throw new Error('EventBusPort.publish must run inside a transaction (TransactionPort.run)');
        tx.outbox.push(...batch);
      },
    };
  }

  get commits(): number {
    return this.committed;
  }

  get rollbacks(): number {
    return this.rolledBack;
  }

  register(participant: TransactionParticipant): void {
    this.participants.push(participant);
  }

  inTransaction(): boolean {
    return this.current.getStore() !== undefined;
  }

  /** What MikroORM says when a pessimistic lock is asked for outside a transaction. */
  assertInTransaction(operation: string): void {
    if (!this.inTransaction()) throw new Error(`${operation}: an open transaction is required for this operation`);
  }

  /**
   * Like `ModuleDatabase.transactionBuffer`: in a transaction, `write` runs after the work, just
   * before the commit (the transaction cannot read what it wrote, and a write that throws rolls
   * everything back); outside one, at once.
   */
  beforeCommit(write: () => void): void {
    const tx = this.current.getStore();
    if (tx) tx.beforeCommit.push(write);
    else write();
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.inTransaction()) return work();
    return this.exclusive(async () => {
      const tx: OpenTransaction = { outbox: [], beforeCommit: [] };
      const snapshots = this.participants.map((p) => p.snapshot());
      let result: T;
      try {
        result = await this.current.run(tx, async () => {
          const value = await work();
          for (const write of tx.beforeCommit.splice(0)) write();
          return value;
        });
      } catch (error) {
        this.participants.forEach((p, i) => p.restore(snapshots[i]));
        this.rolledBack += 1;
        throw error;
      }
      this.committed += 1;
      // Outside the transaction's context: subscribers must not find themselves inside it.
      await this.messages.publish(tx.outbox);
      return result;
    });
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }
}

/**
 * A fake table keyed by K, whose rows are immutable values (a snapshot is a copy of the map).
 * `failNext` makes the next call of an operation throw, to prove that a use case leaves
 * nothing half-written when a later step fails.
 */
export abstract class InMemoryTable<K, R> implements TransactionParticipant {
  protected rows = new Map<K, R>();
  private readonly faults = new Map<string, unknown>();

  protected constructor(protected readonly db: InMemoryDatabase) {
    db.register(this);
  }

  get size(): number {
    return this.rows.size;
  }

  snapshot(): unknown {
    return new Map(this.rows);
  }

  restore(snapshot: unknown): void {
    this.rows = new Map(snapshot as Map<K, R>);
  }

  failNext(operation: Extract<keyof this, string>, error: unknown = new Error(`${operation} failed (injected)`)): void {
    this.faults.set(operation, error);
  }

  protected async fault(operation: string): Promise<void> {
    if (!this.faults.has(operation)) return;
    const error = this.faults.get(operation);
    this.faults.delete(operation);
    throw error;
  }
}
